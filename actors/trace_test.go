package actors_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/testsupport"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestTraceAcrossTaskActorTask follows one trace from the driver through a task, an actor
// method that task calls, and a task that method calls: every hop's spans are children of
// the hop before, through the trace context in the NATS headers.
func TestTraceAcrossTaskActorTask(t *testing.T) {
	type tracer struct{}
	inner := framework.NewTask("tr_inner", func(ctx context.Context, n int) (int, error) { return n + 1, nil })
	Tracer := actors.Define("Tracer", func(context.Context, int) (*tracer, error) { return &tracer{}, nil })
	call := actors.Method(Tracer, "call", func(_ *tracer, ctx context.Context, n int) (int, error) {
		return inner.Remote(ctx, framework.ClientFromContext(ctx), n).Await(ctx)
	})
	outer := framework.NewTask("tr_outer", func(ctx context.Context, n int) (int, error) {
		c := framework.ClientFromContext(ctx)
		return call.Remote(ctx, Tracer.Remote(ctx, c, 0), n).Await(ctx)
	})

	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testsupport.Context(t, 60*time.Second)
	c := testsupport.Connect(t, srv.ClientURL(), framework.WithTracerProvider(tp))
	w := framework.NewWorker(c, framework.WithConcurrency(4))
	if err := w.Register(inner, outer, Tracer); err != nil {
		t.Fatal(err)
	}
	frameworktest.StartWorker(t, w)

	rctx, root := tp.Tracer("test").Start(ctx, "driver")
	v, err := outer.Remote(rctx, c, 1).Await(ctx)
	root.End()
	if err != nil || v != 2 {
		t.Fatalf("tr_outer = %v, %v; want 2", v, err)
	}

	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	get := func(name string) tracetest.SpanStub {
		t.Helper()
		s, ok := byName[name]
		if !ok {
			var names []string
			for _, s := range spans {
				names = append(names, s.Name)
			}
			t.Fatalf("no span %q among %q", name, names)
		}
		return s
	}
	chain := []struct{ child, parent string }{
		{"submit tr_outer", "driver"},
		{"queue tr_outer", "submit tr_outer"},
		{"execute tr_outer", "submit tr_outer"},
		{"submit Tracer.call", "execute tr_outer"},
		{"queue Tracer.call", "submit Tracer.call"},
		{"execute Tracer.call", "submit Tracer.call"},
		{"submit tr_inner", "execute Tracer.call"},
		{"queue tr_inner", "submit tr_inner"},
		{"execute tr_inner", "submit tr_inner"},
	}
	traceID := get("driver").SpanContext.TraceID()
	for _, l := range chain {
		child, parent := get(l.child), get(l.parent)
		if child.Parent.SpanID() != parent.SpanContext.SpanID() {
			t.Errorf("parent of %q is %s, want %q (%s)", l.child, child.Parent.SpanID(), l.parent, parent.SpanContext.SpanID())
		}
		if child.SpanContext.TraceID() != traceID {
			t.Errorf("%q is in trace %s, want %s", l.child, child.SpanContext.TraceID(), traceID)
		}
	}
	if q := get("queue tr_inner"); q.EndTime.Before(q.StartTime) {
		t.Errorf("queue span ends before it starts: %v .. %v", q.StartTime, q.EndTime)
	}
}
