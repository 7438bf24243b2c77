package faulttest

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
)

// Requirement 8: a driver submitting far faster than workers consume stays within bounded
// memory. No worker runs (the name is registered, so calls are accepted and wait in
// JETRAY_TASKS); the driver submits 200,000 calls with WithMaxPendingPublishes(64). The
// broker is a separate process, so the heap measured is the driver's alone: unacknowledged
// publishes never exceed the bound, and each pending future costs less than 4 KiB (issue 6's
// target is 1 KiB). TestBackpressureActorPendingCalls covers actor handles.
func TestBackpressureBoundedMemory(t *testing.T) {
	const maxPending = 64
	_, c, ctx := startBroker(t, 2*time.Minute, framework.WithMaxPendingPublishes(maxPending))
	// Register the name without running the worker: the driver runs far ahead of a stopped
	// consumer.
	if err := framework.NewWorker(c).Register(demo.Add); err != nil {
		t.Fatal(err)
	}

	js := c.JetStream()
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // samples unacknowledged publishes while the driver submits
		defer close(sampled)
		for {
			if n := int64(js.PublishAsyncPending()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()

	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	const n = 200_000
	fs := make([]*futures.Future[int], 0, n)
	base := heap()
	start := time.Now()
	perFuture := map[int]float64{}
	for _, upTo := range []int{n / 2, n} {
		for i := len(fs); i < upTo; i++ {
			fs = append(fs, demo.Add.Remote(ctx, c, demo.AddInput{A: i, B: 1}))
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			t.Fatal("publishes not acknowledged")
		}
		perFuture[upTo] = float64(heap()-base) / float64(upTo)
		t.Logf("%d futures pending after %s: driver heap +%.1f MiB, %.0f bytes per pending future",
			upTo, time.Since(start).Round(time.Millisecond), perFuture[upTo]*float64(upTo)/(1<<20), perFuture[upTo])
	}
	close(stop)
	<-sampled
	t.Logf("peak unacknowledged publishes: %d (bound %d)", peak.Load(), maxPending)
	if p := peak.Load(); p > maxPending {
		t.Errorf("%d publishes were unacknowledged at once; WithMaxPendingPublishes(%d) should bound them", p, maxPending)
	}
	if p := c.Pending(); p != n {
		t.Errorf("client has %d pending calls, want %d", p, n)
	}
	for upTo, b := range perFuture {
		if b > 4096 {
			t.Errorf("%.0f bytes per pending future with %d pending; want < 4 KiB", b, upTo)
		}
	}
	for i, f := range fs {
		if f.Resolved() {
			t.Fatalf("future %d resolved with no worker running: %v", i, f.Err())
		}
	}
	runtime.KeepAlive(fs)
}

// Requirement 8, actors: a driver calling a Counter actor (on a worker process) far faster
// than it answers, through a handle with MaxPendingCalls(64). Remote fails at once with
// ErrPendingCallsLimit past 64 unresolved calls; the driver then waits for its oldest call and
// tries again. The handle never has more than 64 calls pending and every accepted call runs.
func TestBackpressureActorPendingCalls(t *testing.T) {
	url, c, ctx := startBroker(t, 2*time.Minute)
	testsupport.StartWorker(t, url, "pending-w", "-concurrency", "2")

	const limit, n = 64, 2000
	h := demo.CounterClass.Options(actors.MaxPendingCalls(limit)).Remote(ctx, c, demo.CounterInput{})
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	var queue []*futures.Future[int] // accepted, oldest first
	rejected, peak := 0, 0
	start := time.Now()
	for sent := 0; sent < n; {
		f := demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1})
		if f.Resolved() && errors.Is(f.Err(), actors.ErrPendingCallsLimit) {
			rejected++
			if _, err := queue[0].Await(ctx); err != nil {
				t.Fatalf("incr: %v", err)
			}
			queue = queue[1:]
			continue
		}
		queue = append(queue, f)
		sent++
		peak = max(peak, h.Pending())
	}
	vals, err := futures.Gather(ctx, queue...)
	if err != nil {
		t.Fatal(err)
	}
	if got := vals[len(vals)-1]; got != n {
		t.Errorf("last incr returned %d, want %d", got, n)
	}
	t.Logf("%d calls in %s; Remote refused %d times with ErrPendingCallsLimit; peak pending %d (limit %d)",
		n, time.Since(start).Round(time.Millisecond), rejected, peak, limit)
	if peak > limit {
		t.Errorf("handle had %d calls pending, past MaxPendingCalls(%d)", peak, limit)
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("%d calls of one actor took %s; a stalled consumer (30 s pull expiry)?", n, d)
	}
	if rejected == 0 {
		t.Errorf("Remote never refused a call; the driver should outrun one actor")
	}
	if p := h.Pending(); p != 0 {
		t.Errorf("handle has %d pending calls after every future resolved", p)
	}
}
