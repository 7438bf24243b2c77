package framework_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
)

func TestCancel(t *testing.T) {
	started := make(chan string, 16)
	var ran atomic.Int64
	block := framework.NewTask("cancel_block", func(ctx context.Context, name string) (int, error) {
		ran.Add(1)
		started <- name
		<-ctx.Done()
		return 0, ctx.Err()
	})
	var childID atomic.Value
	parent := framework.NewTask("cancel_parent", func(ctx context.Context, _ int) (int, error) {
		child := block.Remote(ctx, framework.ClientFromContext(ctx), "child")
		childID.Store(child)
		return child.Await(ctx)
	})
	quick := framework.NewTask("cancel_quick", func(_ context.Context, n int) (int, error) { return n, nil })
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithConcurrency(1), framework.WithPrefetch(1)}, block, parent, quick)
	c := env.Client
	ctx := testCtx(t)

	t.Run("finished", func(t *testing.T) {
		f := quick.Remote(ctx, c, 7)
		if v, err := f.Await(ctx); err != nil || v != 7 {
			t.Fatal(v, err)
		}
		if err := framework.Cancel(ctx, c, f); err != nil {
			t.Fatalf("cancel finished: %v", err)
		}
	})

	t.Run("running and pending", func(t *testing.T) {
		running := block.Remote(ctx, c, "running")
		if got := recvName(t, started); got != "running" {
			t.Fatalf("started %q", got)
		}
		before := ran.Load()
		pending := block.Remote(ctx, c, "pending") // the only slot is busy
		if err := framework.Cancel(ctx, c, pending); err != nil {
			t.Fatal(err)
		}
		if err := framework.Cancel(ctx, c, running); err != nil {
			t.Fatal(err)
		}
		for name, f := range map[string]*futures.Future[int]{"running": running, "pending": pending} {
			if _, err := f.Await(ctx); !errors.Is(err, framework.ErrCancelled) {
				t.Fatalf("%s: err = %v", name, err)
			}
		}
		// The worker goes on: a later call runs, and the pending one never did.
		if v, err := quick.Remote(ctx, c, 3).Await(ctx); err != nil || v != 3 {
			t.Fatal(v, err)
		}
		if ran.Load() != before {
			t.Fatalf("the cancelled pending call ran")
		}
	})

	t.Run("recursive", func(t *testing.T) {
		env2 := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithConcurrency(2)}, block, parent)
		c2 := env2.Client
		p := parent.Remote(ctx, c2, 0)
		if got := recvName(t, started); got != "child" {
			t.Fatalf("started %q", got)
		}
		if err := framework.Cancel(ctx, c2, p); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Await(ctx); !errors.Is(err, framework.ErrCancelled) {
			t.Fatalf("parent: %v", err)
		}
		child := childID.Load().(*futures.Future[int])
		// The child's result is stored by the worker that ran it; read it like any process.
		var v int
		err := c2.Resolve(ctx, child.ID(), &v)
		if !errors.Is(err, framework.ErrCancelled) {
			t.Fatalf("child: %v", err)
		}
	})
}

func recvName(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for a call to start")
		return ""
	}
}
