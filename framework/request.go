package framework

import (
	"context"
	"fmt"
	"sync"

	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/seam"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// Request describes a call by name, without Go types for its input: a bridge from another
// language, or a generic submitter. Most code uses Task.Remote instead.
type Request struct {
	// Name is the task name the call is published to (TaskSubject(Name)); a worker must have
	// registered it (ErrUnknownTask otherwise).
	Name string
	// ID is the call ID. Default: a fresh ID of the client (Client.NewID).
	ID string
	// Header holds extra headers to send.
	Header nats.Header
	// Options apply to this call (retries, timeout).
	Options []TaskOption

	route seam.Route // set by runtimes built on the framework (actor method calls)
}

// Submit encodes in with the client's codec, publishes the call described by req and returns
// the future of its result, decoded into Out. Failures resolve the future, as for Task.Remote;
// with an IdempotencyKey already held, the future is that earlier call's.
func Submit[Out any](ctx context.Context, c *Client, req Request, in any) *futures.Future[Out] {
	if req.ID == "" {
		req.ID = c.ids.next()
	}
	p := futures.NewPromise[Out](req.ID)
	if f := submitInto(ctx, c, req, in, p); f != nil {
		return f
	}
	return p.Future()
}

// submitInto submits req with input in; its result resolves p. With an idempotency key held
// by another call, it submits nothing and returns a future of that call (p is left alone).
func submitInto[Out any](ctx context.Context, c *Client, req Request, in any, p *futures.Promise[Out]) *futures.Future[Out] {
	data, err := c.cfg.codec.Marshal(in)
	if err != nil {
		p.Reject(fmt.Errorf("jetray: encode input of %s: %w", req.Name, err))
		return nil
	}
	cfg := defaultTaskConfig()
	for _, o := range req.Options {
		o(&cfg)
	}
	spec := callSpec{name: req.Name, subject: req.route.Subject, id: req.ID, data: data, cfg: &cfg,
		parent: parentID(ctx), header: req.Header, unregistered: req.route.Unregistered}
	if spec.subject == "" {
		if err := ValidName(req.Name); err != nil {
			p.Reject(err)
			return nil
		}
		spec.subject = c.names.TaskSubject(req.Name, wire.TaskRoute{})
	}
	if cfg.IdempotencyKey != "" {
		if f, done := keyed[Out](ctx, c, cfg.IdempotencyKey, req.Name, req.ID, data); done {
			if req.route.OnDone != nil {
				req.route.OnDone() // no call of this submitter is pending
			}
			return f
		}
	}
	var s sink = promiseSink[Out]{p}
	if req.route.OnDone != nil {
		s = &doneSink{sink: s, done: req.route.OnDone}
	}
	c.submit(ctx, spec, s)
	return nil
}

// doneSink runs done once after the wrapped sink resolves or fails.
type doneSink struct {
	sink
	done func()
	once sync.Once
}

func (d *doneSink) resolve(codec Codec, data []byte) { d.sink.resolve(codec, data); d.once.Do(d.done) }
func (d *doneSink) fail(err error)                   { d.sink.fail(err); d.once.Do(d.done) }
func (d *doneSink) resolveObject(codec Codec, load func(context.Context) ([]byte, error)) {
	d.sink.resolveObject(codec, load)
	d.once.Do(d.done)
}

// NewCallError returns an error that a Handler can return to fail a call with a TaskError of
// the given kind (one of the Kind constants) instead of KindError.
func NewCallError(kind Kind, err error) error { return &callError{kind: kind, err: err} }
