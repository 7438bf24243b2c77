package actors_test

import (
	"errors"
	"testing"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework/frameworktest"
)

func TestMaxPendingCalls(t *testing.T) {
	c := frameworktest.New(t, Counter)
	ctx := testCtx(t)
	h := Counter.Options(actors.MaxPendingCalls(2)).Remote(ctx, c, 0)
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	a := Block.Remote(ctx, h, struct{}{})
	b := Incr.Remote(ctx, h, 1) // queued behind a
	if _, err := Incr.Remote(ctx, h, 1).Await(ctx); !errors.Is(err, actors.ErrPendingCallsLimit) {
		t.Fatalf("third call: %v, want ErrPendingCallsLimit", err)
	}
	if h.Pending() != 2 {
		t.Fatalf("pending = %d", h.Pending())
	}
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Await(ctx); !errors.Is(err, actors.ErrActorDied) {
		t.Fatalf("a: %v", err)
	}
	if _, err := b.Await(ctx); !errors.Is(err, actors.ErrActorDied) {
		t.Fatalf("b: %v", err)
	}
	if h.Pending() != 0 {
		t.Fatalf("pending after resolution = %d", h.Pending())
	}
}
