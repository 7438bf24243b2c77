package framework

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/wire"
)

// Task is a remote function with a stable wire name, an input type and an output type.
// Define tasks once (package-level variables are fine), register them on workers, and call
// them from any client. A Task is immutable; Options returns a modified copy.
type Task[In, Out any] struct {
	name string
	fn   func(context.Context, In) (Out, error)
	cfg  taskConfig
}

// NewTask defines a task. name is its wire identity (see ValidName): keep it stable across
// deploys even if fn's Go name changes. An invalid name is reported by Worker.Register and by
// every Remote call, not here.
func NewTask[In, Out any](name string, fn func(context.Context, In) (Out, error), opts ...TaskOption) *Task[In, Out] {
	t := &Task[In, Out]{name: name, fn: fn, cfg: defaultTaskConfig()}
	for _, o := range opts {
		o(&t.cfg)
	}
	return t
}

// Name returns the task's wire name.
func (t *Task[In, Out]) Name() string { return t.name }

// Options returns a copy of t with opts applied on top of t's options, for one call or a
// family of calls: Add.Options(framework.Timeout(time.Second)).Remote(ctx, c, in).
func (t *Task[In, Out]) Options(opts ...TaskOption) *Task[In, Out] {
	cp := *t
	for _, o := range opts {
		o(&cp.cfg)
	}
	return &cp
}

// Remote submits one call of t with input in and returns its future at once; it never waits
// for the task to run (only, under backpressure, for the broker to accept the call). Every
// failure is reported through the future: ErrUnknownTask when no worker registered the name
// within the client's unknown-name grace (WithUnknownNameGrace; the call is held meanwhile),
// ErrInvalidName, an encoding error, ErrClosed, ErrDeadline (StartWithin, FinishWithin),
// ErrIdempotencyConflict (IdempotencyKey), or ctx's error if ctx ended first. ctx bounds the
// submission only: the call keeps running when ctx ends afterwards. With an IdempotencyKey
// already held, the future is that earlier call's (its ID).
func (t *Task[In, Out]) Remote(ctx context.Context, c *Client, in In) *futures.Future[Out] {
	id := c.ids.next()
	p := futures.NewPromise[Out](id)
	if err := ValidName(t.name); err != nil {
		p.Reject(err)
		return p.Future()
	}
	data, err := c.cfg.codec.Marshal(in)
	if err != nil {
		p.Reject(fmt.Errorf("jetray: encode input of %s: %w", t.name, err))
		return p.Future()
	}
	if key := t.cfg.IdempotencyKey; key != "" {
		if f, done := keyed[Out](ctx, c, key, t.name, id, data); done {
			return f
		}
	}
	c.submit(ctx, callSpec{
		name: t.name, subject: c.names.TaskSubject(t.name, wire.TaskRoute{}), id: id, data: data, cfg: &t.cfg,
		parent: parentID(ctx),
	}, promiseSink[Out]{p})
	return p.Future()
}

// Bind registers t's handler on w; Worker.Register calls it.
func (t *Task[In, Out]) Bind(w *Worker) error {
	return w.Handle(t.name, t.invoke)
}

// invoke decodes the input, runs fn and encodes the output.
func (t *Task[In, Out]) invoke(ctx context.Context, call *Call) ([]byte, error) {
	var in In
	if err := call.Codec.Unmarshal(call.Data, &in); err != nil {
		return nil, &callError{kind: KindDecode, err: fmt.Errorf("decode input of %s into %T: %w", t.name, in, err)}
	}
	out, err := t.fn(ctx, in)
	if err != nil {
		return nil, err
	}
	data, err := call.Codec.Marshal(out)
	if err != nil {
		return nil, &callError{kind: KindEncode, err: fmt.Errorf("encode output of %s: %w", t.name, err)}
	}
	return data, nil
}

// callError is a failure with a TaskError kind other than KindError.
type callError struct {
	kind  Kind
	err   error
	stack string // for KindPanic
}

func (e *callError) Error() string { return e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// TaskOption configures a task's calls. Options travel with each call in its headers, as one
// serialisable value (internal/wire.CallOptions, with its defaults in one place).
type TaskOption func(*taskConfig)

// taskConfig is what the TaskOptions set: the call options that travel in headers, and the
// route (priority and placement) that decides the call's subject (placement.go).
type taskConfig struct {
	wire.CallOptions
	route callRoute
}

// defaultTaskConfig returns the default call options: 3 retries, backoff 100 ms to 10 s, no
// timeout, normal priority, no placement.
func defaultTaskConfig() taskConfig { return taskConfig{CallOptions: wire.DefaultCallOptions()} }

// MaxRetries sets how many times a call is retried after system failures (its worker died,
// its ack was lost). Default 3; -1 retries forever; 0 runs at most one attempt to completion.
func MaxRetries(n int) TaskOption { return func(c *taskConfig) { c.MaxRetries = max(n, -1) } }

// RetryErrors makes application errors (the task returned an error) retried too, within
// MaxRetries, waiting per Backoff. Default: application errors are never retried. An error
// wrapped with Permanent is never retried. With codes, only the errors carrying one of those
// user error codes (RegisterError, WithCode) are retried; codes that are not valid error codes
// are ignored, and if none is left every application error is retried.
func RetryErrors(codes ...string) TaskOption {
	valid := make([]string, 0, len(codes))
	for _, c := range codes {
		if wire.ValidErrorCode(c) == nil && !slices.Contains(valid, c) {
			valid = append(valid, c)
		}
	}
	list := strings.Join(valid, ",")
	return func(c *taskConfig) { c.RetryErrors, c.RetryCodes = true, list }
}

// Backoff sets the wait between attempts after an application error: exponential from min
// to max with jitter. Default 100 ms to 10 s.
func Backoff(min, max time.Duration) TaskOption {
	return func(c *taskConfig) {
		if min > 0 {
			c.BackoffMin = min
		}
		if max >= c.BackoffMin {
			c.BackoffMax = max
		}
	}
}

// Timeout bounds each attempt: the task's ctx carries the deadline and the call fails with a
// TaskError of KindTimeout (errors.Is context.DeadlineExceeded) if the task has not returned
// when it passes. Default: none. The wire carries milliseconds: a positive d under 1 ms
// counts as 1 ms.
func Timeout(d time.Duration) TaskOption {
	return func(c *taskConfig) {
		switch {
		case d <= 0:
			c.Timeout = 0
		case d < time.Millisecond:
			c.Timeout = time.Millisecond
		default:
			c.Timeout = d
		}
	}
}

// Permanent marks err as not worth retrying: a task returning it fails at once even with
// RetryErrors. errors.Is and errors.As see through it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
