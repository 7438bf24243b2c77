// The unknown-name grace: a call to a name that no worker has registered yet is held on its
// client for a short while (WithUnknownNameGrace, default 5 s) instead of failing at once, so
// that a driver and its workers can start together. While calls wait for a name, one
// goroutine per name polls the registry bucket; the first registration seen releases every
// waiting call of the name, which is then published as usual. Past the grace the calls fail
// with ErrUnknownTask, never queued.
//
// Owner: the Client. The waiting calls and the pollers run on its background set (c.bg) and
// end when it closes. A held call is in the client's pending calls from the start, so Cancel
// and Close fail it; it is published only if its pending entry is still there (send).

package framework

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultUnknownNameGrace is how long a call to a name no worker has registered waits for a
// registration before it fails with ErrUnknownTask, unless WithUnknownNameGrace says otherwise.
const DefaultUnknownNameGrace = 5 * time.Second

// namePollInterval is how often the registry is read for a name that calls wait for.
const namePollInterval = 200 * time.Millisecond

// WithUnknownNameGrace sets how long a call to a name that no worker has registered waits,
// held on this client, for a worker to register it: it is published as soon as one does, and
// fails with ErrUnknownTask (never queued) once d has passed. Remote still returns at once.
// A name registered once stays registered (even with all its workers down): its calls are
// queued at once and wait for a worker, bounded only by their deadlines (StartWithin,
// FinishWithin). Default DefaultUnknownNameGrace (5 s); 0 fails such calls at once.
func WithUnknownNameGrace(d time.Duration) Option {
	return func(c *clientConfig) { c.unknownGrace = max(d, 0) }
}

// nameWaits holds, per name that calls wait for, its poller.
type nameWaits struct {
	mu sync.Mutex
	m  map[string]*nameWait
}

// nameWait is the poller of one name: registered closes once the registry has the name.
type nameWait struct {
	registered chan struct{}
	waiters    int
	stop       context.CancelFunc
}

// holdUntilRegistered holds a call to a name the registry does not have (yet): s gets its
// result once the call is published after a worker registered the name, or ErrUnknownTask
// after the grace.
func (c *Client) holdUntilRegistered(ctx context.Context, spec callSpec, s sink) {
	grace := c.cfg.unknownGrace
	if grace <= 0 {
		c.failCall(spec.id, spec.name, fmt.Errorf("%w: %q: no worker has registered it", ErrUnknownTask, spec.name), s)
		return
	}
	c.results.add(spec.id, &pendingCall{sink: s, name: spec.name, storeFailure: spec.cfg.IdempotencyKey != ""})
	if spec.parent != "" && !spec.childDone {
		registerChild(ctx, spec.id)
		spec.childDone = true
	}
	spec.held = true
	if !c.bg.Go(func() {
		wctx, cancel := c.lifetime(context.WithoutCancel(ctx))
		defer cancel()
		if err := c.waitRegistered(wctx, spec.name, grace); err != nil {
			if pc := c.results.take(spec.id); pc != nil { // else cancelled or closed meanwhile
				c.failCall(spec.id, spec.name, err, s)
			}
			return
		}
		c.send(wctx, spec, s)
	}) {
		if c.results.take(spec.id) != nil {
			s.fail(ErrClosed)
		}
	}
}

// waitRegistered waits up to grace for a worker to register name. Errors: ErrUnknownTask
// (wrapped) after grace, or ctx's error.
func (c *Client) waitRegistered(ctx context.Context, name string, grace time.Duration) error {
	nw := c.acquireNameWait(name)
	defer c.releaseNameWait(name, nw)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-nw.registered:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: %q: no worker registered it within %v", ErrUnknownTask, name, grace)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acquireNameWait returns name's poller, starting it if no call waits for name yet.
func (c *Client) acquireNameWait(name string) *nameWait {
	w := &c.nameWaits
	w.mu.Lock()
	defer w.mu.Unlock()
	if nw := w.m[name]; nw != nil {
		nw.waiters++
		return nw
	}
	if w.m == nil {
		w.m = map[string]*nameWait{}
	}
	ctx, cancel := context.WithCancel(c.closeCtx)
	nw := &nameWait{registered: make(chan struct{}), waiters: 1, stop: cancel}
	w.m[name] = nw
	if !c.bg.Go(func() { c.pollName(ctx, name, nw) }) {
		cancel()
	}
	return nw
}

// releaseNameWait drops a waiter of name; the last one stops the poller.
func (c *Client) releaseNameWait(name string, nw *nameWait) {
	w := &c.nameWaits
	w.mu.Lock()
	defer w.mu.Unlock()
	if nw.waiters--; nw.waiters == 0 {
		nw.stop()
		if w.m[name] == nw {
			delete(w.m, name)
		}
	}
}

// pollName reads the registry for name every namePollInterval until it is there (then
// registered closes) or ctx ends. Read errors are retried: the grace bounds the wait.
func (c *Client) pollName(ctx context.Context, name string, nw *nameWait) {
	t := time.NewTicker(namePollInterval)
	defer t.Stop()
	for {
		if ok, _ := c.lookupName(ctx, name); ok {
			close(nw.registered)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
