package framework_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/seam"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/nats-io/nats.go/jetstream"
)

// tickLog records the runs of a scheduled task: the call IDs in the order they ran.
type tickLog struct {
	mu   sync.Mutex
	runs []string
}

func (l *tickLog) add(id string) {
	l.mu.Lock()
	l.runs = append(l.runs, id)
	l.mu.Unlock()
}

func (l *tickLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.runs)
}

// ticksOf returns the due times of the runs of schedule name in ids, in order, failing on any
// ID that is not one of its runs.
func ticksOf(t *testing.T, name string, ids []string) []time.Time {
	t.Helper()
	var dues []time.Time
	for _, id := range ids {
		n, due, ok := framework.ParseTickID(id)
		if !ok || n != name {
			t.Fatalf("call %q is not a run of %s", id, name)
		}
		dues = append(dues, due)
	}
	return dues
}

// tickTask returns a task that logs its call's ID and returns it.
func tickTask(name string) (*framework.Task[int, string], *tickLog) {
	l := &tickLog{}
	return framework.NewTask(name, func(ctx context.Context, _ int) (string, error) {
		id := framework.CallFromContext(ctx).ID
		l.add(id)
		return id, nil
	}), l
}

// A schedule declared by several drivers at once, and again by each of them after a broker
// restart, is one schedule: one call per run, each with its own ID, every ID run once, runs
// one interval apart and in due order before the restart, each result readable by its
// TickID; identical declarations change nothing (the stored declaration keeps its time, so
// the interval is not restarted); after DeleteSchedule no run starts.
func TestScheduleOneCallPerRun(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a broker and waits for runs")
	}
	b := startRestartable(t)
	ctx := testCtx(t)
	task, log := tickTask("tick_count")
	// Stopped while the broker runs (the restarted broker is shut down first at the end).
	rw := runWorker(t, newWorker(t, connect(t, b.URL()), nil, task))

	drivers := []*framework.Client{connect(t, b.URL()), connect(t, b.URL()), connect(t, b.URL())}
	declareAll := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, len(drivers))
		for i, d := range drivers {
			wg.Go(func() { errs[i] = task.Schedule(ctx, d, "every-second", framework.Every(time.Second), 7) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("declare: %v", err)
		}
	}
	declared := func() time.Time {
		t.Helper()
		ss, err := framework.Schedules(ctx, drivers[0])
		if err != nil || len(ss) != 1 {
			t.Fatalf("Schedules = %+v, %v; want one", ss, err)
		}
		s := ss[0]
		if s.Name != "every-second" || s.Spec != "@every 1s" || s.Task != "tick_count" || string(s.Input) != "7" {
			t.Fatalf("schedule = %+v", s)
		}
		return s.Declared
	}
	declareAll()
	first := declared()
	declareAll()
	if again := declared(); !again.Equal(first) {
		t.Fatalf("an identical declaration rewrote the schedule: stored at %v, then at %v", first, again)
	}
	distinct := func() int { return len(ticksOf(t, "every-second", log.snapshot())) }
	testsupport.WaitFor(t, time.Minute, "4 runs", func() bool { return distinct() >= 4 })

	b.stop()
	b.start(t)
	before := distinct()
	declareAll() // the drivers declare again, as restarted processes would
	if again := declared(); !again.Equal(first) {
		t.Fatalf("a declaration after the restart rewrote the schedule: stored at %v, then at %v", first, again)
	}
	testsupport.WaitFor(t, time.Minute, "3 runs after the restart", func() bool { return distinct() >= before+3 })

	if err := framework.DeleteSchedule(ctx, drivers[1], "every-second"); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	// Wait out a run already generated (queued or running) when the schedule went.
	testsupport.WaitFor(t, 30*time.Second, "runs to settle", func() bool {
		n := distinct()
		<-time.After(1500 * time.Millisecond)
		return distinct() == n
	})
	ids := log.snapshot()
	dues := ticksOf(t, "every-second", ids)
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			t.Errorf("run %s ran twice", id)
		}
		seen[id] = true
		// Runs start in due order while the broker runs; across its restart a run delivered
		// just before it went down is redelivered after its ack wait, and may start after a
		// later run (runs are calls in a work queue: once each, not in order).
		if i > 0 && i < before && !dues[i].After(dues[i-1]) {
			t.Errorf("run %d due %v, not after run %d due %v", i, dues[i], i-1, dues[i-1])
		}
		if dues[i].After(deleted.Add(time.Second)) {
			t.Errorf("run %s due after the schedule was deleted at %v", id, deleted)
		}
	}
	// Before the restart the runs are one second apart: one call per run, none missing.
	for i := 1; i < before; i++ {
		if gap := dues[i].Sub(dues[i-1]); gap != time.Second {
			t.Errorf("runs %s and %s are %v apart", ids[i-1], ids[i], gap)
		}
	}
	var out string
	if err := drivers[2].Resolve(ctx, ids[len(ids)-1], &out); err != nil || out != ids[len(ids)-1] {
		t.Fatalf("Resolve(%s) = %q, %v", ids[len(ids)-1], out, err)
	}
	t.Logf("%d runs, %d before the restart: %v", len(ids), before, ids)
	if err := rw.stop(t, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// Schedules lists what was declared (name, spec, zone, task, next run, input); a different
// declaration under a name replaces the stored one; DeleteSchedule removes one; and every
// bad declaration is refused with a clear error, storing nothing.
func TestScheduleListUpdateDelete(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{MaxPayload: 128 << 10})
	c := connect(t, srv.ClientURL())
	task, _ := tickTask("listed")
	newWorker(t, c, nil, task) // registers the name; nothing runs
	ctx := testCtx(t)
	if err := task.Schedule(ctx, c, "nightly", framework.Cron("0 0 2 * * *").In("Europe/Berlin"), 1); err != nil {
		t.Fatal(err)
	}
	if err := task.Schedule(ctx, c, "often", framework.Every(time.Hour), 2); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	ss, err := framework.Schedules(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Name != "nightly" || ss[1].Name != "often" {
		t.Fatalf("Schedules = %+v", ss)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	nightly, often := ss[0], ss[1]
	if nightly.Spec != "0 0 2 * * *" || nightly.Zone != "Europe/Berlin" || nightly.Task != "listed" || string(nightly.Input) != "1" ||
		nightly.Codec != "json" {
		t.Errorf("nightly = %+v", nightly)
	}
	if n := nightly.Next.In(berlin); n.Hour() != 2 || n.Minute() != 0 || !n.After(before) || n.Sub(before) > 25*time.Hour {
		t.Errorf("nightly next run %v", n)
	}
	if often.Spec != "@every 1h0m0s" || often.Zone != "" || string(often.Input) != "2" {
		t.Errorf("often = %+v", often)
	}
	if want := often.Declared.Round(time.Second).Add(time.Hour); !often.Next.Equal(want) {
		t.Errorf("often next run %v, want %v", often.Next, want)
	}

	if err := task.Options(framework.MaxRetries(5)).Schedule(ctx, c, "often", framework.Every(time.Hour), 2); err != nil {
		t.Fatal(err)
	}
	if err := task.Schedule(ctx, c, "nightly", framework.Cron("0 0 2 * * *").In("Europe/Berlin"), 3); err != nil {
		t.Fatal(err)
	}
	ss, _ = framework.Schedules(ctx, c)
	if string(ss[0].Input) != "3" || ss[0].Declared.Equal(nightly.Declared) || ss[1].Declared.Equal(often.Declared) {
		t.Fatalf("changed declarations not stored: %+v", ss)
	}

	bad := []struct {
		name string
		err  func() error
		want error
	}{
		{"bad name", func() error { return task.Schedule(ctx, c, "a.b", framework.Every(time.Second), 1) }, framework.ErrInvalidName},
		{"sub-second interval", func() error { return task.Schedule(ctx, c, "x", framework.Every(500*time.Millisecond), 1) }, framework.ErrInvalidSchedule},
		{"fractional interval", func() error { return task.Schedule(ctx, c, "x", framework.Every(1500*time.Millisecond), 1) }, framework.ErrInvalidSchedule},
		{"five cron fields", func() error { return task.Schedule(ctx, c, "x", framework.Cron("0 2 * * *"), 1) }, framework.ErrInvalidSchedule},
		{"zone on an interval", func() error { return task.Schedule(ctx, c, "x", framework.Every(time.Minute).In("UTC"), 1) }, framework.ErrInvalidSchedule},
		{"unknown zone", func() error { return task.Schedule(ctx, c, "x", framework.Cron("@daily").In("Mars/Base"), 1) }, framework.ErrInvalidSchedule},
		{"unknown task", func() error {
			return framework.NewTask("nobody", func(context.Context, int) (int, error) { return 0, nil }).Schedule(ctx, c, "x", framework.Every(time.Second), 1)
		}, framework.ErrUnknownTask},
		{"delayed runs", func() error {
			return task.Options(framework.Delay(time.Second)).Schedule(ctx, c, "x", framework.Every(time.Second), 1)
		}, nil},
	}
	for _, tt := range bad {
		err := tt.err()
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	big := framework.NewTask("listed_big", func(context.Context, string) (int, error) { return 0, nil })
	newWorker(t, c, nil, big)
	if err := big.Schedule(ctx, c, "x", framework.Every(time.Second), strings.Repeat("x", 100<<10)); err == nil ||
		!strings.Contains(err.Error(), "too big") {
		t.Errorf("big input: %v", err)
	}
	if ss, _ := framework.Schedules(ctx, c); len(ss) != 2 {
		t.Fatalf("a bad declaration stored something: %+v", ss)
	}

	if err := framework.DeleteSchedule(ctx, c, "nightly"); err != nil {
		t.Fatal(err)
	}
	if err := framework.DeleteSchedule(ctx, c, "nightly"); !errors.Is(err, framework.ErrScheduleNotFound) {
		t.Fatalf("second delete = %v, want ErrScheduleNotFound", err)
	}
	if ss, _ := framework.Schedules(ctx, c); len(ss) != 1 || ss[0].Name != "often" {
		t.Fatalf("after delete: %+v", ss)
	}
}

// Two copies of one run (the server can generate a run twice when its stream changes leader;
// here the broker delivers one generated call twice) are one call: both carry the run's
// TickID, the handler runs for each, and the first result is the call's only one.
func TestDuplicateRunOneResult(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)
	var mu sync.Mutex
	var ids []string
	h := func(ctx context.Context, call *framework.Call) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, call.ID)
		return fmt.Appendf(nil, "%q", fmt.Sprintf("run %d", len(ids))), nil
	}
	// The name is registered (so it can be scheduled) by a worker that never runs, so its
	// generated calls stay in the stream for this test's own consumer.
	reg := framework.NewWorker(c)
	if err := reg.RegisterHandler("dup_run", h); err != nil {
		t.Fatal(err)
	}
	server := framework.NewTask("dup_other", func(context.Context, int) (int, error) { return 0, nil })
	w := newWorker(t, connect(t, srv.ClientURL()), nil, server)
	runWorker(t, w)
	if _, err := server.Remote(ctx, c, 1).Await(ctx); err != nil { // w runs
		t.Fatal(err)
	}
	s, err := c.JetStream().Stream(ctx, c.Names().TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{FilterSubject: "jetray.task.dup_run",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := framework.NewTask("dup_run", func(context.Context, int) (int, error) { return 0, nil }).
		Schedule(ctx, c, "dup", framework.Every(time.Second), 0); err != nil {
		t.Fatal(err)
	}
	fetch := func() jetstream.Msg {
		t.Helper()
		b, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			return m
		}
		t.Fatal("no generated call")
		return nil
	}
	first := fetch()
	if err := framework.DeleteSchedule(ctx, c, "dup"); err != nil { // no more runs
		t.Fatal(err)
	}
	meta, _ := first.Metadata()
	var again jetstream.Msg
	for again == nil { // not acked: redelivered after AckWait (a later run may come first)
		m := fetch()
		if md, _ := m.Metadata(); md.Sequence.Stream == meta.Sequence.Stream {
			again = m
		}
	}
	serve := seam.Serve.(func(*framework.Worker, jetstream.Msg, string, framework.Handler, error))
	serve(w, first, "dup_run", h, nil)
	serve(w, again, "dup_run", h, nil)
	mu.Lock()
	got := slices.Clone(ids)
	mu.Unlock()
	if len(got) != 2 || got[0] != got[1] {
		t.Fatalf("runs %v, want two of one call", got)
	}
	if n, _, ok := framework.ParseTickID(got[0]); !ok || n != "dup" {
		t.Fatalf("call ID %q is not a run of dup", got[0])
	}
	var out string
	if err := c.Resolve(ctx, got[0], &out); err != nil || out != "run 1" {
		t.Fatalf("Resolve = %q, %v; want the first run's result", out, err)
	}
}

// A run that fails follows its task's retry rules: retried (RetryErrors) under the same ID,
// and its last result is the run's result.
func TestScheduledRunRetries(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)
	type attempt struct {
		id string
		n  int
	}
	attempts := make(chan attempt, 16)
	flaky := framework.NewTask("flaky_run", func(ctx context.Context, _ int) (int, error) {
		call := framework.CallFromContext(ctx)
		attempts <- attempt{call.ID, call.Attempt}
		if call.Attempt == 1 {
			return 0, errors.New("first attempt fails")
		}
		return call.Attempt, nil
	}, framework.RetryErrors(), framework.Backoff(10*time.Millisecond, 10*time.Millisecond))
	runWorker(t, newWorker(t, c, nil, flaky))
	if err := flaky.Schedule(ctx, c, "flaky", framework.Every(time.Second), 0); err != nil {
		t.Fatal(err)
	}
	first := map[string]bool{} // runs whose first attempt failed
	var a1 attempt
	for a1.id == "" {
		a := recv(t, attempts, 30*time.Second, "an attempt")
		switch {
		case a.n == 1:
			first[a.id] = true
		case !first[a.id]:
			t.Fatalf("attempt %d of %s without a first", a.n, a.id)
		default:
			a1 = a
		}
	}
	if err := framework.DeleteSchedule(ctx, c, "flaky"); err != nil {
		t.Fatal(err)
	}
	if a1.n != 2 {
		t.Fatalf("run %s retried as attempt %d, want 2", a1.id, a1.n)
	}
	var v int
	if err := c.Resolve(ctx, a1.id, &v); err != nil || v != 2 {
		t.Fatalf("Resolve(%s) = %d, %v", a1.id, v, err)
	}
}
