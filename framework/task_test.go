package framework_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
)

var someTask = framework.NewTask("some_task", func(ctx context.Context, _ struct{}) (int, error) { return 1, nil })

type addIn struct{ A, B int }

var addTask = framework.NewTask("add", func(ctx context.Context, in addIn) (int, error) { return in.A + in.B, nil })

var failTask = framework.NewTask("fail", func(ctx context.Context, msg string) (int, error) { return 0, errors.New(msg) })

var panicTask = framework.NewTask("panic", func(ctx context.Context, _ struct{}) (int, error) { panic("boom") })

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSomeTaskReturnsOne(t *testing.T) {
	c := frameworktest.New(t, someTask)
	ctx := testCtx(t)
	v, err := someTask.Remote(ctx, c, struct{}{}).Await(ctx)
	if err != nil || v != 1 {
		t.Fatalf("some_task = %v, %v; want 1, nil", v, err)
	}
}

func TestErrorsPanicsUnknownAndBadInput(t *testing.T) {
	c := frameworktest.New(t, addTask, failTask, panicTask)
	ctx := testCtx(t)

	_, err := failTask.Remote(ctx, c, "nope").Await(ctx)
	var te *framework.TaskError
	if !errors.As(err, &te) || te.Message != "nope" || te.Panic || te.Task != "fail" {
		t.Fatalf("fail: err = %#v", err)
	}

	_, err = panicTask.Remote(ctx, c, struct{}{}).Await(ctx)
	if !errors.As(err, &te) || !te.Panic || !strings.Contains(te.Stack, "goroutine") || !strings.Contains(te.Message, "boom") {
		t.Fatalf("panic: err = %#v", err)
	}

	unknown := framework.NewTask("never_registered", func(ctx context.Context, _ struct{}) (int, error) { return 0, nil })
	impatient, err := framework.Connect(ctx, c.Conn().ConnectedUrl(), framework.WithUnknownNameGrace(0))
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	start := time.Now()
	_, err = unknown.Remote(ctx, impatient, struct{}{}).Await(ctx)
	if !errors.Is(err, framework.ErrUnknownTask) || time.Since(start) > time.Second {
		t.Fatalf("unknown: err = %v after %v", err, time.Since(start))
	}

	// Same wire name, wrong input type: the worker cannot decode it.
	wrong := framework.NewTask("add", func(ctx context.Context, _ string) (int, error) { return 0, nil })
	_, err = wrong.Remote(ctx, c, "not an object").Await(ctx)
	if !errors.As(err, &te) || te.Kind != framework.KindDecode || !strings.Contains(te.Message, "decode") {
		t.Fatalf("decode: err = %#v", err)
	}

	// The worker keeps serving.
	if v, err := addTask.Remote(ctx, c, addIn{2, 3}).Await(ctx); err != nil || v != 5 {
		t.Fatalf("add after failures = %v, %v", v, err)
	}
}

func TestManyTasksTwoWorkersExactlyOnce(t *testing.T) {
	var runs atomic.Int64
	count := framework.NewTask("count", func(ctx context.Context, n int) (int, error) { runs.Add(1); return n * 2, nil })
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithConcurrency(8)}, count)
	w2 := framework.NewWorker(env.Client, framework.WithConcurrency(8))
	if err := w2.Register(count); err != nil {
		t.Fatal(err)
	}
	frameworktest.StartWorker(t, w2)
	ctx := testCtx(t)
	const n = 10000
	fs := make([]*futures.Future[int], n)
	for i := range fs {
		fs[i] = count.Remote(ctx, env.Client, i)
	}
	vals, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != 2*i {
			t.Fatalf("result %d = %d", i, v)
		}
	}
	if got := runs.Load(); got != n {
		t.Fatalf("ran %d times, want %d", got, n)
	}
}
