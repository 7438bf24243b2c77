package actors_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
)

// BenchmarkActors100k is the lifecycle of many actors on one server with two workers (issue
// 12, "Idle actors" and "Lifecycle at scale"). `make bench-scale` runs it; make test does not.
// JETRAY_SCALE_ACTORS sets the number of actors (default 100,000; 5,000 for a quick run) and
// JETRAY_SCALE_IDLE the idle measurement window (default 15 s); JETRAY_SCALE_PROFILE profiles
// the idle window (scaleProfileEnv). One op is the whole run: use -benchtime 1x.
//
// The server is a nats-server process (JETRAY_NATS_SERVER, or built from go.mod) with its
// pprof port open, so this process holds only the two workers and the driver, and the
// server's heap, goroutines and CPU are read apart. Phases, in order:
//
//  1. one async actor gets busyBatches batches of 1,000 calls alone (busy-alone);
//  2. N actors are created, scaleParallel at a time (created/s);
//  3. memory per idle actor: this process's heap after a GC and goroutine stacks (workers
//     and driver; the driver's handles and record cache are a few hundred bytes of it), and
//     the server's, each against a snapshot taken before phase 2;
//  4. CPU per 1,000 idle actors over the idle window, less the same window before phase 2;
//  5. each actor gets one call, pipelined in batches of 1,000 (called/s);
//  6. CPU per 1,000 idle actors again (called-idle): each was called a moment ago; then the
//     number of actors placed more than once so far (replaced: a worker lost its lease);
//  7. the busy actor again, beside N idle ones (busy-ratio = alone / beside calls/s);
//  8. a graceful stop of worker 1: stop-s until its Run returns, handover-s until every actor
//     it hosted has answered a call on worker 0;
//  9. every actor killed, scaleParallel at a time (kill-s, kill-p50-ms).
func BenchmarkActors100k(b *testing.B) {
	n := envInt(b, scaleActorsEnv, 100_000)
	window := envDuration(b, scaleIdleEnv, 15*time.Second)
	srv := startScaleServer(b)
	ctx := testsupport.Context(b, 3*time.Hour)
	connect := func(name string) *framework.Client {
		return testsupport.Connect(b, srv.URL, framework.WithName(name))
	}
	driver := connect("scale-driver")
	var workerIDs [2]string
	var stops [2]stopWorker
	for i := range stops {
		name := fmt.Sprintf("scale-worker-%d", i)
		c := connect(name)
		workerIDs[i] = c.ID()
		// 16 task slots: creations run in task slots, and the default (one per core) would
		// measure the slot count rather than the actor runtime.
		w := framework.NewWorker(c, framework.WithWorkerName(name), framework.WithConcurrency(16),
			framework.WithDrainTimeout(30*time.Minute))
		if err := w.Register(ScaleActor, BenchActor); err != nil {
			b.Fatal(err)
		}
		stops[i] = runWorker(b, w)
	}
	m := scaleMetrics{b: b, n: n}

	// Warm up (buckets, watches, creation consumers), then the busy actor alone.
	if _, err := scaleWhere.Remote(ctx, ScaleActor.Remote(ctx, driver, struct{}{}), struct{}{}).Await(ctx); err != nil {
		b.Fatal(err)
	}
	busy := createActors(ctx, b, driver, BenchActor.Options(actors.Async()), 1)[0]
	alone := busyRun(ctx, b, srv, busy)
	baseProc, baseSrv := snapshot(b), srv.usage(b)
	baseIdle := idleCPU(b, srv, window, "")
	b.ResetTimer()

	start, cpu := time.Now(), cpuNow(b, srv)
	hs := createScale(ctx, b, driver, n)
	m.rate("created/s", time.Since(start), cpuNow(b, srv).sub(cpu), "actor")

	proc, server := snapshot(b), srv.usage(b)
	m.memory(baseProc, proc, baseSrv, server)
	m.idle("", baseIdle, idleCPU(b, srv, window, os.Getenv(scaleProfileEnv)))

	start, cpu = time.Now(), cpuNow(b, srv)
	hosts := callEach(ctx, b, driver, hs, workerIDs[:])
	m.rate("called/s", time.Since(start), cpuNow(b, srv).sub(cpu), "call")
	var onSecond []*actors.Handle[scaleActor]
	for i, h := range hs {
		if hosts[i] == workerIDs[1] {
			onSecond = append(onSecond, h)
		}
	}
	b.ReportMetric(float64(n-len(onSecond))/float64(n), "worker0-share")

	calledProfile := ""
	if p := os.Getenv(scaleProfileEnv); p != "" {
		calledProfile = p + ".called"
	}
	m.idle("called-", baseIdle, idleCPU(b, srv, window, calledProfile))
	m.replaced(ctx, driver)

	beside := busyRun(ctx, b, srv, busy)
	b.ReportMetric(alone.rate, "busy-alone-calls/s")
	b.ReportMetric(beside.rate, "busy-beside-calls/s")
	b.ReportMetric(alone.rate/beside.rate, "busy-ratio")
	b.ReportMetric(beside.cpuPerCall.total()/alone.cpuPerCall.total(), "busy-cpu-ratio")
	b.Logf("busy actor: alone %.0f calls/s (%.0f us CPU a call), beside %d idle %.0f calls/s (%.0f us)",
		alone.rate, alone.cpuPerCall.total(), n, beside.rate, beside.cpuPerCall.total())

	start = time.Now()
	if err := stops[1](); err != nil {
		b.Fatalf("graceful stop of worker 1: %v", err)
	}
	stopped := time.Since(start)
	for i, host := range callEach(ctx, b, driver, onSecond, workerIDs[:1]) {
		if host != workerIDs[0] {
			b.Fatalf("actor %s answered from %s after its worker stopped", onSecond[i].ID(), host)
		}
	}
	handedOver := time.Since(start)
	b.ReportMetric(stopped.Seconds(), "stop-s")
	b.ReportMetric(handedOver.Seconds(), "handover-s")
	b.Logf("graceful stop of worker 1 hosting %d actors: Run returned after %.1f s, all answered on worker 0 after %.1f s",
		len(onSecond), stopped.Seconds(), handedOver.Seconds())

	start, cpu = time.Now(), cpuNow(b, srv)
	lat := killAll(ctx, b, hs)
	killed, killCPU := time.Since(start), cpuNow(b, srv).sub(cpu)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(killed.Seconds(), "kill-s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "kill-p50-ms")
	b.Logf("killed %d actors in %.1f s (%.0f/s), p50 %v, p99 %v each; CPU %.0f us a kill here, %.0f us on the server",
		n, killed.Seconds(), float64(n)/killed.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100],
		float64(killCPU.proc.Microseconds())/float64(n), float64(killCPU.server.Microseconds())/float64(n))
}

// scaleActor is the idle actor of BenchmarkActors100k. It knows the client of the worker that
// built it, so a call tells where it runs; MaxRestarts(-1) lets a stopping worker hand it over.
type scaleActor struct{ host string }

var (
	ScaleActor = actors.Define("ScaleActor", func(ctx context.Context, _ struct{}) (*scaleActor, error) {
		c := framework.ClientFromContext(ctx)
		if c == nil {
			return nil, errors.New("the constructor's ctx carries no client")
		}
		return &scaleActor{host: c.ID()}, nil
	}, actors.MaxRestarts(-1))
	scaleWhere = actors.Method(ScaleActor, "where", func(a *scaleActor, _ context.Context, _ struct{}) (string, error) {
		return a.host, nil
	})
)

const (
	scaleActorsEnv = "JETRAY_SCALE_ACTORS"
	scaleIdleEnv   = "JETRAY_SCALE_IDLE"
	// JETRAY_SCALE_PROFILE=p writes CPU profiles of the idle window after creation:
	// p.workers.pprof (this process) and p.server.pprof (the server), and of the one after
	// the calls: p.called.workers.pprof and p.called.server.pprof. Use a long window
	// (JETRAY_SCALE_IDLE=60s): idle processes give few samples.
	scaleProfileEnv = "JETRAY_SCALE_PROFILE"
	scaleParallel   = 64 // creations and kills in flight at once
	busyBatches     = 20 // batches of 1,000 calls to the busy actor
)

// cpuPair is CPU time of this process (workers and driver) and of the server.
type cpuPair struct{ proc, server time.Duration }

func cpuNow(b *testing.B, srv *scaleServer) cpuPair {
	b.Helper()
	return cpuPair{proc: cpuTime(b), server: procCPU(b, srv.Pid())}
}

func (p cpuPair) sub(q cpuPair) cpuPair {
	return cpuPair{proc: p.proc - q.proc, server: p.server - q.server}
}

// perOp is CPU microseconds per operation, this process's and the server's.
type perOp struct{ proc, server float64 }

func (p cpuPair) per(n int) perOp {
	return perOp{proc: float64(p.proc.Microseconds()) / float64(n), server: float64(p.server.Microseconds()) / float64(n)}
}

func (p perOp) total() float64 { return p.proc + p.server }

// scaleMetrics reports BenchmarkActors100k's figures.
type scaleMetrics struct {
	b *testing.B
	n int
}

// rate reports n operations over d as unit, and their CPU per op (here and on the server).
func (m scaleMetrics) rate(unit string, d time.Duration, cpu cpuPair, op string) {
	per := cpu.per(m.n)
	m.b.ReportMetric(float64(m.n)/d.Seconds(), unit)
	m.b.ReportMetric(per.proc, "cpu-us/"+op)
	m.b.ReportMetric(per.server, "srv-cpu-us/"+op)
	m.b.Logf("%d: %.0f %s in %.1f s; CPU %.0f us/%s here, %.0f us on the server", m.n, float64(m.n)/d.Seconds(), unit,
		d.Seconds(), per.proc, op, per.server)
}

// memory reports heap, stack and goroutines per actor, of this process and of the server.
func (m scaleMetrics) memory(p0, p1 usage, s0, s1 serverUsage) {
	per := func(a, b uint64) float64 { return float64(int64(b)-int64(a)) / float64(m.n) }
	heap, stack := per(p0.heap, p1.heap), per(p0.stack, p1.stack)
	gor := float64(p1.goroutines-p0.goroutines) / float64(m.n)
	sheap, sstack := per(s0.heap, s1.heap), per(s0.stack, s1.stack)
	sgor := float64(s1.goroutines-s0.goroutines) / float64(m.n)
	m.b.ReportMetric(heap, "heapB/actor")
	m.b.ReportMetric(stack, "stackB/actor")
	m.b.ReportMetric(gor, "goroutines/actor")
	m.b.ReportMetric(sheap, "srv-heapB/actor")
	m.b.ReportMetric(sstack, "srv-stackB/actor")
	m.b.ReportMetric(sgor, "srv-goroutines/actor")
	m.b.Logf("memory per idle actor: workers+driver %.0f B heap + %.0f B stacks (%.2f goroutines); server %.0f B heap + %.0f B stacks (%.2f goroutines)",
		heap, stack, gor, sheap, sstack, sgor)
}

// idle reports the CPU of idle actors per 1,000, as a percentage of one core, above the
// baseline window taken with none. prefix names the window in the metric.
func (m scaleMetrics) idle(prefix string, base, now idleShare) {
	k := 1000 / float64(m.n)
	proc, server := (now.proc-base.proc)*k, (now.server-base.server)*k
	m.b.ReportMetric(proc, prefix+"idle-cpu%/1k")
	m.b.ReportMetric(server, "srv-"+prefix+"idle-cpu%/1k")
	m.b.Logf("%sidle CPU: workers+driver %.2f%% of a core (%.2f%% without actors), server %.2f%% (%.2f%%): %.3f%% and %.3f%% per 1,000 actors",
		prefix, now.proc, base.proc, now.server, base.server, proc, server)
}

// replaced reports how many actors were placed more than once so far: a worker that could not
// renew its lease in time (a loaded machine) fences its actors and re-claims them one by one,
// which the CPU and rates above then include.
func (m scaleMetrics) replaced(ctx context.Context, c *framework.Client) {
	n := replacedActors(ctx, m.b, c)
	m.b.ReportMetric(float64(n), "replaced")
	if n > 0 {
		m.b.Logf("%d actors were placed again (a worker lost its lease and re-claimed them): the figures above include that", n)
	}
}

// replacedActors counts the ScaleActors placed more than once.
func replacedActors(ctx context.Context, b *testing.B, c *framework.Client) int {
	b.Helper()
	recs, err := actors.List(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Class == ScaleActor.Name() && r.Epoch > 1 {
			n++
		}
	}
	return n
}

// idleShare is CPU over a window as a percentage of one core.
type idleShare struct{ proc, server float64 }

// idleCPU watches the processes sit for window (a measurement window, not a wait for a
// condition) and returns the CPU they used.
func idleCPU(b *testing.B, srv *scaleServer, window time.Duration, profile string) idleShare {
	b.Helper()
	stop := profileWindow(b, srv, window, profile)
	before := cpuNow(b, srv)
	<-time.After(window)
	d := cpuNow(b, srv).sub(before)
	stop()
	return idleShare{proc: 100 * d.proc.Seconds() / window.Seconds(), server: 100 * d.server.Seconds() / window.Seconds()}
}

// busyResult is the busy actor's calls/s and CPU per call.
type busyResult struct {
	rate       float64
	cpuPerCall perOp
}

// busyRun sends busyBatches batches of 1,000 calls to the async actor h, each gathered before
// the next.
func busyRun(ctx context.Context, b *testing.B, srv *scaleServer, h *actors.Handle[benchActor]) busyResult {
	b.Helper()
	fs := make([]*futures.Future[int], batch)
	start, cpu := time.Now(), cpuNow(b, srv)
	for range busyBatches {
		for i := range fs {
			fs[i] = benchEcho.Remote(ctx, h, i)
		}
		if _, err := futures.Gather(ctx, fs...); err != nil {
			b.Fatal(err)
		}
	}
	calls := busyBatches * batch
	return busyResult{rate: float64(calls) / time.Since(start).Seconds(), cpuPerCall: cpuNow(b, srv).sub(cpu).per(calls)}
}

// createScale creates n ScaleActors, scaleParallel at a time (each submitted, then awaited).
func createScale(ctx context.Context, b *testing.B, c *framework.Client, n int) []*actors.Handle[scaleActor] {
	b.Helper()
	hs := make([]*actors.Handle[scaleActor], n)
	errs := parallel(n, func(i int) error {
		hs[i] = ScaleActor.Remote(ctx, c, struct{}{})
		if err := hs[i].Ready(ctx); err != nil {
			return fmt.Errorf("actor %d of %d: %w", i, n, err)
		}
		return nil
	})
	if errs != nil {
		b.Fatal(errs)
	}
	return hs
}

// callEach calls every actor once, pipelined in batches of 1,000, and returns the client ID
// of the worker each answered from, which must be one of hosts. c is the actors' creator.
func callEach(ctx context.Context, b *testing.B, c *framework.Client, hs []*actors.Handle[scaleActor], hosts []string) []string {
	b.Helper()
	out := make([]string, 0, len(hs))
	fs := make([]*futures.Future[string], 0, batch)
	for i, h := range hs {
		fs = append(fs, scaleWhere.Remote(ctx, h, struct{}{}))
		if len(fs) < batch && i < len(hs)-1 {
			continue
		}
		got, err := futures.Gather(ctx, fs...)
		if err != nil {
			b.Fatalf("%v (%d actors placed more than once so far: by a graceful stop's hand-over, or because a worker lost its lease)", err, replacedActors(ctx, b, c))
		}
		for _, host := range got {
			if !slices.Contains(hosts, host) {
				b.Fatalf("an actor answered from %q, not one of %v", host, hosts)
			}
		}
		out = append(out, got...)
		fs = fs[:0]
	}
	return out
}

// killAll kills every actor, scaleParallel at a time, and returns how long each Kill took.
func killAll(ctx context.Context, b *testing.B, hs []*actors.Handle[scaleActor]) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, len(hs))
	if err := parallel(len(hs), func(i int) error {
		start := time.Now()
		err := actors.Kill(ctx, hs[i])
		lat[i] = time.Since(start)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return lat
}

// parallel runs fn(0) to fn(n-1), scaleParallel at a time, and returns the first error; once
// one failed, the rest are skipped.
func parallel(n int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(scaleParallel, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && !failed.Load(); i = int(next.Add(1) - 1) {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return first
}
