package actors_test

import (
	"errors"
	"testing"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

func TestCancelActorCall(t *testing.T) {
	c := frameworktest.New(t, Counter)
	ctx := testCtx(t)
	h := Counter.Remote(ctx, c, 0)
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	running := Block.Remote(ctx, h, struct{}{})
	queued := Incr.Remote(ctx, h, 5) // behind the running call (max_concurrency 1)
	if err := framework.Cancel(ctx, c, queued); err != nil {
		t.Fatal(err)
	}
	if err := framework.Cancel(ctx, c, running); err != nil {
		t.Fatal(err)
	}
	if _, err := running.Await(ctx); !errors.Is(err, framework.ErrCancelled) {
		t.Fatalf("running: %v", err)
	}
	if _, err := queued.Await(ctx); !errors.Is(err, framework.ErrCancelled) {
		t.Fatalf("queued: %v", err)
	}
	// The actor lives on, and the cancelled increment never ran.
	if v, err := Incr.Remote(ctx, h, 1).Await(ctx); err != nil || v != 1 {
		t.Fatalf("after cancel: %d, %v; want 1", v, err)
	}
}
