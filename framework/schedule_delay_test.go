package framework_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/seam"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startedAt is a task that reports when each call started, by input.
func startedAt(name string) (*framework.Task[int, int], chan [2]int64) {
	ch := make(chan [2]int64, 64)
	return framework.NewTask(name, func(_ context.Context, i int) (int, error) {
		ch <- [2]int64{int64(i), time.Now().UnixNano()}
		return i * 10, nil
	}), ch
}

// waitStart waits for the start of call i and returns when it started.
func waitStart(t *testing.T, ch chan [2]int64, i int, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case s := <-ch:
			if int(s[0]) == i {
				return time.Unix(0, s[1])
			}
		case <-deadline:
			t.Fatalf("call %d did not start within %v", i, timeout)
		}
	}
}

// A delayed call runs not before its time and within a second after it, whether given as a
// delay (short and long), a start time, or a start time that has passed (at once); the
// caller's future resolves as for any call.
func TestDelayedCallRunsOnTime(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	task, starts := startedAt("delayed_on_time")
	c := connect(t, srv.ClientURL())
	runWorker(t, newWorker(t, c, nil, task))
	ctx := testCtx(t)
	tests := []struct {
		name string
		opt  func(now time.Time) (framework.TaskOption, time.Time) // the option and the earliest start
	}{
		{"delay 300ms", func(now time.Time) (framework.TaskOption, time.Time) {
			return framework.Delay(300 * time.Millisecond), now.Add(300 * time.Millisecond)
		}},
		{"delay 2.5s", func(now time.Time) (framework.TaskOption, time.Time) {
			return framework.Delay(2500 * time.Millisecond), now.Add(2500 * time.Millisecond)
		}},
		{"start at", func(now time.Time) (framework.TaskOption, time.Time) {
			at := now.Add(1700 * time.Millisecond)
			return framework.StartAt(at), at
		}},
		{"start at in the past", func(now time.Time) (framework.TaskOption, time.Time) {
			return framework.StartAt(now.Add(-time.Hour)), now
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			opt, due := tt.opt(now)
			f := task.Options(opt).Remote(ctx, c, i)
			started := waitStart(t, starts, i, 30*time.Second)
			if started.Before(due) {
				t.Fatalf("started %v before its time", due.Sub(started))
			}
			if late := started.Sub(due); late > time.Second {
				t.Fatalf("started %v after its time", late)
			} else {
				t.Logf("started %v after its time", late)
			}
			if v, err := f.Await(ctx); err != nil || v != i*10 {
				t.Fatalf("future = %d, %v", v, err)
			}
		})
	}
}

// A delayed call is held by the broker, not by a process: it runs after a broker restart on
// the same store (one due while the broker is down runs when it is back, one due later runs
// at its time), after its worker stopped and another started, and after its submitter
// exited; its result is then read by ID from another client.
func TestDelayedCallSurvivesRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a broker")
	}
	b := startRestartable(t)
	task, starts := startedAt("delayed_restarts")
	ctx := testCtx(t)

	driver := connect(t, b.URL())
	w1 := runWorker(t, newWorker(t, connect(t, b.URL()), nil, task))
	if _, err := task.Remote(ctx, driver, 0).Await(ctx); err != nil { // w1 is serving
		t.Fatal(err)
	}
	submitted := time.Now()
	task.Options(framework.Delay(2*time.Second)).Remote(ctx, driver, 1)
	task.Options(framework.Delay(6*time.Second)).Remote(ctx, driver, 2)
	byGone := task.Options(framework.Delay(7*time.Second)).Remote(ctx, driver, 3)
	id3 := byGone.ID()
	if err := driver.JetStream().Conn().FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The worker stops and the broker goes down before any call is due.
	if err := w1.stop(t, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	b.stop()
	<-time.After(time.Until(submitted.Add(3 * time.Second))) // the first call falls due while the broker is down
	b.start(t)
	// The submitter exits; a new worker on a new client serves the calls.
	if err := driver.Close(); err != nil {
		t.Fatal(err)
	}
	runWorker(t, newWorker(t, connect(t, b.URL()), nil, task))
	for _, tc := range []struct {
		i   int
		due time.Time
	}{{1, submitted.Add(2 * time.Second)}, {2, submitted.Add(6 * time.Second)}, {3, submitted.Add(7 * time.Second)}} {
		started := waitStart(t, starts, tc.i, 60*time.Second)
		if started.Before(tc.due) {
			t.Errorf("call %d started %v before its time", tc.i, tc.due.Sub(started))
		}
		t.Logf("call %d started %v after its time", tc.i, started.Sub(tc.due))
	}
	reader := connect(t, b.URL())
	var v int
	if err := reader.Resolve(ctx, id3, &v); err != nil || v != 30 {
		t.Fatalf("Resolve(%s) = %d, %v", id3, v, err)
	}
}

// Cancelling a delayed call removes its schedule: it is never stored on its task's queue and
// never runs, and its future fails with ErrCancelled.
func TestCancelDelayedCall(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	task, starts := startedAt("delayed_cancel")
	c := connect(t, srv.ClientURL())
	runWorker(t, newWorker(t, c, nil, task))
	ctx := testCtx(t)
	f := task.Options(framework.Delay(time.Second)).Remote(ctx, c, 1)
	if err := framework.Cancel(ctx, c, f); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Await(ctx); !errors.Is(err, framework.ErrCancelled) {
		t.Fatalf("Await = %v, want ErrCancelled", err)
	}
	s, err := c.JetStream().Stream(ctx, c.Names().TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("jetray.task._delay.*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.State.Subjects) != 0 {
		t.Fatalf("schedules of delayed calls left: %v", info.State.Subjects)
	}
	// A second call, due after the first would have been, shows the first never ran.
	f2 := task.Options(framework.Delay(1500*time.Millisecond)).Remote(ctx, c, 2)
	if _, err := f2.Await(ctx); err != nil {
		t.Fatal(err)
	}
	for len(starts) > 0 {
		if s := <-starts; s[0] == 1 {
			t.Fatal("the cancelled call ran")
		}
	}
}

// A tasks stream made without message schedules (by an admin, or a build before them) is
// given them by the first client allowed to update it; a client that is not allowed fails
// its delayed calls and schedule declarations with ErrSchedulesDisabled, publishing nothing,
// and its plain calls work as before.
func TestSchedulesDisabled(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{Options: &server.Options{Users: []*server.User{
		{Username: "admin", Password: "a"},
		{Username: "app", Password: "b", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$JS.API.STREAM.UPDATE.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{">"}}}},
	}}})
	ctx := testCtx(t)
	admin := framework.WithNATSOptions(nats.UserInfo("admin", "a"))
	app := []framework.Option{framework.WithNATSOptions(nats.UserInfo("app", "b"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})),
		framework.WithRequestTimeout(time.Second)}
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("admin", "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "JETRAY_TASKS", Subjects: []string{"jetray.task.>"},
		Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatal(err)
	}
	task, _ := startedAt("no_schedules")
	c := connect(t, srv.ClientURL(), app...)
	runWorker(t, newWorker(t, c, nil, task))
	if _, err := task.Options(framework.Delay(time.Second)).Remote(ctx, c, 1).Await(ctx); !errors.Is(err, framework.ErrSchedulesDisabled) {
		t.Fatalf("delayed call = %v, want ErrSchedulesDisabled", err)
	}
	if err := task.Schedule(ctx, c, "s", framework.Every(time.Second), 1); !errors.Is(err, framework.ErrSchedulesDisabled) {
		t.Fatalf("Schedule = %v, want ErrSchedulesDisabled", err)
	}
	if v, err := task.Remote(ctx, c, 2).Await(ctx); err != nil || v != 20 {
		t.Fatalf("plain call = %d, %v", v, err)
	}
	connect(t, srv.ClientURL(), admin)
	s, err := js.Stream(ctx, "JETRAY_TASKS")
	if err != nil {
		t.Fatal(err)
	}
	if !s.CachedInfo().Config.AllowMsgSchedules {
		t.Fatal("the admin's client did not allow schedules")
	}
	c2 := connect(t, srv.ClientURL(), app...)
	if v, err := task.Options(framework.Delay(100*time.Millisecond)).Remote(ctx, c2, 3).Await(ctx); err != nil || v != 30 {
		t.Fatalf("delayed call once allowed = %d, %v", v, err)
	}
}

// A delay on a call that is not a task call (an actor method's subject) fails its future and
// publishes nothing.
func TestDelayOnlyForTaskCalls(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)
	req := framework.Request{Name: "Counter.incr", Options: []framework.TaskOption{framework.Delay(time.Second)}}
	seam.SetRoute.(func(*framework.Request, seam.Route))(&req, seam.Route{Subject: "jetray.actor.c1.1.incr", Unregistered: true})
	if _, err := framework.Submit[int](ctx, c, req, 1).Await(ctx); err == nil || !strings.Contains(err.Error(), "only task calls") {
		t.Fatalf("delayed actor call = %v", err)
	}
}

// A delayed call's deadlines count from its start time, not from its submission: a
// StartWithin shorter than the delay does not fail it, and the call runs at its time.
func TestDelayedCallDeadlinesCountFromStart(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	task, starts := startedAt("delayed_deadline")
	c := connect(t, srv.ClientURL())
	runWorker(t, newWorker(t, c, nil, task))
	ctx := testCtx(t)
	due := time.Now().Add(2 * time.Second)
	f := task.Options(framework.StartAt(due), framework.StartWithin(time.Second), framework.FinishWithin(5*time.Second)).Remote(ctx, c, 1)
	if v, err := f.Await(ctx); err != nil || v != 10 {
		t.Fatalf("delayed call with deadlines = %d, %v", v, err)
	}
	if started := waitStart(t, starts, 1, time.Second); started.Before(due) {
		t.Fatalf("started %v before its time", due.Sub(started))
	}
}
