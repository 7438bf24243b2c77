package actors_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
)

type quitter struct{ n int }

var (
	Quitter = actors.Define("Quitter", func(_ context.Context, _ int) (*quitter, error) { return &quitter{}, nil },
		actors.MaxRestarts(-1))
	QuitterIncr = actors.Method(Quitter, "incr", func(q *quitter, _ context.Context, _ int) (int, error) {
		q.n++
		return q.n, nil
	})
	QuitterExit = actors.Method(Quitter, "exit", func(q *quitter, ctx context.Context, _ int) (int, error) {
		return 0, actors.ExitWithReason(ctx, "done with work")
	})
)

// TestExit ports Ray's exit_actor: the calling method fails with ErrDied, queued and later
// calls fail with ErrDied, the actor is not restarted although MaxRestarts(-1), its name is
// free again, and Exit outside an actor is an error.
func TestExit(t *testing.T) {
	c := frameworktest.New(t, Quitter)
	ctx := testCtx(t)
	h := Quitter.Options(actors.Name("quitter")).Remote(ctx, c, 0)
	if v, err := QuitterIncr.Remote(ctx, h, 0).Await(ctx); err != nil || v != 1 {
		t.Fatalf("incr = %d, %v", v, err)
	}
	exit := QuitterExit.Remote(ctx, h, 0)
	queued := make([]*futures.Future[int], 5)
	for i := range queued {
		queued[i] = QuitterIncr.Remote(ctx, h, 0)
	}
	if _, err := exit.Await(ctx); !errors.Is(err, actors.ErrDied) || !strings.Contains(err.Error(), "exited: done with work") {
		t.Fatalf("exit call: %v, want ErrDied with the reason", err)
	}
	for i, f := range queued {
		if _, err := f.Await(ctx); !errors.Is(err, actors.ErrDied) {
			t.Fatalf("queued call %d: %v, want ErrDied", i, err)
		}
	}
	if _, err := QuitterIncr.Remote(ctx, h, 0).Await(ctx); !errors.Is(err, actors.ErrDied) {
		t.Fatalf("later call: %v, want ErrDied", err)
	}
	rec := frameworktest.WaitActorState(t, c, h.ID(), actors.StateDead)
	if rec.Restarts != 0 || !strings.HasPrefix(rec.Error, "exited") {
		t.Fatalf("record after Exit: restarts %d, error %q", rec.Restarts, rec.Error)
	}
	// The name is free: a new actor can take it.
	h2 := Quitter.Options(actors.Name("quitter")).Remote(ctx, c, 0)
	if v, err := QuitterIncr.Remote(ctx, h2, 0).Await(ctx); err != nil || v != 1 || h2.ID() == h.ID() {
		t.Fatalf("new actor under the freed name: %d, %v (id %s, old %s)", v, err, h2.ID(), h.ID())
	}
	if err := actors.Exit(ctx); !errors.Is(err, actors.ErrNotInActor) {
		t.Fatalf("Exit outside an actor: %v", err)
	}
}
