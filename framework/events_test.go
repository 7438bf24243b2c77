package framework_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
)

var (
	eventsOK   = framework.NewTask("events_ok", func(ctx context.Context, n int) (int, error) { return n, nil })
	eventsFail = framework.NewTask("events_fail", func(ctx context.Context, n int) (int, error) {
		return 0, framework.Permanent(errors.New("boom\nsecond line"))
	})
	// eventsOdd fails with text that is not valid in a JSON string as written: control
	// characters, a quote, a backslash and invalid UTF-8.
	eventsOdd = framework.NewTask("events_odd", func(ctx context.Context, n int) (int, error) {
		return 0, framework.Permanent(errors.New(oddErrorText))
	})
)

const oddErrorText = "bad\x00 \x01byte \x1f\"quoted\" \\ \xff\xfe<tag>&\u2028 end\nsecond line"

// waitEvents polls TaskEvents until want calls have a terminal state.
func waitEvents(t *testing.T, c *framework.Client, want int) map[string]framework.TaskEvent {
	t.Helper()
	ctx := testCtx(t)
	for {
		evs, err := framework.TaskEvents(ctx, c, 0)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]framework.TaskEvent{}
		done := 0
		for _, e := range evs {
			byID[e.ID] = e
			if e.State == framework.TaskFinished || e.State == framework.TaskFailed {
				done++
			}
		}
		if done >= want {
			return byID
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d calls recorded as done: %+v", done, want, evs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestTaskEvents(t *testing.T) {
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithWorkerName("ev-worker")}, eventsOK, eventsFail)
	ctx := testCtx(t)
	ok := eventsOK.Remote(ctx, env.Client, 1)
	bad := eventsFail.Remote(ctx, env.Client, 2)
	if _, err := ok.Await(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Await(ctx); err == nil {
		t.Fatal("events_fail succeeded")
	}
	byID := waitEvents(t, env.Client, 2)
	tests := []struct {
		name        string
		id          string
		task, state string
		kind        framework.Kind
		errorText   string
	}{
		{"finished", ok.ID(), "events_ok", framework.TaskFinished, "", ""},
		{"failed", bad.ID(), "events_fail", framework.TaskFailed, framework.KindError, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, found := byID[tt.id]
			if !found {
				t.Fatalf("no event for %s in %+v", tt.id, byID)
			}
			if e.Name != tt.task || e.State != tt.state || e.ErrorKind != tt.kind || e.Error != tt.errorText ||
				e.Attempt != 1 || e.Worker != "ev-worker" || e.Started.IsZero() || e.Time.Before(e.Started) {
				t.Errorf("event %+v; want name %s state %s kind %q error %q, attempt 1 on ev-worker", e, tt.task, tt.state, tt.kind, tt.errorText)
			}
		})
	}
	if evs, err := framework.TaskEvents(ctx, env.Client, 1); err != nil || len(evs) != 1 {
		t.Errorf("TaskEvents limit 1 = %d events, %v", len(evs), err)
	}
}

// TestTaskEventsOddErrorText: an error text with control characters and invalid UTF-8 is
// recorded, and TaskEvents (what `driver list tasks` and the dashboard read) returns it, with
// each invalid byte replaced by U+FFFD.
func TestTaskEventsOddErrorText(t *testing.T) {
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithWorkerName("ev\x01worker")}, eventsOdd)
	ctx := testCtx(t)
	f := eventsOdd.Remote(ctx, env.Client, 1)
	if _, err := f.Await(ctx); err == nil {
		t.Fatal("events_odd succeeded")
	}
	e, found := waitEvents(t, env.Client, 1)[f.ID()]
	if !found {
		t.Fatalf("no event for %s", f.ID())
	}
	want := "bad\x00 \x01byte \x1f\"quoted\" \\ \ufffd\ufffd<tag>&\u2028 end"
	if e.State != framework.TaskFailed || e.ErrorKind != framework.KindError || e.Error != want ||
		e.Name != "events_odd" || e.Worker != "ev\x01worker" {
		t.Errorf("event %+v; want FAILED, kind error, error %q", e, want)
	}
}

func TestTaskEventsOff(t *testing.T) {
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithTaskEvents(false)}, eventsOK)
	ctx := testCtx(t)
	if _, err := eventsOK.Remote(ctx, env.Client, 1).Await(ctx); err != nil {
		t.Fatal(err)
	}
	// The result was published after the (absent) events would have been: a flush makes any
	// event published before it visible.
	if err := env.Client.Conn().FlushWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := framework.TaskEvents(ctx, env.Client, 0)
	if err != nil || len(evs) != 0 {
		t.Fatalf("events with recording off: %+v, %v", evs, err)
	}
}

// TestTaskEventsRunning: a call still running after RunningEventDelay is recorded as RUNNING
// (by the worker's sweep), with its start; its answer then replaces that with FINISHED.
func TestTaskEventsRunning(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := framework.NewTask("events_slow", func(ctx context.Context, n int) (int, error) {
		started <- struct{}{}
		select {
		case <-release:
			return n, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithWorkerName("ev-worker")}, slow)
	ctx := testCtx(t)
	f := slow.Remote(ctx, env.Client, 3)
	recv(t, started, 30*time.Second, "the call to start")
	stateOf := func() framework.TaskEvent {
		evs, err := framework.TaskEvents(ctx, env.Client, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.ID == f.ID() {
				return e
			}
		}
		return framework.TaskEvent{}
	}
	var e framework.TaskEvent
	for e = stateOf(); e.State != framework.TaskRunning; e = stateOf() {
		if e.State != "" {
			close(release)
			t.Fatalf("event %+v while the call runs; want RUNNING", e)
		}
		select {
		case <-ctx.Done():
			close(release)
			t.Fatal("no RUNNING event while the call runs")
		case <-time.After(20 * time.Millisecond):
		}
	}
	close(release)
	if e.Worker != "ev-worker" || e.Attempt != 1 || e.Started.IsZero() || e.Time.Sub(e.Started) < framework.RunningEventDelay {
		t.Errorf("RUNNING event %+v; want attempt 1 on ev-worker, recorded %v or more after its start", e, framework.RunningEventDelay)
	}
	if _, err := f.Await(ctx); err != nil {
		t.Fatal(err)
	}
	if e := waitEvents(t, env.Client, 1)[f.ID()]; e.State != framework.TaskFinished {
		t.Errorf("event after the answer %+v; want FINISHED", e)
	}
}

// BenchmarkTaskAsyncEvents is BenchmarkTaskAsync with task state recording on and off.
func BenchmarkTaskAsyncEvents(b *testing.B) {
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "on", false: "off"}[on]
		b.Run(name, func(b *testing.B) {
			c := frameworktest.NewEnv(b, []framework.WorkerOption{framework.WithConcurrency(16), framework.WithTaskEvents(on)}, benchEcho).Client
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			fs := make([]*futures.Future[int], b.N)
			for i := range fs {
				fs[i] = benchEcho.Remote(ctx, c, i)
			}
			if _, err := futures.Gather(ctx, fs...); err != nil {
				b.Fatal(err)
			}
		})
	}
}
