package framework_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
)

// TestCancelNonRecursive ports ray.cancel(ref, recursive=False): the parent is cancelled, the
// child it submitted (before and after the cancellation) runs on and keeps its own result.
func TestCancelNonRecursive(t *testing.T) {
	release := make(chan struct{})
	started := make(chan string, 4)
	held := framework.NewTask("cancelnr_child", func(ctx context.Context, n int) (int, error) {
		started <- "child"
		select {
		case <-release:
			return n * 10, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	var first, late atomic.Value
	parent := framework.NewTask("cancelnr_parent", func(ctx context.Context, n int) (int, error) {
		c := framework.ClientFromContext(ctx)
		child := held.Remote(ctx, c, n)
		first.Store(child)
		<-ctx.Done() // cancelled; submits one more call after it
		late.Store(held.Remote(context.WithoutCancel(ctx), c, n+1))
		_, _ = child.Await(context.WithoutCancel(ctx))
		return 0, ctx.Err()
	})
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithConcurrency(4)}, held, parent)
	ctx := testCtx(t)
	p := parent.Remote(ctx, env.Client, 4)
	if got := recvName(t, started); got != "child" {
		t.Fatalf("started %q", got)
	}
	if err := framework.Cancel(ctx, env.Client, p, framework.NonRecursive(), framework.Force()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Await(ctx); !errors.Is(err, framework.ErrCancelled) {
		t.Fatalf("parent: %v, want ErrCancelled", err)
	}
	if got := recvName(t, started); got != "child" { // the call submitted after the cancellation
		t.Fatalf("started %q", got)
	}
	close(release)
	// The children's results are stored by the worker that ran them; read them like any process.
	for i, v := range []*atomic.Value{&first, &late} {
		id := v.Load().(*futures.Future[int]).ID()
		var got int
		if err := env.Client.Resolve(ctx, id, &got); err != nil || got != 40+10*i {
			t.Fatalf("child %s = %d, %v; want %d", id, got, err, 40+10*i)
		}
	}
}
