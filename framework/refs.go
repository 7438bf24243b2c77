package framework

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Resolve implements futures.Resolver: it waits until the result of call id is stored in
// JETRAY_RESULTS or ctx ends, then decodes its value into into, or returns the call's error.
// Any client can resolve any call's result, so futures travel between processes. A call that
// will never be answered (an ID nobody issued, a call its client failed to store or died
// before storing) fails with an error wrapping ErrReferenceLost (and ErrOwnerDied for a dead
// client) a bounded time after the wait began; a stored call is waited for however long it
// queues. A result older than the results TTL is gone: Resolve then waits until ctx ends.
func (c *Client) Resolve(ctx context.Context, id string, into any) error {
	hdr, data, err := c.awaitResult(ctx, id)
	if err != nil {
		return err
	}
	return c.decodeInto(ctx, id, hdr, data, into)
}

// decodeInto decodes a stored result into into, or returns its error.
func (c *Client) decodeInto(ctx context.Context, id string, hdr nats.Header, data []byte, into any) error {
	if hdr.Get(wire.HeaderStatus) == wire.StatusError {
		return decodeTaskError(id, data)
	}
	codec, err := c.codecs.lookup(hdr.Get(wire.HeaderCodec))
	if err != nil {
		return fmt.Errorf("jetray: result of %s: %w", id, err)
	}
	if data, err = c.payload(ctx, hdr, data); err != nil {
		return err
	}
	if err := codec.Unmarshal(data, into); err != nil {
		return fmt.Errorf("jetray: decode result of %s into %T: %w", id, into, err)
	}
	return nil
}

// awaitResult returns the stored result message of call id, waiting for it if needed. A
// broker that does not answer for a while (restarting, a lost leader, a reconnect) is waited
// out, with backoff, until ctx ends: a reference must not fail for good because the broker
// blinked.
func (c *Client) awaitResult(ctx context.Context, id string) (nats.Header, []byte, error) {
	chk := c.newRefCheck()
	for delay := 100 * time.Millisecond; ; delay = min(delay*2, 2*time.Second) {
		hdr, data, err := c.awaitResultOnce(ctx, id, chk)
		if err == nil || !transient(err) {
			return hdr, data, err
		}
		if c.closed.Load() {
			return nil, nil, ErrClosed
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		c.log.Debug().Err(err).Str("task_id", id).Msg("await result: broker unavailable; retrying")
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	}
}

// transient reports errors of a broker that may answer again soon.
func transient(err error) bool {
	for _, target := range []error{context.DeadlineExceeded, nats.ErrTimeout, nats.ErrNoResponders,
		jetstream.ErrNoStreamResponse, nats.ErrConnectionReconnecting, nats.ErrDisconnected} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// awaitResultOnce is one attempt of awaitResult. While it waits, chk says when to ask whether
// the call will ever be answered (checkReference).
func (c *Client) awaitResultOnce(ctx context.Context, id string, chk *refCheck) (nats.Header, []byte, error) {
	hdr, data, found, err := c.fetchResult(ctx, id)
	if err != nil || found {
		return hdr, data, err
	}
	cons, err := c.results.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{c.names.ResultSubject(id)},
		DeliverPolicy:  jetstream.DeliverAllPolicy, // the first message is the result (fetchResult)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("jetray: await result %s: %w", id, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = c.results.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
		cancel()
	}()
	for {
		nctx, cancel := context.WithTimeout(ctx, chk.wait(5*time.Second))
		m, err := cons.Next(jetstream.FetchContext(nctx))
		cancel()
		if err == nil {
			return m.Headers(), m.Data(), nil
		}
		if chk.due() && ctx.Err() == nil {
			hdr, data, found, err := c.checkReference(ctx, id)
			chk.checked()
			if err != nil || found {
				return hdr, data, err
			}
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if deadlinePassed(ctx) {
			// The deadline passed but its timer has not fired yet (a loaded machine):
			// nats.go refuses a fetch context past its deadline before ctx says so.
			return nil, nil, context.DeadlineExceeded
		}
		if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) && !deadlinePassed(nctx) {
			return nil, nil, fmt.Errorf("jetray: await result %s: %w", id, err)
		}
	}
}

// deadlinePassed reports whether ctx has a deadline that has passed, whether or not its
// timer has cancelled it yet.
func deadlinePassed(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// RemoteFrom submits a call of t whose input is dep's value once dep resolves, and returns its
// future at once. While dep is pending no worker slot is used: this client holds the call and
// submits it when dep resolves (so the driver must stay up, as Ray's owner must). If dep fails,
// the task never runs and its future fails with an error wrapping dep's error. dep may be a
// future of this client, one returned by Put, or a reference received inside a value (then ctx
// must carry a Resolver, as a task's ctx does).
func (t *Task[In, Out]) RemoteFrom(ctx context.Context, c *Client, dep *futures.Future[In]) *futures.Future[Out] {
	if t.cfg.IdempotencyKey != "" {
		return futures.Failed[Out](c.ids.next(), errKeyUnsupported("RemoteFrom"))
	}
	return whenReady(ctx, c, t.name, dep, func(ctx context.Context, id, parent string, in In, p *futures.Promise[Out]) {
		t.submitWith(ctx, c, id, parent, in, p)
	})
}

// SubmitFrom is Submit with the input taken from dep once it resolves, as Task.RemoteFrom
// does; runtimes built on the client (actor methods) use it.
func SubmitFrom[In, Out any](ctx context.Context, c *Client, req Request, dep *futures.Future[In]) *futures.Future[Out] {
	var cfg taskConfig
	for _, o := range req.Options {
		o(&cfg)
	}
	if cfg.IdempotencyKey != "" {
		return futures.Failed[Out](c.ids.next(), errKeyUnsupported("SubmitFrom"))
	}
	return whenReady(ctx, c, req.Name, dep, func(ctx context.Context, id, _ string, in In, p *futures.Promise[Out]) {
		req.ID = id
		submitInto(ctx, c, req, in, p)
	})
}

// whenReady returns the future of a call that submit sends once dep resolves; dep's failure
// fails it without sending anything.
func whenReady[In, Out any](ctx context.Context, c *Client, name string, dep *futures.Future[In],
	submit func(ctx context.Context, id, parent string, in In, p *futures.Promise[Out])) *futures.Future[Out] {
	id := c.ids.next()
	p := futures.NewPromise[Out](id)
	if dep == nil {
		p.Reject(errors.New("jetray: RemoteFrom with a nil dependency"))
		return p.Future()
	}
	// Held here until dep resolves: Cancel finds it among the pending calls. Added before the
	// call is recorded as a child, so a cancelled parent's cancellation finds it.
	c.results.add(id, &pendingCall{sink: promiseSink[Out]{p}, name: name})
	parent := parentID(ctx)
	if parent != "" {
		registerChild(ctx, id)
	}
	run := func(in In, err error) {
		if p.Future().Resolved() {
			return // cancelled meanwhile
		}
		if err != nil {
			c.results.take(id)
			c.failCall(id, name, fmt.Errorf("jetray: %s (%s) not run: dependency %s failed: %w", name, id, dep.ID(), err), promiseSink[Out]{p})
			return
		}
		submit(context.WithoutCancel(ctx), id, parent, in, p)
	}
	if dep.Resolved() && !dep.IsRef() {
		in, err := dep.Await(ctx)
		run(in, err)
		return p.Future()
	}
	if !c.bg.Go(func() {
		wctx, cancel := c.lifetime(context.WithoutCancel(ctx))
		defer cancel()
		in, err := dep.Await(wctx)
		run(in, err)
	}) {
		p.Reject(ErrClosed)
	}
	return p.Future()
}

// submitWith encodes in and submits it as call id of t into p.
func (t *Task[In, Out]) submitWith(ctx context.Context, c *Client, id, parent string, in In, p *futures.Promise[Out]) {
	if err := ValidName(t.name); err != nil {
		p.Reject(err)
		return
	}
	data, err := c.cfg.codec.Marshal(in)
	if err != nil {
		p.Reject(fmt.Errorf("jetray: encode input of %s: %w", t.name, err))
		return
	}
	c.submit(context.WithoutCancel(ctx), callSpec{name: t.name, subject: c.names.TaskSubject(t.name, wire.TaskRoute{}), id: id, data: data,
		cfg: &t.cfg, parent: parent, childDone: true}, promiseSink[Out]{p})
}

// lifetime returns ctx, cancelled also when the client closes, carrying the client as the
// Resolver for future references (unless ctx has one). Call cancel when done.
func (c *Client) lifetime(ctx context.Context) (context.Context, context.CancelFunc) {
	if futures.ResolverFrom(ctx) == nil {
		ctx = futures.WithResolver(ctx, c)
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.closeCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

// Put stores v in the results stream and returns a future resolved with it (ray.put). The
// future can be passed to tasks inside values and used with RemoteFrom; other processes read
// the value by the future's ID until the results TTL. Errors (an encoding error, a value over
// the max payload, the broker unreachable before ctx ends, ErrAlreadyAnswered if the fresh ID
// was already used, which only a reused client ID can cause) fail the returned future.
func Put[T any](ctx context.Context, c *Client, v T) *futures.Future[T] {
	id := c.ids.next()
	data, err := c.cfg.codec.Marshal(v)
	if err != nil {
		return futures.Failed[T](id, fmt.Errorf("jetray: put: encode %T: %w", v, err))
	}
	h := nats.Header{
		jetstream.MsgIDHeader: []string{id},
		wire.HeaderID:         []string{id},
		wire.HeaderStatus:     []string{wire.StatusOK},
	}
	onlyFirst(h)
	if n := c.cfg.codec.Name(); n != "json" {
		h[wire.HeaderCodec] = []string{n}
	}
	m := &nats.Msg{Subject: c.names.ResultSubject(id), Header: h, Data: data}
	if err := c.offload(ctx, m, id+".put"); err != nil {
		return futures.Failed[T](id, fmt.Errorf("jetray: put: %w", err))
	}
	actx, cancel := c.apiContext(ctx)
	defer cancel()
	if _, err := c.js.PublishMsg(actx, m); err != nil {
		if alreadyAnswered(err) { // a fresh ID already used: the client ID was reused
			err = fmt.Errorf("%w: %s", ErrAlreadyAnswered, id)
		}
		return futures.Failed[T](id, fmt.Errorf("jetray: put %d bytes: %w", len(data), err))
	}
	return futures.Ready(id, v)
}
