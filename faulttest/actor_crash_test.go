package faulttest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
)

// Requirement 3: an actor on a worker process killed with SIGKILL is rebuilt on another
// worker when it has restarts left (queued calls then run), and otherwise its calls fail with
// ErrActorDied within seconds.
func TestActorWorkerCrash(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxRestarts int
	}{{"restarted", 1}, {"dead", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			url, c, ctx := startBroker(t, 2*time.Minute)

			a := testsupport.StartWorker(t, url, "actor-a")
			// MaxTaskRetries(1): a call sent just after the kill can still reach the dead
			// worker's pull before the broker notices; at-least-once calls then run on the
			// rebuilt actor (possibly out of order) instead of failing with ErrActorDied.
			h := demo.CounterClass.Options(actors.MaxRestarts(tc.maxRestarts), actors.MaxTaskRetries(1)).
				Remote(ctx, c, demo.CounterInput{Start: 10})
			if v, err := demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1}).Await(ctx); err != nil || v != 11 {
				t.Fatalf("before the crash: %d, %v", v, err)
			}
			testsupport.StartWorker(t, url, "actor-b")
			a.Kill(t)
			killed := time.Now()
			// Calls sent after the crash queue on the actor's subject until it is rebuilt.
			fs := make([]*futures.Future[int], 5)
			for i := range fs {
				fs[i] = demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1})
			}
			vals, err := futures.Gather(ctx, fs...)
			took := time.Since(killed)
			switch tc.maxRestarts {
			case 1:
				if err != nil {
					t.Fatalf("calls after the crash: %v", err)
				}
				slices.Sort(vals) // retried calls may run out of order
				for i, v := range vals {
					if v != 11+i { // the constructor ran again with Start 10
						t.Fatalf("values %v, want 11..15 (a rebuilt actor)", vals)
					}
				}
			case 0:
				if !errors.Is(err, actors.ErrActorDied) {
					t.Fatalf("calls after the crash: %v, want ErrActorDied", err)
				}
				if took > 20*time.Second {
					t.Fatalf("ErrActorDied after %s, want within seconds", took)
				}
			}
			recs, err := actors.List(ctx, c)
			if err != nil || len(recs) != 1 {
				t.Fatalf("records: %v, %v", recs, err)
			}
			t.Logf("%s: answered %s after SIGKILL; record %s on %q, restarts %d, %q", tc.name,
				took.Round(time.Millisecond), recs[0].State, recs[0].Worker, recs[0].Restarts, recs[0].Error)
			if tc.maxRestarts == 1 && recs[0].Worker != "actor-b" {
				t.Fatalf("rebuilt on %q, want actor-b", recs[0].Worker)
			}
		})
	}
}
