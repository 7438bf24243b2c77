package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Class is an actor class: a constructor with a stable wire name and the methods defined on
// it with Method. It is a framework.Definition: worker.Register(class) serves it.
type Class[A, In any] struct {
	name    string
	ctor    func(context.Context, In) (*A, error)
	cfg     classConfig
	methods *methodSet[A] // shared by every Options copy
}

type invoker[A any] func(obj *A, ctx context.Context, call *framework.Call) ([]byte, error)

type methodSet[A any] struct {
	mu sync.RWMutex
	m  map[string]invoker[A]
}

// Define defines an actor class named name (see framework.ValidName) built by ctor. An invalid
// name is reported by Register and by Remote.
func Define[A, In any](name string, ctor func(context.Context, In) (*A, error), opts ...ClassOption) *Class[A, In] {
	c := &Class[A, In]{name: name, ctor: ctor, methods: &methodSet[A]{m: map[string]invoker[A]{}}}
	for _, o := range opts {
		o(&c.cfg)
	}
	return c
}

// Name returns the class's wire name.
func (c *Class[A, In]) Name() string { return c.name }

// Options returns a copy of c with opts applied, for one instance or a family of them:
// AsyncActor.Options(actors.MaxConcurrency(10)).Remote(ctx, client, in).
func (c *Class[A, In]) Options(opts ...ClassOption) *Class[A, In] {
	cp := *c
	for _, o := range opts {
		o(&cp.cfg)
	}
	return &cp
}

// Remote creates an actor and returns its handle at once; calls may be sent on the handle
// before the actor is placed. Failures (unknown class, name taken, a constructor error) are
// reported by Handle.Ready and fail every call. ctx bounds the submission only. The actor is
// owned, and dies soon after its owner is gone, unless it is Detached (see Detached for who
// the owner is).
func (c *Class[A, In]) Remote(ctx context.Context, cl *framework.Client, in In) *Handle[A] {
	id := cl.NewID()
	h := &Handle[A]{id: id, class: c.name, maxConc: c.cfg.concurrency(), groups: c.cfg.groups, client: cl,
		maxTaskRetries: c.cfg.maxTaskRetries, maxPending: c.cfg.maxPending, pending: new(atomic.Int64)}
	fail := func(err error) *Handle[A] {
		h.ready = futures.Failed[struct{}](id, err)
		return h
	}
	if err := framework.ValidName(c.name); err != nil {
		return fail(err)
	}
	if err := c.cfg.check(); err != nil {
		return fail(err)
	}
	if c.cfg.durable {
		if err := checkStateType[A](); err != nil {
			return fail(err)
		}
	}
	s, err := storeOf(ctx, cl)
	if err != nil {
		return fail(err)
	}
	input, err := cl.Codec().Marshal(in)
	if err != nil {
		return fail(fmt.Errorf("jetray: encode constructor input of %s: %w", c.name, err))
	}
	rec := Record{ID: id, Class: c.name, Name: c.cfg.name, State: StatePending, MaxConcurrency: h.maxConc,
		MaxRestarts: c.cfg.maxRestarts, MaxTaskRetries: c.cfg.maxTaskRetries, Created: time.Now().UTC(),
		Labels: c.cfg.labels, Resources: c.cfg.resources, Groups: c.cfg.groups, Durable: c.cfg.durable}
	if c.cfg.prefetch > 1 {
		rec.Prefetch = c.cfg.prefetch
	}
	if !c.cfg.detached {
		rec.Owner = ownerOf(ctx, cl)
		if rec.Owner == cl.ID() {
			waitLive(cl, ctx) // a host must not judge the creator before its key exists
		}
	}
	if len(input) <= 64<<10 {
		rec.Input = input // kept for restarts; a bigger input makes the actor not restartable
	}
	rec.Updated = rec.Created
	val, _ := json.Marshal(rec)
	if _, err := s.kv.Create(ctx, recordKey(id), val); err != nil {
		return fail(fmt.Errorf("jetray: record actor: %w", err))
	}
	if c.cfg.name != "" {
		existing, err := claimName(ctx, s, c.cfg.name, id)
		if err != nil || existing != "" {
			_ = s.kv.Delete(context.WithoutCancel(ctx), recordKey(id))
		}
		if err != nil {
			return fail(err)
		}
		if existing != "" {
			if !c.cfg.getIfExists {
				return fail(fmt.Errorf("%w: %q", ErrNameTaken, c.cfg.name))
			}
			other, _, err := s.get(ctx, existing)
			if err != nil || other == nil {
				return fail(fmt.Errorf("jetray: get actor %q: %v", c.cfg.name, err))
			}
			return &Handle[A]{id: existing, class: other.Class, maxConc: other.MaxConcurrency, groups: other.Groups, client: cl,
				maxTaskRetries: other.MaxTaskRetries, maxPending: c.cfg.maxPending, pending: new(atomic.Int64)}
		}
	}
	hdr := nats.Header{
		wire.HeaderActor:          []string{id},
		wire.HeaderMaxConcurrency: []string{strconv.Itoa(h.maxConc)},
	}
	if c.cfg.name != "" {
		hdr[wire.HeaderActorName] = []string{c.cfg.name}
	}
	h.ready = framework.Submit[struct{}](ctx, cl, framework.Request{Name: wire.ActorCreationName(c.name), ID: id, Header: hdr,
		Options: placementOptions(c.cfg.labels, c.cfg.resources)}, in)
	if err := h.ready.Err(); err != nil {
		// Not submitted (unknown class, encoding error): nothing will ever place it.
		dctx := context.WithoutCancel(ctx)
		_, _ = s.update(dctx, id, func(r *Record) bool {
			r.State, r.Error = StateFailed, err.Error()
			return true
		})
		if c.cfg.name != "" {
			if held, rev, ok, gerr := s.holder(dctx, c.cfg.name); gerr == nil && ok && held == id {
				_ = s.kv.Delete(dctx, nameKey(c.cfg.name), jetstream.LastRevision(rev))
			}
		}
	}
	return h
}

// claimName atomically binds name to id. It returns the ID of the live actor holding the name
// instead, if there is one. A name held by a dead actor is taken over.
func claimName(ctx context.Context, s *store, name, id string) (string, error) {
	if err := framework.ValidName(name); err != nil {
		return "", err
	}
	for {
		_, err := s.kv.Create(ctx, nameKey(name), []byte(id))
		if err == nil {
			return "", nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("jetray: claim actor name %q: %w", name, err)
		}
		holder, rev, found, err := s.holder(ctx, name)
		if err != nil {
			return "", err
		}
		if !found {
			continue // freed meanwhile
		}
		rec, _, err := s.get(ctx, holder)
		if err != nil {
			return "", err
		}
		if rec != nil && !rec.terminal() {
			return holder, nil
		}
		if _, err := s.kv.Update(ctx, nameKey(name), []byte(id), rev); err == nil {
			return "", nil
		}
	}
}

// Bind registers the class's constructor and methods on w (framework.Definition).
func (c *Class[A, In]) Bind(w *framework.Worker) error {
	if err := framework.ValidName(c.name); err != nil {
		return err
	}
	if c.cfg.durable {
		if err := c.cfg.check(); err != nil {
			return fmt.Errorf("actor class %s: %w", c.name, err)
		}
		if err := checkStateType[A](); err != nil {
			return fmt.Errorf("actor class %s: %w", c.name, err)
		}
	}
	h := hostOf(w)
	return handle(w, wire.ActorCreationName(c.name), wire.RegistryKindActor, func(ctx context.Context, call *framework.Call) ([]byte, error) {
		return c.create(ctx, h, call)
	})
}

// recordLagTries bounds the re-reads of a record a creation call finds missing (50 ms, 100
// ms, ... apart: 2.75 s in all) before the creation fails.
const recordLagTries = 10

// create runs on the worker that took the creation call. It claims the actor by a
// compare-and-swap on its record before the constructor runs (the record then names this
// worker's lease and the new epoch), so a creation call delivered twice, here or on another
// worker, never constructs a second instance.
func (c *Class[A, In]) create(ctx context.Context, h *host, call *framework.Call) ([]byte, error) {
	id := call.Header.Get(wire.HeaderActor) // the creator's call ID, or a restarter's
	if id == "" {
		return nil, framework.NewCallError(framework.KindBadCall, fmt.Errorf("creation call %s without %s", call.ID, wire.HeaderActor))
	}
	maxConc, err := strconv.Atoi(call.Header.Get(wire.HeaderMaxConcurrency))
	if err != nil || maxConc < 1 {
		return nil, framework.NewCallError(framework.KindBadCall, fmt.Errorf("bad max concurrency %q", call.Header.Get(wire.HeaderMaxConcurrency)))
	}
	var callEpoch uint64
	if v := call.Header.Get(wire.HeaderActorEpoch); v != "" {
		if callEpoch, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, framework.NewCallError(framework.KindBadCall, fmt.Errorf("bad actor epoch %q", v))
		}
	}
	lease, ok := h.waitLease(ctx)
	if !ok {
		return nil, errNotOwner // no lease yet: leave the call to the broker
	}
	s, err := storeOf(ctx, h.w.Client())
	if err != nil {
		return nil, err
	}
	var rec *Record
	missing := 0
	for {
		var rev uint64
		rec, rev, err = s.get(ctx, id)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			// The creator writes the record before it sends this call, and records are read
			// from the stream leader (leaderget.go); a leader elected meanwhile may still be
			// applying that write.
			if missing++; missing <= recordLagTries {
				select {
				case <-time.After(time.Duration(missing) * 50 * time.Millisecond):
					continue
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return nil, framework.NewCallError(KindDied, fmt.Errorf("%w: actor %s has no record", ErrActorDied, id))
		}
		if rec.terminal() {
			epoch := rec.Epoch
			reap(h.w.Client(), id, rec.Name, epoch, rec.groupNames(), rec.Durable, rec.deathError(), false)
			return nil, framework.NewCallError(KindDied, rec.deathError())
		}
		if rec.WorkerKey != "" || rec.State == StateAlive {
			if rec.Epoch != callEpoch+1 {
				return nil, nil // a superseded creation call: a newer placement exists
			}
			// Claimed for this very call (a duplicate delivery): the claimant answers.
			if inst := h.get(id); inst != nil {
				select {
				case <-inst.ready:
				case <-ctx.Done():
				}
				return nil, nil
			}
			if stored, err := resultStored(h.w.Client(), ctx, call.ID); err == nil && stored {
				return nil, nil // answered: this answer is refused and the delivery acked
			}
			return nil, errNotOwner // the claimant is still constructing
		}
		if rec.Epoch != callEpoch {
			return nil, nil // a superseded creation call
		}
		claim := *rec
		claim.WorkerKey, claim.Epoch, claim.Worker, claim.Control = lease, callEpoch+1, h.w.Name(), h.ctl
		claim.Updated = time.Now().UTC()
		val, _ := json.Marshal(claim)
		if _, err := s.kv.Update(ctx, recordKey(id), val, rev); err != nil {
			if isConflict(err) {
				continue
			}
			return nil, err
		}
		rec = &claim
		break
	}
	epoch := rec.Epoch
	build := func() (*A, error) {
		var in In
		if err := call.Codec.Unmarshal(call.Data, &in); err != nil {
			return nil, framework.NewCallError(framework.KindDecode, fmt.Errorf("decode constructor input of %s into %T: %w", c.name, in, err))
		}
		return construct(ctx, c.ctor, in)
	}
	var methods map[string]framework.Handler
	var state *durable
	if rec.Durable {
		ref, d, err := openDurable(ctx, h.w.Client(), id, epoch, build)
		if err != nil {
			return nil, h.durableOpenFailed(ctx, s, id, lease, epoch, err)
		}
		methods, state = c.methods.bindRef(ref), d
	} else {
		obj, err := build()
		if err != nil {
			h.markFailed(ctx, s, id, lease, epoch, err)
			return nil, err
		}
		methods = c.methods.bind(obj)
	}
	inst := newInstance(id, c.name, rec.Name, maxConc, rec.window(maxConc), rec.Groups, methods)
	inst.durable = state
	if err := h.place(ctx, s, inst, lease, epoch, rec.Resume); err != nil {
		if errors.Is(err, errNotOwner) {
			return nil, err
		}
		if errors.Is(err, errWorkerStopping) {
			// Give the claim back (nothing was bound under it) and leave the creation call to
			// the broker, which gives it to another worker.
			h.unclaim(ctx, s, id, lease, epoch)
			return nil, errNotOwner
		}
		h.markFailed(ctx, s, id, lease, epoch, err)
		return nil, err
	}
	// The resources the creation call holds (its placement's) stay held while the instance
	// lives here: they are freed when it ends on this worker (killed, dropped, handed over,
	// stopped), which cancels its ctx; if that happened already, at once.
	if release := keepResources(ctx); release != nil {
		context.AfterFunc(inst.ctx, release)
	}
	return nil, nil
}

// unclaim gives back the claim this host made on actor id's record (lease, epoch) when nothing
// was bound under it, so the next delivery of the creation call can claim it again.
func (h *host) unclaim(ctx context.Context, s *store, id, lease string, epoch uint64) {
	_, _ = s.update(context.WithoutCancel(ctx), id, func(r *Record) bool {
		if r.terminal() || r.WorkerKey != lease || r.Epoch != epoch {
			return false
		}
		r.WorkerKey, r.Epoch, r.Worker, r.Control = "", epoch-1, "", ""
		return true
	})
}

// construct runs ctor, turning a panic into an error with its stack.
func construct[A, In any](ctx context.Context, ctor func(context.Context, In) (*A, error), in In) (obj *A, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = framework.NewCallError(framework.KindPanic, fmt.Errorf("constructor panic: %v\n%s", r, debug.Stack()))
		}
	}()
	obj, err = ctor(ctx, in)
	if err == nil && obj == nil {
		err = errors.New("constructor returned a nil actor")
	}
	return obj, err
}

func (m *methodSet[A]) add(name string, inv invoker[A]) {
	m.mu.Lock()
	m.m[name] = inv
	m.mu.Unlock()
}

// bind returns the class's methods as handlers on obj.
func (m *methodSet[A]) bind(obj *A) map[string]framework.Handler {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]framework.Handler, len(m.m))
	for name, inv := range m.m {
		out[name] = func(ctx context.Context, call *framework.Call) ([]byte, error) { return inv(obj, ctx, call) }
	}
	return out
}
