package framework_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// A call to a name nobody has registered yet waits on its client; a worker that registers
// the name within the grace takes it. Remote itself returned at once.
func TestUnknownNameGraceWorkerComesLate(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL(), framework.WithUnknownNameGrace(30*time.Second))
	ctx := testCtx(t)
	late := framework.NewTask("grace_late", func(_ context.Context, n int) (int, error) { return n * 2, nil })

	start := time.Now()
	fs := []*futures.Future[int]{late.Remote(ctx, c, 1), late.Remote(ctx, c, 2)}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Remote blocked for %v", d)
	}
	if fs[0].Resolved() {
		t.Fatalf("resolved before any worker registered the name: %v", fs[0])
	}
	runWorker(t, newWorker(t, connect(t, srv.ClientURL()), nil, late))
	vals, err := futures.Gather(ctx, fs...)
	if err != nil || vals[0] != 2 || vals[1] != 4 {
		t.Fatalf("calls held until the name was registered = %v, %v", vals, err)
	}
}

// Past the grace the call fails with ErrUnknownTask and nothing was queued.
func TestUnknownNameGraceExpires(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	const grace = 400 * time.Millisecond
	c := connect(t, srv.ClientURL(), framework.WithUnknownNameGrace(grace))
	ctx := testCtx(t)
	nobody := framework.NewTask("grace_nobody", func(context.Context, int) (int, error) { return 0, nil })
	start := time.Now()
	_, err := nobody.Remote(ctx, c, 0).Await(ctx)
	if took := time.Since(start); !errors.Is(err, framework.ErrUnknownTask) || took < grace {
		t.Fatalf("err = %v after %v, want ErrUnknownTask after at least %v", err, took, grace)
	}
	s, err := c.JetStream().Stream(ctx, framework.TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("tasks stream holds %d messages (%v), want none", info.State.Msgs, err)
	}
	// With no grace, the failure is immediate, as before the grace existed.
	now := connect(t, srv.ClientURL(), framework.WithUnknownNameGrace(0))
	start = time.Now()
	if _, err := nobody.Remote(ctx, now, 0).Await(ctx); !errors.Is(err, framework.ErrUnknownTask) || time.Since(start) > 5*time.Second {
		t.Fatalf("grace 0: %v after %v", err, time.Since(start))
	}
}

// A call cancelled while it waits for its name fails at once and is never sent, even when a
// worker registers the name afterwards.
func TestUnknownNameGraceCancelled(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL(), framework.WithUnknownNameGrace(30*time.Second))
	ctx := testCtx(t)
	var runs atomic.Int32
	late := framework.NewTask("grace_cancel", func(_ context.Context, n int) (int, error) { runs.Add(1); return n, nil })
	f := late.Remote(ctx, c, 1)
	if err := framework.Cancel(ctx, c, f); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Await(ctx); !errors.Is(err, framework.ErrCancelled) {
		t.Fatalf("cancelled while waiting: %v", err)
	}
	wc := connect(t, srv.ClientURL())
	runWorker(t, newWorker(t, wc, nil, late))
	if v, err := late.Remote(ctx, c, 2).Await(ctx); err != nil || v != 2 {
		t.Fatalf("a later call = %v, %v", v, err)
	}
	if err := c.Close(); err != nil { // joins the held call's goroutine: it has sent or not
		t.Fatal(err)
	}
	cons, err := wc.JetStream().Consumer(ctx, framework.TasksStream, "task-grace_cancel")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil || info.Delivered.Consumer != 1 || info.NumPending != 0 {
		t.Fatalf("consumer delivered %d, pending %d (%v): want only the later call", info.Delivered.Consumer, info.NumPending, err)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}

// A name registered once never fails fast: with all its workers gone, its calls are queued
// and wait for the next worker.
func TestRegisteredNameWaitsForWorkers(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL(), framework.WithUnknownNameGrace(0))
	ctx := testCtx(t)
	echo := framework.NewTask("grace_echo", func(_ context.Context, n int) (int, error) { return n, nil })
	registerOnly(t, srv.ClientURL(), echo) // registered, never run
	f := echo.Remote(ctx, c, 7)
	runWorker(t, newWorker(t, connect(t, srv.ClientURL()), nil, echo))
	if v, err := f.Await(ctx); err != nil || v != 7 {
		t.Fatalf("call to a registered name with no worker = %v, %v", v, err)
	}
}
