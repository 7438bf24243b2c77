package framework_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// A worker whose Run ctx ends lets running calls finish, hands queued ones back, and returns
// nil; a later worker completes the rest. No call runs twice, since none was interrupted.
func TestDrainHandsBackQueuedCalls(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)

	const n = 40
	var mu sync.Mutex
	runs := make([]int, n) // executions per input
	started := make(chan int, 4*n)
	slow := framework.NewTask("drain_slow", func(ctx context.Context, i int) (int, error) {
		mu.Lock()
		runs[i]++
		mu.Unlock()
		started <- i
		select {
		case <-time.After(200 * time.Millisecond): // the work
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return 3 * i, nil
	})
	opts := []framework.WorkerOption{framework.WithConcurrency(4)}
	first := runWorker(t, newWorker(t, c, opts, slow))

	fs := make([]*futures.Future[int], n)
	for i := range fs {
		fs[i] = slow.Remote(ctx, c, i)
	}
	for range 6 {
		recv(t, started, 30*time.Second, "calls to start")
	}
	if err := first.stop(t, 20*time.Second); err != nil {
		t.Fatalf("Run after a clean drain = %v, want nil", err)
	}
	mu.Lock()
	ranFirst := 0
	for _, r := range runs {
		ranFirst += r
	}
	mu.Unlock()
	if ranFirst >= n {
		t.Fatalf("the first worker ran %d of %d calls; want it stopped mid-way", ranFirst, n)
	}

	runWorker(t, newWorker(t, c, opts, slow))
	vals, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatalf("gather after hand-back: %v", err)
	}
	for i, v := range vals {
		if v != 3*i {
			t.Errorf("future %d = %d, want %d", i, v, 3*i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, r := range runs {
		if r != 1 {
			t.Errorf("input %d ran %d times, want 1 (no call was interrupted)", i, r)
		}
	}
	if p := c.Pending(); p != 0 {
		t.Errorf("client has %d pending calls after every future resolved", p)
	}
	t.Logf("first worker ran %d calls before draining", ranFirst)
}

// A call still running at the drain deadline has its ctx cancelled; when it returns, Run
// reports the drain timeout and the call is handed back, and a later worker completes it.
func TestDrainTimeoutHandsBackRunningCall(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)

	release := make(chan struct{})
	cancelled := make(chan struct{})
	attempts := make(chan int, 8)
	stubborn := framework.NewTask("drain_stubborn", func(ctx context.Context, in int) (int, error) {
		call := framework.CallFromContext(ctx)
		attempts <- call.Attempt
		if call.Attempt == 1 {
			context.AfterFunc(ctx, func() { close(cancelled) })
			<-release // does not watch ctx while it works
			return 0, ctx.Err()
		}
		return in + 1, nil
	})
	opts := []framework.WorkerOption{framework.WithConcurrency(2), framework.WithDrainTimeout(500 * time.Millisecond)}
	first := runWorker(t, newWorker(t, c, opts, stubborn))
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })

	f := stubborn.Remote(ctx, c, 41)
	if a := recv(t, attempts, 30*time.Second, "the first attempt"); a != 1 {
		t.Fatalf("first attempt = %d", a)
	}
	stopAt := time.Now()
	first.cancel()
	recv(t, cancelled, 10*time.Second, "the call's ctx to be cancelled at the drain deadline")
	if d := time.Since(stopAt); d < 450*time.Millisecond {
		t.Errorf("call cancelled %v after Run's ctx ended; want after the 500ms drain timeout", d)
	}
	releaseOnce.Do(func() { close(release) })
	err := first.stop(t, 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "drain timeout") {
		t.Fatalf("Run = %v, want an error mentioning the drain timeout", err)
	}
	if f.Resolved() {
		t.Fatalf("future resolved by the draining worker: %v", f.Err())
	}

	runWorker(t, newWorker(t, c, opts, stubborn))
	v, err := f.Await(ctx)
	if err != nil || v != 42 {
		t.Fatalf("Await after hand-back = %v, %v; want 42, nil", v, err)
	}
	if a := recv(t, attempts, time.Second, "the second attempt"); a != 2 {
		t.Errorf("completing attempt = %d, want 2", a)
	}
}

// Shutdown has a deadline: a call that never returns must not keep Run from returning long
// after WithDrainTimeout.
func TestDrainTimeoutBoundsRun(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)

	release := make(chan struct{})
	started := make(chan struct{}, 1)
	stuck := framework.NewTask("drain_stuck", func(ctx context.Context, _ int) (int, error) {
		started <- struct{}{}
		<-release // ignores ctx entirely
		return 0, nil
	})
	first := runWorker(t, newWorker(t, c, []framework.WorkerOption{framework.WithDrainTimeout(500 * time.Millisecond)}, stuck))
	t.Cleanup(func() { close(release) })

	stuck.Remote(ctx, c, 1)
	recv(t, started, 30*time.Second, "the call to start")
	first.cancel()
	select {
	case <-first.done:
		if first.err == nil || !strings.Contains(first.err.Error(), "drain timeout") {
			t.Errorf("Run = %v, want an error mentioning the drain timeout", first.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10s after its ctx ended with a 500ms drain timeout")
	}
}
