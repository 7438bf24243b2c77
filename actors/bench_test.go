package actors_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
)

// Benchmarks of the actor runtime. Each runs an embedded NATS server, in-process workers and a
// driver client in this one process, so heap and CPU figures include the server's share.
// docs/benchmarks.md ("## Actors") has the command, the machine and the figures.

type benchActor struct{}

var (
	// BenchActor is a plain actor (max_concurrency 1); BenchActor.Options(actors.Async()) makes
	// async ones of the same class.
	BenchActor = actors.Define("BenchActor", func(context.Context, struct{}) (*benchActor, error) {
		return &benchActor{}, nil
	})
	benchEcho = actors.Method(BenchActor, "echo", func(_ *benchActor, _ context.Context, n int) (int, error) {
		return n, nil
	})
)

// batch is how many calls the pipelined benchmarks have in flight: submitted together, then
// gathered.
const batch = 1000

// benchCluster starts an embedded server and workers in-process workers serving BenchActor,
// each on its own client, and returns a separate driver client. Cleanup stops the workers
// (which kills their actors), then closes the clients and shuts the server down.
func benchCluster(b *testing.B, workers int) *framework.Client {
	b.Helper()
	url, replicas := benchServer(b)
	connect := func(name string) *framework.Client {
		return testsupport.Connect(b, url, framework.WithName(name), framework.WithReplicas(replicas))
	}
	driver := connect("bench-driver")
	for i := range workers {
		// Stopping a worker stops its actors one consumer at a time: allow for 10,000.
		w := framework.NewWorker(connect(fmt.Sprintf("bench-worker-%d", i)),
			framework.WithWorkerName(fmt.Sprintf("bench-worker-%d", i)), framework.WithDrainTimeout(10*time.Minute))
		if err := w.Register(BenchActor); err != nil {
			b.Fatal(err)
		}
		frameworktest.StartWorker(b, w)
	}
	return driver
}

// Benchmarks that use benchCluster run against an external server or cluster when
// JETRAY_BENCH_NATS names it (`make bench-cluster` sets it to `make cluster`'s nodes), with
// JETRAY_BENCH_REPLICAS replicas per stream (default 3 there); otherwise against an embedded
// server, one replica.
const (
	benchNATSEnv     = "JETRAY_BENCH_NATS"
	benchReplicasEnv = "JETRAY_BENCH_REPLICAS"
)

// benchServer returns the URL to run a benchmark against and the stream replicas to use.
func benchServer(b *testing.B) (string, int) {
	b.Helper()
	url := os.Getenv(benchNATSEnv)
	if url == "" {
		return testsupport.Embedded(b, framework.EmbeddedConfig{}).ClientURL(), 1
	}
	return url, envInt(b, benchReplicasEnv, 3)
}

// createActors creates n actors of cls, all submitted first, then waits until each is ready.
func createActors(ctx context.Context, b *testing.B, c *framework.Client, cls *actors.Class[benchActor, struct{}], n int) []*actors.Handle[benchActor] {
	b.Helper()
	hs := make([]*actors.Handle[benchActor], n)
	for i := range hs {
		hs[i] = cls.Remote(ctx, c, struct{}{})
	}
	for i, h := range hs {
		if err := h.Ready(ctx); err != nil {
			b.Fatalf("actor %d of %d: %v", i, n, err)
		}
	}
	return hs
}

// usage is a snapshot of the process: heap after a GC, goroutine stacks, goroutines, CPU
// time used so far.
type usage struct {
	heap, stack uint64
	goroutines  int
	cpu         time.Duration
}

func snapshot(b *testing.B) usage {
	b.Helper()
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return usage{heap: m.HeapAlloc, stack: m.StackInuse, goroutines: runtime.NumGoroutine(), cpu: cpuTime(b)}
}

// cpuTime returns the CPU time (user plus system) the process has used: server, workers and
// driver together. On a shared machine CPU per operation is steadier than wall-clock rates.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportPerActor reports heap bytes, stack bytes and goroutines per actor between two
// snapshots.
func reportPerActor(b *testing.B, before, after usage, n int) {
	b.Helper()
	b.ReportMetric(float64(int64(after.heap)-int64(before.heap))/float64(n), "heapB/actor")
	b.ReportMetric(float64(int64(after.stack)-int64(before.stack))/float64(n), "stackB/actor")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/actor")
}

// benchCtx returns a context that ends after 30 minutes or with the benchmark.
func benchCtx(b *testing.B) context.Context { return testsupport.Context(b, 30*time.Minute) }

// BenchmarkActorCreate creates b.N plain actors on one worker (all submitted, then each
// awaited with Ready) and reports the rate and the process heap per actor (server, worker and
// driver together). Run it with a fixed count: -benchtime=1000x.
func BenchmarkActorCreate(b *testing.B) {
	c := benchCluster(b, 1)
	ctx := benchCtx(b)
	createActors(ctx, b, c, BenchActor, 1) // warm up: buckets, watch, consumers of the class
	before := snapshot(b)
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime(b)
	createActors(ctx, b, c, BenchActor, b.N)
	elapsed, cpu := time.Since(start), cpuTime(b)-cpu
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "actors/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/actor")
	reportPerActor(b, before, snapshot(b), b.N)
}

// pipelined calls h in batches of batch calls submitted together, then gathered, for the
// benchmark's loop, and reports calls/s and the process CPU time per call.
func pipelined(ctx context.Context, b *testing.B, h *actors.Handle[benchActor]) {
	b.Helper()
	fs := make([]*futures.Future[int], batch)
	cpu := cpuTime(b)
	for b.Loop() {
		for i := range fs {
			fs[i] = benchEcho.Remote(ctx, h, i)
		}
		if _, err := futures.Gather(ctx, fs...); err != nil {
			b.Fatal(err)
		}
	}
	cpu = cpuTime(b) - cpu
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "calls/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*batch), "cpu-us/call")
}

// BenchmarkAsyncActorCalls measures calls/s to one async actor (max_concurrency 1000), in
// batches of 1000 submitted together and then gathered, while idle plain actors exist on the
// same worker: their consumers share the actors stream with the busy one.
func BenchmarkAsyncActorCalls(b *testing.B) {
	for _, idle := range []int{0, 1000} {
		b.Run(fmt.Sprintf("idle=%d", idle), func(b *testing.B) {
			c := benchCluster(b, 1)
			ctx := benchCtx(b)
			createActors(ctx, b, c, BenchActor, idle)
			h := createActors(ctx, b, c, BenchActor.Options(actors.Async()), 1)[0]
			pipelined(ctx, b, h)
		})
	}
}

// BenchmarkPrefetchPaired measures pipelined calls to a plain actor (max_concurrency 1)
// without a window (each call waits for the previous one's ack before the broker delivers it)
// and with actors.Prefetch(32): two actors on one worker, each op a batch of 1000 calls to one
// and then to the other, timed apart, so that load changing during the run hits both alike. It reports each one's calls/s and CPU per call, and their ratios.
func BenchmarkPrefetchPaired(b *testing.B) {
	c := benchCluster(b, 1)
	ctx := benchCtx(b)
	hs := []*actors.Handle[benchActor]{
		createActors(ctx, b, c, BenchActor, 1)[0],
		createActors(ctx, b, c, BenchActor.Options(actors.Prefetch(32)), 1)[0],
	}
	var took, cpu [2]time.Duration
	fs := make([]*futures.Future[int], batch)
	for b.Loop() {
		for k, h := range hs {
			start, c0 := time.Now(), cpuTime(b)
			for i := range fs {
				fs[i] = benchEcho.Remote(ctx, h, i)
			}
			if _, err := futures.Gather(ctx, fs...); err != nil {
				b.Fatal(err)
			}
			took[k] += time.Since(start)
			cpu[k] += cpuTime(b) - c0
		}
	}
	calls := float64(b.N * batch)
	for k, name := range []string{"plain", "prefetch"} {
		b.ReportMetric(calls/took[k].Seconds(), name+"-calls/s")
		b.ReportMetric(float64(cpu[k].Microseconds())/calls, name+"-cpu-us/call")
	}
	b.ReportMetric(took[0].Seconds()/took[1].Seconds(), "speedup")
	b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "cpu-ratio")
}

// BenchmarkActorCallSync is one call at a time to a plain actor (max_concurrency 1): submit,
// run, result, await. ns/op is the mean round trip; p50, p99 and max show its spread.
func BenchmarkActorCallSync(b *testing.B) { benchCallSync(b, BenchActor) }

// BenchmarkDurableActorCallSync is BenchmarkActorCallSync on a Durable actor: each call also
// writes the actor's snapshot (a KV compare-and-swap) before its result is stored.
func BenchmarkDurableActorCallSync(b *testing.B) {
	benchCallSync(b, BenchActor.Options(actors.Durable()))
}

func benchCallSync(b *testing.B, cls *actors.Class[benchActor, struct{}]) {
	c := benchCluster(b, 1)
	ctx := benchCtx(b)
	h := createActors(ctx, b, c, cls, 1)[0]
	var lat []time.Duration
	cpu := cpuTime(b)
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if v, err := benchEcho.Remote(ctx, h, i).Await(ctx); err != nil || v != i {
			b.Fatalf("call %d = %d, %v", i, v, err)
		}
		lat = append(lat, time.Since(start))
	}
	cpu = cpuTime(b) - cpu
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/call")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
}

// BenchmarkActors10kTwoWorkers creates 10,000 plain actors per op, placed by two in-process
// workers on two clients, then calls each actor once (pipelined in batches of 1000). It
// reports creation and call rates, heap per actor, and the share the first worker placed.
// One op takes tens of seconds and the teardown longer: run it with -benchtime=1x.
func BenchmarkActors10kTwoWorkers(b *testing.B) {
	const n = 10_000
	c := benchCluster(b, 2)
	ctx := benchCtx(b)
	createActors(ctx, b, c, BenchActor, 1)
	before := snapshot(b)
	var created, called, createdCPU, calledCPU time.Duration
	var hs []*actors.Handle[benchActor]
	b.ResetTimer()
	for range b.N {
		start, cpu := time.Now(), cpuTime(b)
		round := createActors(ctx, b, c, BenchActor, n)
		created, createdCPU = created+time.Since(start), createdCPU+cpuTime(b)-cpu
		start, cpu = time.Now(), cpuTime(b)
		fs := make([]*futures.Future[int], 0, batch)
		for i, h := range round {
			fs = append(fs, benchEcho.Remote(ctx, h, i))
			if len(fs) == batch || i == len(round)-1 {
				if _, err := futures.Gather(ctx, fs...); err != nil {
					b.Fatal(err)
				}
				fs = fs[:0]
			}
		}
		called, calledCPU = called+time.Since(start), calledCPU+cpuTime(b)-cpu
		hs = append(hs, round...)
	}
	b.StopTimer()
	b.ReportMetric(float64(len(hs))/created.Seconds(), "actors/s")
	b.ReportMetric(float64(len(hs))/called.Seconds(), "calls/s")
	b.ReportMetric(float64(createdCPU.Microseconds())/float64(len(hs)), "cpu-us/actor")
	b.ReportMetric(float64(calledCPU.Microseconds())/float64(len(hs)), "cpu-us/call")
	reportPerActor(b, before, snapshot(b), len(hs))
	recs, err := actors.List(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	first := 0
	for _, r := range recs {
		if r.Worker == "bench-worker-0" {
			first++
		}
	}
	b.ReportMetric(float64(first)/float64(len(recs)), "worker0-share")
}

// idleWindow is how long BenchmarkIdleCPU watches an idle process.
const idleWindow = 5 * time.Second

// BenchmarkIdleCPU creates the given number of plain actors on one worker, lets the process
// sit idle for idleWindow and reports the CPU time it used as a percentage of one core
// (getrusage: user plus system, server included). actors=0 is the baseline. One op is one
// window: run it with -benchtime=1x.
func BenchmarkIdleCPU(b *testing.B) {
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("actors=%d", n), func(b *testing.B) {
			c := benchCluster(b, 1)
			ctx := benchCtx(b)
			createActors(ctx, b, c, BenchActor, n)
			before := snapshot(b)
			b.ResetTimer()
			for range b.N {
				// A measurement window, not a wait for a condition.
				<-time.After(idleWindow)
			}
			b.StopTimer()
			after := snapshot(b)
			b.ReportMetric(100*(after.cpu-before.cpu).Seconds()/(float64(b.N)*idleWindow.Seconds()), "cpu%")
		})
	}
}
