package bench

import (
	"context"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
)

// The catalog: what the benchmarks call, mirroring ray_perf.py's small_value task, Actor and
// AsyncActor. Every call is a no-op returning a few bytes. The names are the wire identity
// that a worker started with "driver bench -serve" shares with the driver.

// noopActor is the state of both bench actor classes: none.
type noopActor struct{}

func newNoopActor(context.Context, struct{}) (*noopActor, error) { return &noopActor{}, nil }

func (*noopActor) noop(context.Context, struct{}) (string, error) { return "ok", nil }

var (
	// noopTask is ray_perf.py's small_value: no input, returns "ok".
	noopTask = framework.NewTask("jetray_bench_noop", func(context.Context, struct{}) (string, error) {
		return "ok", nil
	})
	// plainActor is a plain actor class (max_concurrency 1; MaxConcurrency per instance for
	// the concurrent benchmark).
	plainActor = actors.Define("JetrayBenchActor", newNoopActor)
	plainNoop  = actors.Method(plainActor, "noop", (*noopActor).noop)
	// asyncActor is an async actor class (max_concurrency 1000).
	asyncActor = actors.Define("JetrayBenchAsyncActor", newNoopActor, actors.Async())
	asyncNoop  = actors.Method(asyncActor, "noop", (*noopActor).noop)
)

// catalog returns the definitions a worker serves for the benchmarks.
func catalog() []framework.Definition {
	return []framework.Definition{noopTask, plainActor, asyncActor}
}

// CatalogNames returns the names of the task and the actor classes the benchmarks call.
func CatalogNames() []string {
	var names []string
	for _, d := range catalog() {
		names = append(names, d.Name())
	}
	return names
}

// NewWorker returns a worker on c serving the catalog with p's task slots (Concurrency) and
// prefetch, named bench-worker-<first 6 characters of c's ID>, draining for at most 10 s when
// it stops. It returns the error of registering the catalog.
func NewWorker(c *framework.Client, p Params) (*framework.Worker, error) {
	w := framework.NewWorker(c, framework.WithConcurrency(p.Concurrency), framework.WithPrefetch(p.Prefetch),
		framework.WithWorkerName("bench-worker-"+c.ID()[:6]), framework.WithDrainTimeout(10*time.Second))
	if err := w.Register(catalog()...); err != nil {
		return nil, err
	}
	return w, nil
}
