package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// Cancel cancels the call behind f (ray.cancel with recursive=True). It is decisive: Cancel
// first stores a cancelled result for the call (a *TaskError of KindCancelled, matching
// errors.Is(err, ErrCancelled)), which only succeeds while the call has no result, since a
// call has one result, forever. If it succeeds, the call is cancelled: this client's own
// future for it fails at once with that error, every other reader (Client.Resolve,
// references, the caller's future on another client) reads the same, whatever the handler
// returns; a call not yet started never runs, a running one sees its ctx cancelled with cause
// ErrCancelled, it is not retried, and the calls it submitted are cancelled the same way. The
// workers learn it from the jetray_cancel bucket, which they watch, kept for the results TTL.
//
// If the call already had a result, it had finished: Cancel changes nothing and returns nil
// once f holds that result (for f of this client; a reference resolves when awaited), so after
// Cancel returns nil f never turns from pending into a value. Cancelling a future that is
// already done is a no-op and returns nil at once.
//
// Options (ray.cancel's recursive and force): NonRecursive leaves the calls the cancelled call
// submitted running; Force is what Cancel always does for its caller (see Force).
//
// Errors: the cancelled result cannot be stored before ctx ends (or the client's request
// timeout, 10 s by default, when ctx has no deadline): the call may or may not be cancelled,
// and Cancel may be called again; ctx ends while f waits for the result the call finished
// with; or the jetray_cancel key cannot be written (the call is cancelled, but a running
// handler may run to its end; its result is dropped).
func Cancel(ctx context.Context, c *Client, f futures.Awaitable, opts ...CancelOption) error {
	select {
	case <-f.Done():
		return nil
	default:
	}
	cfg := cancelConfig{recursive: true}
	for _, o := range opts {
		o(&cfg)
	}
	id := f.ID()
	won, err := c.cancelCall(ctx, id, "cancelled by client "+c.id, cfg.recursive)
	if err != nil || won || id == "" {
		return err
	}
	if r, ok := f.(interface{ IsRef() bool }); ok && r.IsRef() {
		return nil // resolves with the stored result when awaited
	}
	select {
	case <-f.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jetray: cancel %s: the call had finished; its result did not arrive: %w", id, ctx.Err())
	}
}

// CancelOption changes what Cancel does; the default is ray.cancel(recursive=True).
type CancelOption func(*cancelConfig)

type cancelConfig struct{ recursive bool }

// NonRecursive cancels only the call itself (ray.cancel(recursive=False)): the calls it has
// submitted, and those it submits while its handler still runs, go on and keep their results.
// Default: they are cancelled too, recursively.
func NonRecursive() CancelOption { return func(c *cancelConfig) { c.recursive = false } }

// Force is ray.cancel(force=True) as far as a caller can see it, which is what Cancel always
// does: the cancelled result is stored first, so the caller stops waiting at once and a result
// the handler returns later is discarded, even from a handler that ignores its ctx. Go cannot
// stop a goroutine, so such a handler keeps its worker slot (and a plain actor's turn) until it
// returns; the worker process is not killed. Force is accepted for parity and changes nothing.
func Force() CancelOption { return func(*cancelConfig) {} }

// cancelID cancels call id and, recursively, the calls it submitted; see cancelCall.
func (c *Client) cancelID(ctx context.Context, id, why string) (won bool, err error) {
	return c.cancelCall(ctx, id, why, true)
}

// cancelCall cancels call id unless it already has a result; won reports that the call is
// cancelled (its result is a cancellation). why becomes the TaskError's message; recursive
// says whether the worker running it cancels the calls it submitted.
func (c *Client) cancelCall(ctx context.Context, id, why string, recursive bool) (won bool, err error) {
	if id == "" {
		return false, nil
	}
	te := &TaskError{TaskID: id, Kind: KindCancelled, Message: why}
	var startAt time.Time // of a delayed call of this client
	c.results.update(id, func(pc *pendingCall) { te.Task, startAt = pc.name, pc.startAt })
	won, err = c.storeFailure(ctx, te, id+".cancel")
	if err != nil {
		return false, fmt.Errorf("jetray: cancel %s: %w", id, err)
	}
	if !won {
		// Finished, or cancelled before by a Cancel whose key was maybe not written (its
		// caller gave up): write the key again then, so running work stops.
		if !c.storedCancellation(ctx, id) {
			return false, nil
		}
	} else if pc := c.results.take(id); pc != nil {
		pc.sink.fail(te)
	}
	// The call is cancelled: tell the workers (not run, ctx cancelled, children cancelled).
	// The decision is made, so the caller's ctx ending does not stop this write.
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.callTimeout)
	defer cancel()
	rec := map[string]string{"at": time.Now().UTC().Format(time.RFC3339Nano), "by": c.id}
	if !recursive {
		rec["recursive"] = "false"
	}
	val, _ := json.Marshal(rec)
	if _, err := c.cancels.Put(kctx, id, val); err != nil {
		return won, fmt.Errorf("jetray: cancel %s: cancelled, but workers were not told: %w", id, err)
	}
	c.purgeDelay(kctx, id, startAt) // a delayed call not due yet is never stored (schedule_delay.go)
	return won, nil
}

// storedCancellation reports whether the result stored for call id is a cancellation.
func (c *Client) storedCancellation(ctx context.Context, id string) bool {
	hdr, data, found, err := c.fetchResult(ctx, id)
	if err != nil || !found || hdr.Get(wire.HeaderStatus) != wire.StatusError {
		return false
	}
	var te *TaskError
	return errors.As(decodeTaskError(id, data), &te) && te.Kind == KindCancelled
}

// cancelWatch is a worker's view of the jetray_cancel bucket: IDs cancelled so far and the
// calls running here, so a cancellation reaches a running call at once.
type cancelWatch struct {
	w  *Worker
	mu sync.Mutex
	// cancelled holds IDs seen in the bucket; entries older than the results TTL are dropped.
	cancelled map[string]cancelSeen
	running   map[string]*runningCall
	done      chan struct{} // closed when the watcher started by start ends
}

// cancelSeen is a cancellation read from the bucket.
type cancelSeen struct {
	at        time.Time
	recursive bool // the calls it submitted are cancelled too
}

// runningCall is a call running on this worker, with the calls it submitted.
type runningCall struct {
	cancel   context.CancelCauseFunc
	children []string
}

// wait waits up to d for the watcher started by start to end (its ctx ended).
func (cw *cancelWatch) wait(d time.Duration) {
	cw.mu.Lock()
	done := cw.done
	cw.mu.Unlock()
	if done == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cw.w.log.Warn().Msg("cancellation watcher still running after the worker stopped")
	}
}

func newCancelWatch(w *Worker) *cancelWatch {
	return &cancelWatch{w: w, cancelled: map[string]cancelSeen{}, running: map[string]*runningCall{}}
}

// start replays the bucket, then follows it until ctx ends.
func (cw *cancelWatch) start(ctx context.Context) error {
	kw, err := cw.w.c.cancels.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("jetray: watch cancellations: %w", err)
	}
	synced := make(chan struct{})
	done := make(chan struct{})
	cw.mu.Lock()
	cw.done = done
	cw.mu.Unlock()
	go func(first chan struct{}) { // owned by Worker.Run: ends with ctx, Run waits for it
		defer close(done)
		defer func() { _ = kw.Stop() }()
		for e := range kw.Updates() {
			if e == nil {
				if first != nil {
					close(first)
					first = nil
				}
				continue
			}
			cw.onCancel(e.Key(), e.Value())
		}
	}(synced)
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	return nil
}

// onCancel records the cancellation of call id (val is its bucket record: a record that does
// not decode counts as recursive, as every record did before NonRecursive) and cancels the
// call if it runs here, with its children unless the record says recursive "false".
func (cw *cancelWatch) onCancel(id string, val []byte) {
	var rec struct {
		Recursive string `json:"recursive"`
	}
	_ = json.Unmarshal(val, &rec)
	seen := cancelSeen{at: time.Now(), recursive: rec.Recursive != "false"}
	cw.mu.Lock()
	cw.cancelled[id] = seen
	rc := cw.running[id]
	var children []string
	if rc != nil && seen.recursive {
		children = append(children, rc.children...)
	}
	if len(cw.cancelled) > 100000 {
		cutoff := time.Now().Add(-cw.w.c.cfg.resultTTL)
		for k, c := range cw.cancelled {
			if c.at.Before(cutoff) {
				delete(cw.cancelled, k)
			}
		}
	}
	cw.mu.Unlock()
	if rc != nil {
		rc.cancel(ErrCancelled)
		cw.cancelChildren(children, "cancelled with its parent "+id)
	}
}

// cancelChildren cancels the calls children of a call cancelled (or over its deadline) here.
func (cw *cancelWatch) cancelChildren(children []string, why string) {
	for _, child := range children {
		if _, err := cw.w.c.cancelID(context.Background(), child, why); err != nil {
			cw.w.log.Warn().Err(err).Str("task_id", child).Msg("cancel child")
		}
	}
}

func (cw *cancelWatch) isCancelled(id string) bool {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	_, ok := cw.cancelled[id]
	return ok
}

// begin registers a running call; end must be called when it returns.
func (cw *cancelWatch) begin(id string, cancel context.CancelCauseFunc) {
	cw.mu.Lock()
	cw.running[id] = &runningCall{cancel: cancel}
	_, already := cw.cancelled[id]
	cw.mu.Unlock()
	if already {
		cancel(ErrCancelled)
	}
}

func (cw *cancelWatch) end(id string) {
	cw.mu.Lock()
	delete(cw.running, id)
	cw.mu.Unlock()
}

// child records that call parent, running here, submitted call child.
func (cw *cancelWatch) child(parent, child string) {
	cw.mu.Lock()
	rc := cw.running[parent]
	if rc != nil {
		rc.children = append(rc.children, child)
	}
	seen, cancelled := cw.cancelled[parent]
	cw.mu.Unlock()
	if rc != nil && cancelled && seen.recursive {
		if _, err := cw.w.c.cancelID(context.Background(), child, "cancelled with its parent "+parent); err != nil {
			cw.w.log.Warn().Err(err).Str("task_id", child).Msg("cancel child")
		}
	}
}
