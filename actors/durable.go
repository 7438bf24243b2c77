package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/failpoint"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Durable keeps the actor's state in JetStream (the jetray_state KV bucket, key a.<actor id>)
// so that a restarted or handed-over actor resumes with it instead of running its constructor
// again (Ray re-runs the constructor; Dapr and Orleans keep state). After each call the host
// writes a snapshot of the object, and only then stores the call's result and acks it; every
// write is a compare-and-swap on the revision the instance last wrote, so an instance that
// lost the actor to a newer one fails its write and ends without answering (docs/architecture.md,
// "Durable actor state", says what a caller can observe after a crash).
//
// The state is the JSON of the object (its exported fields), or, if *A implements
// StateCodec, what MarshalState returns. A restored object is new(A) filled from the snapshot;
// if *A implements Resumer, Resumed is then called (reopen connections there). The snapshot
// also keeps the IDs of the last wire.StateCalls (64) calls it includes and the answer of the
// last one, so a call delivered again after its snapshot was written is answered from it and
// not applied twice.
//
// Default: off. On Define or per instance with Options. For plain actors only (max_concurrency
// 1, Prefetch allowed, no ConcurrencyGroups), and for types whose state the codec sees: a
// struct with fields but none exported needs StateCodec. Otherwise Remote returns a handle
// whose Ready fails with ErrBadOption (nothing recorded), and Register fails for a class
// defined so. Restarts still follow MaxRestarts (with 0, a crash or a graceful stop kills the
// actor and deletes its state); Kill deletes it, Kill with AllowRestart keeps it. Costs one
// KV write per call; a snapshot that would not fit in a message fails the call with
// ErrStateTooLarge and puts the object back to the last stored state.
func Durable() ClassOption { return func(c *classConfig) { c.durable = true } }

// StateCodec is implemented by an actor type (*A) whose durable state is not the JSON of its
// exported fields. MarshalState runs after each call, one call at a time; UnmarshalState runs
// on new(A) when the actor is restored. An error from either fails the call (MarshalState: the
// call is not applied) or the restore (the actor is FAILED, its snapshot kept).
type StateCodec interface {
	MarshalState() ([]byte, error)
	UnmarshalState(data []byte) error
}

// Resumer is implemented by an actor type (*A) that needs work after its state is restored
// from a snapshot, where its constructor did not run: reopen connections, restart timers.
// Resumed runs before the restored actor takes any call, and on the object put back after a
// call whose state could not be stored; an error on a restore fails the actor (FAILED, its
// snapshot kept), one on a put-back drops the instance (the next placement restores it).
type Resumer interface {
	Resumed(ctx context.Context) error
}

// stateAnswerMax is the largest answer (encoded output or failure) a snapshot keeps for its
// last call; a bigger one is replaced by a failure of kind KindDied saying so.
const stateAnswerMax = 64 << 10

// stateHeadroom is what a snapshot's value leaves of the broker's max payload for its header
// line and the publish's own headers.
const stateHeadroom = 4 << 10

// durable is the state chain of one durable instance: the revision it last wrote and what it
// wrote. Only the instance's serial lane uses it, one call at a time; mu covers the rest.
type durable struct {
	kv  jetstream.KeyValue
	key string
	max int // largest snapshot value

	// save encodes the current object; reload replaces it with one decoded from a state.
	save   func() ([]byte, error)
	reload func(ctx context.Context, state []byte) error

	mu    sync.Mutex
	rev   uint64            // the revision this instance last wrote (or claimed)
	calls []string          // the IDs of the calls the state includes, oldest first
	last  *wire.StateAnswer // the last one's answer
	state []byte            // the state last written, to go back to when a write fails
}

// answered returns the stored answer of callID if the last snapshot includes the call: found
// is false if it does not; answer nil means the call was included but is not the last one
// (its result was stored before the next call ran).
func (d *durable) answered(callID string) (answer *wire.StateAnswer, found bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last != nil && d.last.ID == callID {
		return d.last, true
	}
	return nil, slices.Contains(d.calls, callID)
}

// replay returns a stored answer as the handler's result: the worker stores it as the call's
// result (first writer wins) and acks the call.
func replay(a *wire.StateAnswer) ([]byte, error) {
	if !a.Failed {
		return a.Data, nil
	}
	var te framework.TaskError
	if err := json.Unmarshal(a.Data, &te); err != nil {
		return nil, fmt.Errorf("stored answer of call %s: %w", a.ID, err)
	}
	return nil, framework.NewCallError(te.Kind, &storedFailure{te: &te})
}

// storedFailure is a call's failure replayed from a snapshot: the same message, kind, code
// and detail.
type storedFailure struct{ te *framework.TaskError }

func (e *storedFailure) Error() string { return e.te.Message }
func (e *storedFailure) Unwrap() error { return e.te }

// checkStateType refuses a durable actor type whose state would be lost: a struct with fields
// but none exported (its JSON is "{}"), unless *A implements StateCodec.
func checkStateType[A any]() error {
	if _, ok := any(new(A)).(StateCodec); ok {
		return nil
	}
	t := reflect.TypeFor[A]()
	if t.Kind() != reflect.Struct || t.NumField() == 0 {
		return nil
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.Anonymous || f.IsExported() && f.Tag.Get("json") != "-" {
			return nil
		}
	}
	return fmt.Errorf("%w: Durable: %s has no exported fields, so its JSON state would be empty and a restore would lose it; "+
		"export the fields that hold its state or implement actors.StateCodec on *%s", ErrBadOption, t, t.Name())
}

// objRef holds a durable instance's object: a write that fails puts a restored one in its place.
type objRef[A any] struct{ p atomic.Pointer[A] }

// encodeState returns obj's state: MarshalState's, or its JSON.
func encodeState[A any](obj *A) (state []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic encoding state: %v\n%s", r, debug.Stack())
		}
	}()
	if sc, ok := any(obj).(StateCodec); ok {
		return sc.MarshalState()
	}
	return json.Marshal(obj)
}

// restoreState decodes state into a new object and runs its Resumed hook.
func restoreState[A any](ctx context.Context, state []byte) (obj *A, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic restoring state: %v\n%s", r, debug.Stack())
		}
	}()
	obj = new(A)
	if sc, ok := any(obj).(StateCodec); ok {
		err = sc.UnmarshalState(state)
	} else {
		err = json.Unmarshal(state, obj)
	}
	if err != nil {
		return nil, fmt.Errorf("decode state into %T: %w", obj, err)
	}
	if r, ok := any(obj).(Resumer); ok {
		if err := r.Resumed(ctx); err != nil {
			return nil, fmt.Errorf("Resumed: %w", err)
		}
	}
	return obj, nil
}

// errRestore marks a snapshot that exists but cannot be restored (or whose Resumed hook
// failed): the actor fails, its snapshot is kept.
type errRestore struct{ err error }

func (e *errRestore) Error() string { return "jetray: restore durable actor state: " + e.err.Error() }
func (e *errRestore) Unwrap() error { return e.err }

// errBuild marks a constructor (or constructor input) failure, reported as without Durable,
// or a constructed state that cannot be stored.
type errBuild struct{ err error }

func (e *errBuild) Error() string { return e.err.Error() }
func (e *errBuild) Unwrap() error { return e.err }

// openDurable gives placement epoch of durable actor id its object: restored from the actor's
// snapshot if there is one (the constructor does not run), then claimed by a write of the same
// state under epoch on the revision just read, so the next write of any older instance fails;
// otherwise built by build and stored as the first snapshot (create only). A snapshot of a
// later epoch means a newer placement owns the actor: errNotOwner. Errors: *errBuild (the
// constructor's, or a state too large or not encodable), *errRestore, or a broker error.
func openDurable[A any](ctx context.Context, c *framework.Client, id string, epoch uint64, build func() (*A, error)) (*objRef[A], *durable, error) {
	kv, err := stateBucket(c, ctx)
	if err != nil {
		return nil, nil, err
	}
	ref := &objRef[A]{}
	d := &durable{kv: kv, key: wire.ActorStateKey(id), max: int(c.Conn().MaxPayload()) - stateHeadroom}
	d.save = func() ([]byte, error) { return encodeState(ref.p.Load()) }
	d.reload = func(ctx context.Context, state []byte) error {
		obj, err := restoreState[A](ctx, state)
		if err != nil {
			return err
		}
		ref.p.Store(obj)
		return nil
	}
	var built *A
	for {
		// From the stream's leader: a lagging replica's older snapshot would only fail the
		// claim below, but its "not found" would run the constructor for nothing.
		val, rev, found, err := leaderGet(ctx, c.Conn(), kv, d.key)
		if err != nil {
			return nil, nil, fmt.Errorf("jetray: read durable state: %w", err)
		}
		if !found {
			if built == nil {
				if built, err = build(); err != nil {
					return nil, nil, &errBuild{err}
				}
			}
			state, err := encodeState(built)
			if err != nil {
				return nil, nil, &errBuild{framework.NewCallError(framework.KindEncode, fmt.Errorf("encode durable state of %T: %w", built, err))}
			}
			val := wire.EncodeState(wire.StateHeader{Epoch: epoch}, state)
			if len(val) > d.max {
				return nil, nil, &errBuild{fmt.Errorf("%w: %d bytes after construction, at most %d", ErrStateTooLarge, len(val), d.max)}
			}
			rev, err := kv.Create(ctx, d.key, val)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // an instance of an earlier placement wrote it meanwhile: restore that
			}
			if err != nil {
				return nil, nil, fmt.Errorf("jetray: store durable state: %w", err)
			}
			ref.p.Store(built)
			d.rev, d.state = rev, state
			return ref, d, nil
		}
		hdr, state, err := wire.DecodeState(val)
		if err != nil {
			return nil, nil, &errRestore{err}
		}
		if hdr.Epoch > epoch {
			return nil, nil, errNotOwner // a newer placement has claimed it
		}
		hdr.Epoch = epoch
		rev, err = kv.Update(ctx, d.key, wire.EncodeState(hdr, state), rev)
		if err != nil && isConflict(err) {
			continue // written meanwhile by the instance this one replaces: take the newer one
		}
		if err != nil {
			return nil, nil, fmt.Errorf("jetray: claim durable state: %w", err)
		}
		d.rev, d.calls, d.last, d.state = rev, hdr.Calls, hdr.Last, slices.Clone(state)
		if err := d.reload(ctx, d.state); err != nil {
			return nil, nil, &errRestore{err}
		}
		return ref, d, nil
	}
}

// bindRef returns the class's methods as handlers on the object ref holds at each call.
func (m *methodSet[A]) bindRef(ref *objRef[A]) map[string]framework.Handler {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]framework.Handler, len(m.m))
	for name, inv := range m.m {
		out[name] = func(ctx context.Context, call *framework.Call) ([]byte, error) { return inv(ref.p.Load(), ctx, call) }
	}
	return out
}

// stateWriteWait bounds the write of one snapshot (each try); a write that timed out is read
// back before anything else is decided.
const stateWriteWait = 10 * time.Second

// commit writes the snapshot of inst after call callID ran with answer (out, callErr), on the
// revision the instance last wrote, before the answer is released. It returns what the call
// answers: its own answer once the snapshot is stored; ErrStateTooLarge (or an encoding
// error) if the state cannot be stored, the object put back to the last stored state (the
// call is not applied); errNotOwner if a newer instance wrote the snapshot (this instance is
// dropped and answers nothing), or if the write failed otherwise (the object is put back and
// the call left to its redelivery).
func (h *host) commit(ctx context.Context, inst *instance, callID string, out []byte, callErr error) ([]byte, error) {
	d := inst.durable
	d.mu.Lock()
	defer d.mu.Unlock()
	inst.mu.Lock()
	epoch := inst.epoch
	inst.mu.Unlock()
	ans := &wire.StateAnswer{ID: callID, Data: out}
	if callErr != nil {
		data, _ := json.Marshal(failureOf(callErr))
		ans = &wire.StateAnswer{ID: callID, Failed: true, Data: data}
	}
	if len(ans.Data) > stateAnswerMax {
		// Not kept: a redelivery after a crash that lost the result gets this failure instead
		// (the call's effects are in the state; it is not run again).
		data, _ := json.Marshal(&framework.TaskError{Kind: KindDied, Message: fmt.Sprintf(
			"%v: %s (%s): the call was applied, but its worker was lost before its result (%d bytes, too big to keep with the state) was stored",
			ErrDied, inst.class, inst.id, len(ans.Data))})
		ans = &wire.StateAnswer{ID: callID, Failed: true, Data: data}
	}
	state, err := d.save()
	if err != nil {
		return h.rollback(ctx, inst, framework.NewCallError(framework.KindEncode,
			fmt.Errorf("encode durable state of %s (%s): %w; the call was not applied", inst.class, inst.id, err)))
	}
	calls := append(slices.Clone(d.calls), callID)
	if len(calls) > wire.StateCalls {
		calls = calls[len(calls)-wire.StateCalls:]
	}
	val := wire.EncodeState(wire.StateHeader{Epoch: epoch, Calls: calls, Last: ans}, state)
	if len(val) > d.max {
		return h.rollback(ctx, inst, fmt.Errorf("%w: %s (%s): %d bytes, at most %d; the call was not applied",
			ErrStateTooLarge, inst.class, inst.id, len(val), d.max))
	}
	failpoint.Hit("actors.before-snapshot") // tests stop the process here: the call ran, nothing written
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateWriteWait)
	rev, err := d.kv.Update(wctx, d.key, val, d.rev)
	cancel()
	if err != nil {
		// Read back, from the leader: a write that timed out may have landed. Only this
		// instance writes under its epoch, so a snapshot of its epoch naming this call last is
		// its own.
		val, vrev, found, gerr := h.readState(ctx, inst, d)
		switch {
		case gerr != nil:
			h.drop(inst, "durable state unreadable after a failed write: "+err.Error())
			return nil, errNotOwner
		case found && vrev == d.rev:
			h.log.Warn().Err(err).Str("actor_id", inst.id).Msg("durable state write failed; call left to its redelivery")
			return h.rollback(ctx, inst, errNotOwner)
		case found && ownWrite(val, epoch, callID):
			rev = vrev
		default:
			h.drop(inst, "durable state written by a newer instance")
			return nil, errNotOwner
		}
	}
	d.rev, d.calls, d.last, d.state = rev, calls, ans, state
	return out, callErr
}

// ownWrite reports whether snapshot value v was written under epoch with callID its last call.
func ownWrite(v []byte, epoch uint64, callID string) bool {
	hdr, _, err := wire.DecodeState(v)
	return err == nil && hdr.Epoch == epoch && hdr.Last != nil && hdr.Last.ID == callID
}

// stateReadBack bounds the reads of a snapshot after a failed write (or two lease periods,
// if longer): a host cut off from the broker keeps trying until its link is back.
const stateReadBack = 30 * time.Second

// readState reads d's snapshot from the bucket's stream leader (found false if it is gone),
// retrying for up to stateReadBack while the instance lives here.
func (h *host) readState(ctx context.Context, inst *instance, d *durable) (val []byte, rev uint64, found bool, err error) {
	deadline := time.Now().Add(max(stateReadBack, 2*h.lease.TTL()))
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, time.Second) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateWriteWait)
		val, rev, found, err = leaderGet(rctx, h.w.Client().Conn(), d.kv, d.key)
		cancel()
		if err == nil || time.Now().After(deadline) || inst.dead.Load() {
			return val, rev, found, err
		}
		select {
		case <-time.After(delay):
		case <-inst.ctx.Done():
		}
	}
}

// rollback puts back the object of the last stored state and returns answer; if that fails
// the instance is dropped and the call left to whoever serves the actor next.
func (h *host) rollback(ctx context.Context, inst *instance, answer error) ([]byte, error) {
	d := inst.durable
	if err := d.reload(context.WithoutCancel(ctx), d.state); err != nil {
		h.drop(inst, "durable state could not be put back: "+err.Error())
		return nil, errNotOwner
	}
	return nil, answer
}

// dropState deletes the snapshot of actor id if its record is DEAD (killed, exited, or its
// worker died or stopped without restarts left). A FAILED durable actor keeps its snapshot:
// it failed because the snapshot could not be restored.
func dropState(ctx context.Context, c *framework.Client, id string) error {
	s, err := storeOf(ctx, c)
	if err != nil {
		return err
	}
	rec, _, err := s.get(ctx, id)
	if err != nil || rec == nil || !rec.Durable || rec.State != StateDead {
		return err
	}
	kv, err := stateBucket(c, ctx)
	if err != nil {
		return err
	}
	return kv.Purge(ctx, wire.ActorStateKey(id))
}

// durableOpenFailed handles an openDurable error of the creation call that claimed the record
// (lease, epoch) and returns what the call answers: a build or restore failure fails the actor
// (its snapshot, if any, is kept: FAILED actors keep theirs); a broker timeout gives the claim
// back and leaves the creation call to its redelivery.
func (h *host) durableOpenFailed(ctx context.Context, s *store, id, lease string, epoch uint64, err error) error {
	var be *errBuild
	var re *errRestore
	switch {
	case errors.Is(err, errNotOwner):
		return errNotOwner
	case errors.As(err, &be):
		h.markFailed(ctx, s, id, lease, epoch, be.err)
		return be.err
	case errors.As(err, &re) || !isTimeout(err):
		h.markFailed(ctx, s, id, lease, epoch, err)
		return err
	}
	h.log.Warn().Err(err).Str("actor_id", id).Msg("durable state not reachable; creation left to its redelivery")
	h.unclaim(ctx, s, id, lease, epoch)
	return errNotOwner
}

// isTimeout reports a broker request that timed out (it may succeed if tried again).
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)
}
