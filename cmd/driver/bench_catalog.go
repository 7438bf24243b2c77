package main

import (
	"context"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
)

// The bench catalog: what "driver bench" calls, mirroring ray_perf.py's small_value task,
// Actor and AsyncActor. Every call is a no-op returning a few bytes.

// benchActor is the state of both bench actor classes: none.
type benchActor struct{}

func newBenchActor(context.Context, struct{}) (*benchActor, error) { return &benchActor{}, nil }

func (*benchActor) noop(context.Context, struct{}) (string, error) { return "ok", nil }

var (
	// benchNoop is ray_perf.py's small_value: no input, returns "ok".
	benchNoop = framework.NewTask("jetray_bench_noop", func(context.Context, struct{}) (string, error) {
		return "ok", nil
	})
	// benchPlain is a plain actor class (max_concurrency 1; MaxConcurrency per instance for
	// the concurrent benchmark).
	benchPlain     = actors.Define("JetrayBenchActor", newBenchActor)
	benchPlainNoop = actors.Method(benchPlain, "noop", (*benchActor).noop)
	// benchAsync is an async actor class (max_concurrency 1000).
	benchAsync     = actors.Define("JetrayBenchAsyncActor", newBenchActor, actors.Async())
	benchAsyncNoop = actors.Method(benchAsync, "noop", (*benchActor).noop)
)

// benchCatalog returns the definitions a worker serves for "driver bench".
func benchCatalog() []framework.Definition {
	return []framework.Definition{benchNoop, benchPlain, benchAsync}
}
