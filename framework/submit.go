package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// callSpec is everything submit needs to publish one call.
type callSpec struct {
	name         string
	subject      string
	id           string
	data         []byte
	cfg          *taskConfig
	parent       string
	header       nats.Header // extra headers
	unregistered bool        // skip the registry check of name (actor methods)
	childDone    bool        // registerChild already called (RemoteFrom)

	deadlines wire.Deadlines // absolute deadlines, set by submit from cfg
	held      bool           // its pending entry exists already: it waited for its name (grace.go)
	startAt   time.Time      // a delayed call: when it may start; zero: at once (schedule_delay.go)
}

// submit publishes a call and registers s to receive its result. It never waits for the
// call to run; it waits only when too many publishes are unacknowledged (backpressure).
// A call to a name not registered yet is held on this client for the unknown-name grace
// (grace.go) and published once a worker registers the name. Every failure resolves s.
func (c *Client) submit(ctx context.Context, spec callSpec, s sink) {
	if c.closed.Load() {
		c.failSubmit(spec, ErrClosed, s)
		return
	}
	if err := ctx.Err(); err != nil {
		c.failSubmit(spec, err, s)
		return
	}
	if spec.cfg.Delay > 0 || !spec.cfg.StartAt.IsZero() {
		spec.startAt = delayedStart(spec.cfg, time.Now())
	}
	if spec.cfg.StartWithin > 0 || spec.cfg.FinishWithin > 0 {
		base := spec.startAt // a delayed call's deadlines count from its start
		if base.IsZero() {
			base = time.Now()
		}
		if err := c.setDeadlines(&spec, base); err != nil {
			c.failSubmit(spec, err, s)
			return
		}
	}
	if !spec.unregistered {
		known, err := c.checkRegistered(ctx, spec.name)
		if err != nil {
			c.failCall(spec.id, spec.name, err, s)
			return
		}
		if !known {
			c.holdUntilRegistered(ctx, spec, s)
			return
		}
	}
	c.send(ctx, spec, s)
}

// failSubmit fails a call that was not published. A call with an idempotency key also gets
// the failure stored as its result (failCall), since later submissions with the key wait for
// that result.
func (c *Client) failSubmit(spec callSpec, err error, s sink) {
	if spec.cfg.IdempotencyKey != "" {
		c.failCall(spec.id, spec.name, err, s)
		return
	}
	s.fail(err)
}

// send publishes a call whose name is registered (or needs no registration).
func (c *Client) send(ctx context.Context, spec callSpec, s sink) {
	if !spec.unregistered && spec.cfg.route.routed() { // a priority or placement (placement.go)
		subject, err := c.routeSubject(ctx, spec.name, &spec.cfg.route)
		if err != nil {
			if !spec.held || c.results.take(spec.id) != nil {
				c.failCall(spec.id, spec.name, err, s)
			}
			return
		}
		spec.subject = subject
	}
	if !spec.deadlines.IsZero() {
		if err := c.scheduleDeadlines(ctx, &spec); err != nil {
			if !spec.held || c.results.take(spec.id) != nil {
				c.failSubmit(spec, err, s)
			}
			return
		}
	}
	msg := &nats.Msg{Subject: spec.subject, Data: spec.data, Header: make(nats.Header, 8)}
	h := msg.Header
	for k, v := range spec.header {
		h[k] = v
	}
	h[jetstream.MsgIDHeader] = []string{spec.id}
	h[wire.HeaderID] = []string{spec.id}
	h[wire.HeaderTask] = []string{spec.name}
	h[wire.HeaderReply] = []string{c.names.ResultSubject(spec.id)}
	if n := c.cfg.codec.Name(); n != "json" {
		h[wire.HeaderCodec] = []string{n}
	}
	if spec.parent != "" {
		h[wire.HeaderParent] = []string{spec.parent}
		if o := treeOwner(ctx); o != "" {
			h[wire.HeaderOwner] = []string{o}
		}
	}
	spec.cfg.Encode(h)
	spec.deadlines.Encode(h)
	if !spec.startAt.IsZero() { // a delayed call: the broker holds it (schedule_delay.go)
		if err := c.delayCall(ctx, msg, spec); err != nil {
			if !spec.held || c.results.take(spec.id) != nil {
				c.failSubmit(spec, err, s)
			}
			return
		}
	}
	if err := c.offload(ctx, msg, spec.id+".in"); err != nil {
		if !spec.held || c.results.take(spec.id) != nil {
			c.failSubmit(spec, err, s)
		}
		return
	}
	var sentAt time.Time
	if c.metrics.Load() != nil {
		sentAt = time.Now()
	}
	span := c.startSubmitSpan(ctx, spec.name, spec.id, h)
	defer endSpan(span, nil)
	if spec.held {
		// Its entry was made when it began to wait; gone means cancelled or failed meanwhile.
		if !c.results.update(spec.id, func(pc *pendingCall) { pc.msg, pc.sentAt, pc.startAt = msg, sentAt, spec.startAt }) {
			return
		}
	} else {
		c.results.add(spec.id, &pendingCall{sink: s, name: spec.name, msg: msg, sentAt: sentAt,
			storeFailure: spec.cfg.IdempotencyKey != "", startAt: spec.startAt})
	}
	// A child is recorded once its result has a taker: a parent cancelled already cancels it
	// at once, storing its cancelled result, which must not reach this client before the
	// pending entry exists. Cancelled so: not sent.
	if spec.parent != "" && !spec.childDone {
		registerChild(ctx, spec.id)
		if !c.results.update(spec.id, func(*pendingCall) {}) {
			return
		}
	}
	for {
		_, err := c.js.PublishMsgAsync(msg)
		if err == nil {
			return
		}
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) && ctx.Err() == nil && !c.closed.Load() {
			continue // backpressure: wait for the broker to catch up
		}
		if brokenConn(err) && ctx.Err() == nil && !c.closed.Load() {
			c.onPublishError(c.js, msg, err) // resubmitted with backoff, as a failed async publish
			return
		}
		if c.results.take(spec.id) == nil {
			return // cancelled meanwhile
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		if errors.Is(err, nats.ErrMaxPayload) {
			err = fmt.Errorf("jetray: submit %s: input of %d bytes exceeds the server's max payload %d: %w",
				spec.name, len(spec.data), c.nc.MaxPayload(), err)
		} else {
			err = fmt.Errorf("jetray: submit %s: %w", spec.name, err)
		}
		c.failSubmit(spec, err, s)
		return
	}
}

// failCall fails a call that never reached a worker: s gets err at once, and an error result
// is stored so that references to the call held elsewhere resolve too (best effort).
func (c *Client) failCall(id, name string, err error, s sink) {
	s.fail(err)
	if c.closed.Load() || id == "" {
		return
	}
	te := &TaskError{Task: name, TaskID: id, Kind: KindBadCall, Message: err.Error()}
	var prev *TaskError
	if errors.As(err, &prev) {
		te.Kind = prev.Kind
	}
	c.bg.Go(func() {
		ctx, cancel := context.WithTimeout(c.closeCtx, 5*time.Second)
		defer cancel()
		_ = c.publishFailure(ctx, te)
	})
}

// onPublishAck drops the copy kept for resubmission once the broker has stored the call, and
// tells the task keeper.
func (c *Client) onPublishAck(_ jetstream.JetStream, m *nats.Msg, pa *jetstream.PubAck) {
	c.keepAfter(pa, len(m.Data))
	id := m.Header.Get(wire.HeaderID)
	var sentAt time.Time
	c.results.update(id, func(pc *pendingCall) { pc.msg, sentAt = nil, pc.sentAt })
	if cm := c.metrics.Load(); cm != nil && !sentAt.IsZero() {
		cm.submit.Observe(time.Since(sentAt).Seconds())
	}
}

// onPublishError resubmits a call whose publish failed (connection lost, broker restarting,
// ack timeout) with exponential backoff and jitter; the Nats-Msg-Id header makes a publish
// that did land a duplicate the broker drops. Past the WithSubmitRetry window the future fails.
func (c *Client) onPublishError(_ jetstream.JetStream, m *nats.Msg, err error) {
	id := m.Header.Get(wire.HeaderID)
	var tries int
	var name string
	var since time.Duration
	if !c.results.update(id, func(pc *pendingCall) {
		if pc.tries == 0 {
			pc.failedAt = time.Now()
		}
		pc.tries++
		tries, name, since = pc.tries, pc.name, time.Since(pc.failedAt)
	}) {
		return
	}
	delay := min(time.Duration(1<<min(tries, 10))*50*time.Millisecond, 5*time.Second)
	delay = delay/2 + rand.N(delay/2+1)
	if c.closed.Load() || since > c.cfg.submitRetry {
		if pc := c.results.take(id); pc != nil {
			err = fmt.Errorf("jetray: submit %s after %d tries: %w", name, tries, err)
			if pc.storeFailure {
				c.failCall(id, name, err, pc.sink)
			} else {
				pc.sink.fail(err)
			}
		}
		return
	}
	c.log.Debug().Err(err).Str("task", name).Str("task_id", id).Int("try", tries).Msg("resubmitting call")
	time.AfterFunc(delay, func() {
		if c.closed.Load() {
			return
		}
		var msg *nats.Msg
		c.results.update(id, func(pc *pendingCall) { msg = pc.msg })
		if msg == nil {
			return // resolved or acknowledged meanwhile
		}
		if _, err := c.js.PublishMsgAsync(msg); err != nil {
			c.onPublishError(c.js, msg, err)
		}
	})
}

// checkRegistered reports whether a worker has registered name. Names seen once are cached,
// so the common path reads a map; a miss asks the registry bucket, so a worker that
// registered a moment ago is found. Errors: the registry cannot be read.
func (c *Client) checkRegistered(ctx context.Context, name string) (bool, error) {
	if _, ok := c.known.Load(name); ok {
		return true, nil
	}
	return c.lookupName(ctx, name)
}

// lookupName asks the registry bucket for name, caching a hit.
func (c *Client) lookupName(ctx context.Context, name string) (bool, error) {
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	_, err := c.registry.Get(ctx, wire.RegistryKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("jetray: registry lookup %q: %w", name, err)
	}
	c.known.Store(name, struct{}{})
	return true, nil
}

// brokenConn reports a publish that failed because the connection broke under it (the write
// failed, or the reconnect buffer is full); the connection reconnects by itself.
func brokenConn(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, nats.ErrReconnectBufExceeded)
}

func itoa(n int) string { return strconv.Itoa(n) }
