package framework

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// StreamTask is a task that yields many values (Ray's streaming generators); the caller reads
// them from a futures.Stream while the task still runs.
type StreamTask[In, Out any] struct {
	name string
	fn   func(ctx context.Context, in In, yield func(Out) error) error
	cfg  taskConfig
}

// NewStreamTask defines a streaming task named name. fn calls yield for each value; yield
// returns once the value is stored in the results stream (so a producer never runs ahead of
// the broker, and the worker holds one value at a time), or an error (its ctx ended, the
// broker is unreachable) that fn should return. With StreamWindow(n) yield also waits while n
// values are yielded and not yet read by the caller. Streaming calls default to
// MaxRetries(0): a worker lost mid-stream ends the stream with an error rather than replaying
// it; with retries a new attempt re-yields from the start and values already delivered are
// skipped.
func NewStreamTask[In, Out any](name string, fn func(ctx context.Context, in In, yield func(Out) error) error, opts ...TaskOption) *StreamTask[In, Out] {
	t := &StreamTask[In, Out]{name: name, fn: fn, cfg: defaultTaskConfig()}
	t.cfg.MaxRetries = 0
	for _, o := range opts {
		o(&t.cfg)
	}
	return t
}

// Name returns the task's wire name.
func (t *StreamTask[In, Out]) Name() string { return t.name }

// Options returns a copy of t with opts applied.
func (t *StreamTask[In, Out]) Options(opts ...TaskOption) *StreamTask[In, Out] {
	cp := *t
	for _, o := range opts {
		o(&cp.cfg)
	}
	return &cp
}

// Remote submits a streaming call and returns its stream at once. Next returns the values in
// the order yielded, io.EOF after the last, or the task's error (a *TaskError); submission
// errors end the stream the same way. Values that arrive before they are read wait in the
// stream's buffer on this client: without bound by default, at most n with StreamWindow(n).
func (t *StreamTask[In, Out]) Remote(ctx context.Context, c *Client, in In) *futures.Stream[Out] {
	id := c.ids.next()
	st, w := futures.NewStream[Out](id)
	s := &streamSink[Out]{w: w}
	if err := ValidName(t.name); err != nil {
		s.fail(err)
		return st
	}
	if t.cfg.IdempotencyKey != "" {
		s.fail(errKeyUnsupported("streaming calls"))
		return st
	}
	if err := c.readyWindow(&t.cfg); err != nil {
		s.fail(err)
		return st
	}
	data, err := c.cfg.codec.Marshal(in)
	if err != nil {
		s.fail(fmt.Errorf("jetray: encode input of %s: %w", t.name, err))
		return st
	}
	c.submit(ctx, callSpec{name: t.name, subject: c.names.TaskSubject(t.name, wire.TaskRoute{}), id: id, data: data, cfg: &t.cfg,
		parent: parentID(ctx)}, s)
	return st
}

// Bind registers t's handler on w.
func (t *StreamTask[In, Out]) Bind(w *Worker) error {
	return w.Handle(t.name, func(ctx context.Context, call *Call) ([]byte, error) {
		var in In
		if err := call.Codec.Unmarshal(call.Data, &in); err != nil {
			return nil, &callError{kind: KindDecode, err: fmt.Errorf("decode input of %s into %T: %w", t.name, in, err)}
		}
		yield, count := Yielder[Out](ctx)
		if err := t.fn(ctx, in, yield); err != nil {
			return nil, err
		}
		return []byte(strconv.FormatUint(count(), 10)), nil
	})
}

// Yielder returns, for the streaming call running in ctx (a task or actor method ctx), the
// function that stores its next value, and a count of values stored so far. Runtimes built on
// the worker (streaming actor methods) use it. Outside a running call yield fails. With the
// call's StreamWindow(n), yield first waits until fewer than n values are unread.
func Yielder[Out any](ctx context.Context) (yield func(Out) error, count func() uint64) {
	w, _ := ctx.Value(workerKey).(*Worker)
	call := CallFromContext(ctx)
	var k uint64
	var gate *creditGate
	if w != nil && call != nil {
		gate = w.newCreditGate(call)
	}
	yield = func(v Out) error {
		if w == nil || call == nil {
			return errors.New("jetray: yield outside a running streaming call")
		}
		if gate != nil {
			if err := gate.wait(ctx, k); err != nil {
				return err
			}
		}
		data, err := call.Codec.Marshal(v)
		if err != nil {
			return &callError{kind: KindEncode, err: fmt.Errorf("encode value %d of %s: %w", k, call.Name, err)}
		}
		if err := w.publishItem(ctx, call, k, data); err != nil {
			return err
		}
		k++
		return nil
	}
	return yield, func() uint64 { return k }
}

// SubmitStream is Submit for a streaming call: values arrive on the returned stream.
func SubmitStream[Out any](ctx context.Context, c *Client, req Request, in any) *futures.Stream[Out] {
	if req.ID == "" {
		req.ID = c.ids.next()
	}
	st, w := futures.NewStream[Out](req.ID)
	s := &streamSink[Out]{w: w}
	data, err := c.cfg.codec.Marshal(in)
	if err != nil {
		s.fail(fmt.Errorf("jetray: encode input of %s: %w", req.Name, err))
		return st
	}
	cfg := defaultTaskConfig()
	cfg.MaxRetries = 0
	for _, o := range req.Options {
		o(&cfg)
	}
	if cfg.IdempotencyKey != "" {
		s.fail(errKeyUnsupported("streaming calls"))
		return st
	}
	if err := c.readyWindow(&cfg); err != nil {
		s.fail(err)
		return st
	}
	spec := callSpec{name: req.Name, subject: req.route.Subject, id: req.ID, data: data, cfg: &cfg,
		parent: parentID(ctx), header: req.Header, unregistered: req.route.Unregistered}
	if spec.subject == "" {
		spec.subject = c.names.TaskSubject(req.Name, wire.TaskRoute{})
	}
	c.submit(ctx, spec, s)
	return st
}

// StreamWindow bounds the values of a streaming call (NewStreamTask, actors.StreamMethod)
// yielded and not yet read by its caller to n, as Ray's generator backpressure
// (_generator_backpressure_num_objects) does: the producer's yield waits while n values are
// unread, until the caller's Next reads one (it then lets about n/4 more through at once) or
// the call's ctx ends (Cancel, Timeout), when yield returns the ctx error. So the caller's
// stream buffer holds at most n values. Default 0: no bound, the values wait on the caller
// without limit (Ray's default too; see docs/architecture.md, "Stream windows", for why). A
// producer whose caller's client does not answer (closed, gone) goes on without the bound
// after WithStreamReaderGrace. Values below 0 mean 0. Set it per task (NewStreamTask), per
// call (Options) or per actor stream method; calls that do not stream ignore it.
func StreamWindow(n int) TaskOption { return func(c *taskConfig) { c.StreamWindow = max(n, 0) } }

// readyWindow makes sure this client answers the credit requests of a call with cfg's window.
func (c *Client) readyWindow(cfg *taskConfig) error {
	if cfg.StreamWindow <= 0 {
		return nil
	}
	if c.closed.Load() {
		return ErrClosed
	}
	return c.credits()
}

// publishItem stores item k of a streaming call and waits for the broker's acknowledgement.
// Like a result, it carries no Nats-Msg-Id: the expected-sequence check refuses a second
// value k, a republish of this one included.
func (w *Worker) publishItem(ctx context.Context, call *Call, k uint64, data []byte) error {
	h := make(nats.Header, 2) // no Jetray-Id: the reader takes the call ID from the subject
	onlyFirst(h)
	if n := call.Codec.Name(); n != "json" {
		h[wire.HeaderCodec] = []string{n}
	}
	_, err := w.js.PublishMsg(ctx, &nats.Msg{Subject: w.c.names.ResultItemSubject(call.ID, k), Header: h, Data: data})
	if alreadyAnswered(err) {
		return nil // value k is stored already, by an earlier attempt: the first one stands
	}
	if err != nil {
		return fmt.Errorf("jetray: stream value %d of %s: %w", k, call.Name, err)
	}
	return nil
}

// itemSink receives the items of a streaming call.
type itemSink interface {
	sink
	item(k uint64, codec Codec, data []byte)
}

// streamSink feeds a futures.StreamWriter. Items arrive in order from the one results
// subscription; an item already seen (a retried attempt re-yielding) is skipped.
type streamSink[T any] struct {
	w    *futures.StreamWriter[T]
	next uint64
}

func (s *streamSink[T]) item(k uint64, codec Codec, data []byte) {
	if k < s.next {
		return
	}
	var v T
	if err := codec.Unmarshal(data, &v); err != nil {
		s.w.Close(fmt.Errorf("jetray: decode stream value %d into %T: %w", k, v, err))
		return
	}
	s.next = k + 1
	s.w.Send(v)
}

// resolve ends the stream after its last value.
func (s *streamSink[T]) resolve(Codec, []byte) { s.w.Close(nil) }

func (s *streamSink[T]) resolveObject(Codec, func(context.Context) ([]byte, error)) { s.w.Close(nil) }

func (s *streamSink[T]) fail(err error) { s.w.Close(err) }

func (s *streamSink[T]) notifyRead(n uint64, fn func(read uint64, end error)) { s.w.NotifyRead(n, fn) }

func (s *streamSink[T]) readCount() uint64 { return s.w.ReadCount() }
