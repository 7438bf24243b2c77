package actors_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
)

var (
	phoenixStarted = make(chan struct{}, 16)

	Phoenix = actors.Define("Phoenix", func(_ context.Context, start int) (*counter, error) {
		return &counter{n: start}, nil
	}, actors.MaxRestarts(1))
	PhoenixIncr  = actors.Method(Phoenix, "incr", (*counter).Incr)
	PhoenixBlock = actors.Method(Phoenix, "block", func(c *counter, ctx context.Context, _ int) (int, error) {
		phoenixStarted <- struct{}{}
		<-ctx.Done()
		return c.n, nil // whatever it returns, the killed instance's call fails
	})
)

// TestKillAllowRestart ports ray.kill(actor, no_restart=False): the instance is replaced by a
// new one (constructor run again, one restart counted), the call running on the killed
// instance fails with ErrDied, calls queued behind it run on the new instance in order, and a
// second kill with no restarts left kills for good.
func TestKillAllowRestart(t *testing.T) {
	c := frameworktest.New(t, Phoenix)
	ctx := testCtx(t)
	h := Phoenix.Remote(ctx, c, 100)
	if v, err := PhoenixIncr.Remote(ctx, h, 5).Await(ctx); err != nil || v != 105 {
		t.Fatalf("incr = %d, %v", v, err)
	}
	running := PhoenixBlock.Remote(ctx, h, 0)
	select {
	case <-phoenixStarted:
	case <-ctx.Done():
		t.Fatal("block never started")
	}
	queued := make([]*futures.Future[int], 3)
	for i := range queued {
		queued[i] = PhoenixIncr.Remote(ctx, h, 1)
	}
	if err := actors.Kill(ctx, h, actors.AllowRestart()); err != nil {
		t.Fatal(err)
	}
	if _, err := running.Await(ctx); !errors.Is(err, actors.ErrDied) {
		t.Fatalf("running call: %v, want ErrDied", err)
	}
	for i, f := range queued { // the new instance starts again from 100
		if v, err := f.Await(ctx); err != nil || v != 101+i {
			t.Fatalf("queued call %d = %d, %v; want %d", i, v, err, 101+i)
		}
	}
	rec := frameworktest.WaitActorState(t, c, h.ID(), actors.StateAlive)
	if rec.Restarts != 1 {
		t.Fatalf("restarts = %d, want 1", rec.Restarts)
	}
	// No restarts left: an ordinary kill.
	if err := actors.Kill(ctx, h, actors.AllowRestart()); err != nil {
		t.Fatal(err)
	}
	if _, err := PhoenixIncr.Remote(ctx, h, 1).Await(ctx); !errors.Is(err, actors.ErrDied) {
		t.Fatalf("after the second kill: %v, want ErrDied", err)
	}
	if rec := frameworktest.WaitActorState(t, c, h.ID(), actors.StateDead); rec.Restarts != 1 {
		t.Fatalf("restarts = %d after the final kill, want 1", rec.Restarts)
	}
}

// TestKillAllowRestartWithoutRestarts: an actor with MaxRestarts(0) is simply killed.
func TestKillAllowRestartWithoutRestarts(t *testing.T) {
	c := frameworktest.New(t, Counter)
	ctx := testCtx(t)
	h := Counter.Remote(ctx, c, 0)
	if _, err := Incr.Remote(ctx, h, 1).Await(ctx); err != nil {
		t.Fatal(err)
	}
	if err := actors.Kill(ctx, h, actors.AllowRestart()); err != nil {
		t.Fatal(err)
	}
	if _, err := Incr.Remote(ctx, h, 1).Await(ctx); !errors.Is(err, actors.ErrDied) {
		t.Fatalf("after Kill: %v, want ErrDied", err)
	}
}
