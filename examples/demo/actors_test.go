package demo_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

func TestCounter(t *testing.T) {
	c := frameworktest.New(t, demo.Catalog()...)
	ctx := testCtx(t)
	h := demo.CounterClass.Remote(ctx, c, demo.CounterInput{Start: 5})
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		call func() (int, error)
		want int
	}{
		{"incr", func() (int, error) { return demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 2}).Await(ctx) }, 7},
		{"incr negative", func() (int, error) { return demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: -10}).Await(ctx) }, -3},
		{"get", func() (int, error) { return demo.CounterGet.Remote(ctx, h, nil).Await(ctx) }, -3},
		{"counter_add from a task", func() (int, error) {
			return demo.CounterAdd.Remote(ctx, c, demo.CounterAddInput{Counter: h, By: 100}).Await(ctx)
		}, 97},
		{"get after the task", func() (int, error) { return demo.CounterGet.Remote(ctx, h, json.RawMessage(`{}`)).Await(ctx) }, 97},
	}
	for _, st := range steps { // in order: each step sees the one before
		v, err := st.call()
		if err != nil || v != st.want {
			t.Fatalf("%s = %d, %v; want %d", st.name, v, err, st.want)
		}
	}

	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1}).Await(ctx); !errors.Is(err, actors.ErrActorDied) {
		t.Fatalf("incr on a killed actor: err = %v, want ErrActorDied", err)
	}
	// Inside the task the call failed with ErrActorDied; the task's own error reaches the
	// caller as a TaskError whose message says so.
	_, err := demo.CounterAdd.Remote(ctx, c, demo.CounterAddInput{Counter: h, By: 1}).Await(ctx)
	var te *framework.TaskError
	if !errors.As(err, &te) || !strings.Contains(te.Message, actors.ErrActorDied.Error()) {
		t.Fatalf("counter_add on a killed actor: err = %v, want a TaskError naming ErrActorDied", err)
	}
	_, err = demo.CounterAdd.Remote(ctx, c, demo.CounterAddInput{By: 1}).Await(ctx)
	if !errors.As(err, &te) || !strings.Contains(te.Message, `no "counter" handle`) {
		t.Fatalf("counter_add without a handle: err = %v", err)
	}
}

// The handle travels as JSON: a driver without Go types can pass one to counter_add.
func TestCounterAddRawHandle(t *testing.T) {
	c := frameworktest.New(t, demo.Catalog()...)
	ctx := testCtx(t)
	h := demo.CounterClass.Remote(ctx, c, demo.CounterInput{})
	handle, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := raw(ctx, c, "counter_add", `{"counter":`+string(handle)+`,"by":3}`)
	if err != nil || got != "3" {
		t.Fatalf("counter_add = %s, %v; want 3", got, err)
	}
}

// lockedBuffer is a strings.Builder safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestAsyncActorPrintsToCatalogOutput(t *testing.T) {
	var out lockedBuffer
	c := frameworktest.New(t, demo.CatalogWithOutput(&out)...)
	ctx := testCtx(t)
	h := demo.AsyncActor.AsyncActor.Remote(ctx, c, struct{}{})
	if h.MaxConcurrency() != 1000 {
		t.Errorf("max_concurrency = %d, want 1000", h.MaxConcurrency())
	}
	if _, err := demo.AsyncActor.RunTask.Remote(ctx, h, struct{}{}).Await(ctx); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "started\nended\n" {
		t.Fatalf("worker output = %q, want started and ended lines", got)
	}
	st, err := demo.AsyncActor.Stats.Remote(ctx, h, struct{}{}).Await(ctx)
	if err != nil || st.Started != 1 || st.Ended != 1 {
		t.Fatalf("stats = %+v, %v", st, err)
	}
}
