package actors_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// storedCalls returns how many calls of actor id the actors stream holds.
func storedCalls(t testing.TB, ctx context.Context, c *framework.Client, id string) uint64 {
	t.Helper()
	st, err := c.JetStream().Stream(ctx, framework.ActorsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("jetray.actor."+id+".>"))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, k := range info.State.Subjects {
		n += k
	}
	return n
}

// actorConsumers returns the names of the consumers on the actors stream.
func actorConsumers(t testing.TB, ctx context.Context, c *framework.Client) []string {
	t.Helper()
	st, err := c.JetStream().Stream(ctx, framework.ActorsStream)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	lister := st.ConsumerNames(ctx)
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestKillAnswersQueuedCallsAndCleansUp: Kill returns once the actor is stopped; a running
// call and every queued call then fail with ErrActorDied, the name can be taken at once, and
// the reaper leaves neither the actor's calls nor its consumer behind.
func TestKillAnswersQueuedCallsAndCleansUp(t *testing.T) {
	c := frameworktest.New(t, Counter)
	ctx := testCtx(t)
	h := Counter.Options(actors.Name("reaped")).Remote(ctx, c, 0)
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // answered calls: acked, not purged yet
		if _, err := Incr.Remote(ctx, h, i).Await(ctx); err != nil {
			t.Fatal(err)
		}
	}
	running := Block.Remote(ctx, h, struct{}{})
	queued := make([]*futures.Future[int], 50)
	for i := range queued {
		queued[i] = Incr.Remote(ctx, h, 1)
	}
	if !testsupport.Poll(10*time.Second, func() bool { return storedCalls(t, ctx, c, h.ID()) >= 51 }) {
		t.Fatalf("calls not stored: %d", storedCalls(t, ctx, c, h.ID()))
	}
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	// The name is free as soon as Kill returns.
	again := Counter.Options(actors.Name("reaped")).Remote(ctx, c, 0)
	if err := again.Ready(ctx); err != nil {
		t.Fatalf("name after kill: %v", err)
	}
	if _, err := running.Await(ctx); !errors.Is(err, actors.ErrActorDied) {
		t.Fatalf("running call: %v", err)
	}
	for i, f := range queued {
		if _, err := f.Await(ctx); !errors.Is(err, actors.ErrActorDied) {
			t.Fatalf("queued call %d: %v", i, err)
		}
	}
	prefix := wire.Names{}.ActorConsumer(h.ID(), 0, "") + "-"
	if !testsupport.Poll(10*time.Second, func() bool {
		return storedCalls(t, ctx, c, h.ID()) == 0 && !slices.ContainsFunc(actorConsumers(t, ctx, c), func(n string) bool {
			return strings.HasPrefix(n, prefix)
		})
	}) {
		t.Fatalf("after the kill: %d calls stored, consumers %v", storedCalls(t, ctx, c, h.ID()), actorConsumers(t, ctx, c))
	}
}

type gated struct{}

// gates holds the constructors of Gated actors until their test closes the gate named by
// the constructor's input.
var gates sync.Map // string -> chan struct{}

var (
	Gated = actors.Define("Gated", func(ctx context.Context, gate string) (*gated, error) {
		ch, _ := gates.LoadOrStore(gate, make(chan struct{}))
		select {
		case <-ch.(chan struct{}):
		case <-ctx.Done():
		}
		return &gated{}, nil
	})
	gatedPing = actors.Method(Gated, "ping", func(*gated, context.Context, struct{}) (bool, error) { return true, nil })
)

// TestKillDuringConstruction: an actor killed while its constructor runs is not yet on its
// host, so the killer reaps: its queued calls fail with ErrActorDied, and the creation fails.
func TestKillDuringConstruction(t *testing.T) {
	c := frameworktest.New(t, Gated)
	ctx := testCtx(t)
	ch, _ := gates.LoadOrStore(t.Name(), make(chan struct{}))
	h := Gated.Remote(ctx, c, t.Name())
	frameworktest.WaitActor(t, c, h.ID(), func(r actors.Record) bool { return r.WorkerKey != "" })
	queued := []*futures.Future[bool]{gatedPing.Remote(ctx, h, struct{}{}), gatedPing.Remote(ctx, h, struct{}{})}
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	close(ch.(chan struct{}))
	for i, f := range queued {
		if _, err := f.Await(ctx); !errors.Is(err, actors.ErrActorDied) {
			t.Fatalf("queued call %d: %v", i, err)
		}
	}
	if err := h.Ready(ctx); !errors.Is(err, actors.ErrActorDied) {
		t.Fatalf("Ready after kill: %v", err)
	}
	if !testsupport.Poll(10*time.Second, func() bool { return storedCalls(t, ctx, c, h.ID()) == 0 }) {
		t.Fatalf("%d calls left after the kill", storedCalls(t, ctx, c, h.ID()))
	}
}

// TestAckedCallsDeleted: the host deletes the calls an actor has acked, by sequence for a
// few and by one purge of its subject for many, within a purge period or two.
func TestAckedCallsDeleted(t *testing.T) {
	c := frameworktest.New(t, Counter)
	ctx := testCtx(t)
	few, many := Counter.Remote(ctx, c, 0), Counter.Remote(ctx, c, 0)
	var fs []*futures.Future[int]
	for range 3 {
		fs = append(fs, Incr.Remote(ctx, few, 1))
	}
	for range 200 {
		fs = append(fs, Incr.Remote(ctx, many, 1))
	}
	if _, err := futures.Gather(ctx, fs...); err != nil {
		t.Fatal(err)
	}
	if !testsupport.Poll(20*time.Second, func() bool {
		return storedCalls(t, ctx, c, few.ID()) == 0 && storedCalls(t, ctx, c, many.ID()) == 0
	}) {
		t.Fatalf("acked calls left: %d and %d", storedCalls(t, ctx, c, few.ID()), storedCalls(t, ctx, c, many.ID()))
	}
	if v, err := Incr.Remote(ctx, many, 1).Await(ctx); err != nil || v != 201 {
		t.Fatalf("call after the purge = %d, %v", v, err)
	}
}

// TestCloseRunsQueuedChecks: a killer's checks that the hosts reaped are due 10 s after each
// Kill; closing the killer's client runs them at once instead of waiting for them.
func TestCloseRunsQueuedChecks(t *testing.T) {
	env := frameworktest.NewEnv(t, nil, Counter)
	ctx := testCtx(t)
	drv, err := framework.Connect(ctx, env.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drv.Close() })
	for range 6 {
		h := Counter.Remote(ctx, drv, 0)
		if err := h.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		if err := actors.Kill(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := drv.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close took %v: it waited for the checks to fall due", took)
	}
}

// BenchmarkKill kills idle plain actors one after another (each on the one worker) and reports
// the latency of Kill: p50, p99 and max, and kills per second. The actors are created before
// the timer starts. Run it with a fixed count: -benchtime=200x.
func BenchmarkKill(b *testing.B) {
	c := benchCluster(b, 1)
	ctx := benchCtx(b)
	hs := createActors(ctx, b, c, BenchActor, b.N)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for _, h := range hs {
		start := time.Now()
		if err := actors.Kill(ctx, h); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "kills/s")
}

// BenchmarkStopActors creates b.N plain actors (MaxRestarts 0) on one worker and calls each
// once, then stops the worker: every actor is killed and its calls reaped. It reports the time
// until Run returned and until the worker's client's Close returned (Close waits for the
// reaps), and the consumers and calls left in JETRAY_ACTORS. Run it with a fixed count:
// -benchtime=2000x.
func BenchmarkStopActors(b *testing.B) {
	srv := testsupport.Embedded(b, framework.EmbeddedConfig{})
	driver := testsupport.Connect(b, srv.ClientURL())
	wc := testsupport.Connect(b, srv.ClientURL(), framework.WithName("stop-worker"))
	w := framework.NewWorker(wc, framework.WithDrainTimeout(30*time.Minute))
	if err := w.Register(BenchActor); err != nil {
		b.Fatal(err)
	}
	stop := testsupport.Background(b, w.Run)
	ctx := benchCtx(b)
	hs := createActors(ctx, b, driver, BenchActor, b.N)
	fs := make([]*futures.Future[int], len(hs))
	for i, h := range hs {
		fs[i] = benchEcho.Remote(ctx, h, i)
	}
	if _, err := futures.Gather(ctx, fs...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	ran := time.Since(start)
	if err := wc.Close(); err != nil {
		b.Fatal(err)
	}
	closed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(ran.Seconds(), "run-return-s")
	b.ReportMetric(closed.Seconds(), "close-return-s")
	b.ReportMetric(float64(len(actorConsumers(b, ctx, driver))), "consumers-left")
	st, err := driver.JetStream().Stream(ctx, framework.ActorsStream)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.CachedInfo().State.Msgs), "calls-left")
}
