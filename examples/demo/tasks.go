package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jetray/jetray/examples/asyncactor/seed"
	"github.com/jetray/jetray/framework"
)

// AddInput is the input of Add.
type AddInput struct {
	A int `json:"a"`
	B int `json:"b"`
}

// SleepInput is the input of Sleep.
type SleepInput struct {
	// MS is how long to sleep, in milliseconds.
	MS int `json:"ms"`
}

// FailInput is the input of Fail.
type FailInput struct {
	// Message becomes the message of the returned error.
	Message string `json:"message"`
}

// SomeTask is the task "some_task", Ray's canonical example: it ignores its input and
// returns 1.
var SomeTask = framework.NewTask("some_task", func(context.Context, json.RawMessage) (int, error) {
	return 1, nil
})

// Noop is the task "noop": it ignores its input and returns an empty object, which makes it
// a measure of the framework's own overhead.
var Noop = framework.NewTask("noop", func(context.Context, json.RawMessage) (struct{}, error) {
	return struct{}{}, nil
})

// Echo is the task "echo": it returns its input unchanged.
var Echo = framework.NewTask("echo", func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
	return in, nil
})

// Add is the task "add": it returns in.A + in.B.
var Add = framework.NewTask("add", func(_ context.Context, in AddInput) (int, error) {
	return in.A + in.B, nil
})

// Sleep is the task "sleep": it waits in.MS milliseconds and returns in.MS. It honours its
// context: when the call is cancelled or times out first, it returns an error wrapping the
// context's error. A negative MS is a permanent error.
var Sleep = framework.NewTask("sleep", func(ctx context.Context, in SleepInput) (int, error) {
	if in.MS < 0 {
		return 0, framework.Permanent(fmt.Errorf("sleep: negative duration %d ms", in.MS))
	}
	t := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return in.MS, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("sleep interrupted: %w", ctx.Err())
	}
})

// Fail is the task "fail": it always returns an error whose message is in.Message.
var Fail = framework.NewTask("fail", func(_ context.Context, in FailInput) (struct{}, error) {
	return struct{}{}, errors.New(in.Message)
})

// Panic is the task "panic": it always panics; the caller gets a TaskError with Panic set
// and the worker's stack.
var Panic = framework.NewTask("panic", func(context.Context, json.RawMessage) (struct{}, error) {
	panic("demo: the panic task panicked, as asked")
})

// Catalog returns every demo task and actor class, ready for Worker.Register; the
// AsyncActor's "started" and "ended" lines are discarded. Each call returns a new slice.
func Catalog() []framework.Definition {
	return CatalogWithOutput(io.Discard)
}

// CatalogWithOutput is Catalog with the AsyncActor class bound to out: the actors a worker
// serving it places print their "started" and "ended" lines there (writes are serialised).
// Each call defines a new AsyncActor class; register it on one worker only.
func CatalogWithOutput(out io.Writer) []framework.Definition {
	return []framework.Definition{SomeTask, Noop, Echo, Add, Sleep, Fail, Panic,
		CounterClass, CounterAdd, seed.NewClass(out).AsyncActor}
}
