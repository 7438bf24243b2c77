package framework_test

import (
	"context"
	"testing"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
)

var benchEcho = framework.NewTask("bench_echo", func(ctx context.Context, n int) (int, error) { return n, nil })

// BenchmarkTaskSync is one call at a time: submit, run on the in-process worker, store the
// result, read it back.
func BenchmarkTaskSync(b *testing.B) {
	c := frameworktest.New(b, benchEcho)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if v, err := benchEcho.Remote(ctx, c, i).Await(ctx); err != nil || v != i {
			b.Fatalf("call %d = %v, %v", i, v, err)
		}
	}
}

// BenchmarkTaskAsync submits b.N calls, then gathers them: pipelined throughput.
func BenchmarkTaskAsync(b *testing.B) {
	c := frameworktest.NewEnv(b, []framework.WorkerOption{framework.WithConcurrency(16)}, benchEcho).Client
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	fs := make([]*futures.Future[int], b.N)
	for i := range fs {
		fs[i] = benchEcho.Remote(ctx, c, i)
	}
	vals, err := futures.Gather(ctx, fs...)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	for i, v := range vals {
		if v != i {
			b.Fatalf("call %d = %d", i, v)
		}
	}
}
