package actors_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/testsupport"
)

// startWorker runs a worker on its own client; stop ends it without reporting its error (the
// test may have cut its connection).
func startWorker(t *testing.T, url string, defs ...framework.Definition) (c *framework.Client, stop func()) {
	t.Helper()
	x := frameworktest.StartExtraWorker(t, url, []framework.WorkerOption{framework.WithDrainTimeout(2 * time.Second)}, defs...)
	return x.Client, x.Stop
}

func TestActorRestartAfterWorkerDeath(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxRestarts int
	}{{"restarted", 1}, {"dead", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
			ctx := testCtx(t)
			driver := testsupport.Connect(t, srv.ClientURL())
			// MaxTaskRetries(1): the call below may reach the dying worker's consumer before the
			// broker notices the worker is gone; at-least-once calls then run on the restarted
			// actor instead of failing with ErrActorDied.
			clsA := Counter.Options(actors.MaxRestarts(tc.maxRestarts), actors.MaxTaskRetries(1))
			aClient, _ := startWorker(t, srv.ClientURL(), Counter)
			h := clsA.Remote(ctx, driver, 5)
			if v, err := Incr.Remote(ctx, h, 1).Await(ctx); err != nil || v != 6 {
				t.Fatalf("before: %d, %v", v, err)
			}
			startWorker(t, srv.ClientURL(), Counter) // B, the survivor
			aClient.Conn().Close()                   // A vanishes without a goodbye
			start := time.Now()
			v, err := Incr.Remote(ctx, h, 1).Await(ctx)
			switch tc.maxRestarts {
			case 1:
				if err != nil || v != 6 { // constructor re-run with start 5, then +1
					t.Fatalf("after restart: %d, %v; want 6", v, err)
				}
			case 0:
				if !errors.Is(err, actors.ErrActorDied) {
					t.Fatalf("after worker death: %d, %v; want ErrActorDied", v, err)
				}
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("took %v", d)
			}
			recs, err := actors.List(ctx, driver)
			if err != nil || len(recs) != 1 {
				t.Fatalf("records: %v, %v", recs, err)
			}
			t.Logf("record after %v: state %s restarts %d error %q", time.Since(start), recs[0].State, recs[0].Restarts, recs[0].Error)
		})
	}
}

// TestRestartsOutlastTheLivenessRound: the actors of a dead worker are restarted over as many
// liveness rounds as it takes, each with a deadline of its own. A round whose time ran out
// used to fail the restarts still in progress with its context's error, burying actors that
// had restarts left (seen with 50,000 actors on one worker).
func TestRestartsOutlastTheLivenessRound(t *testing.T) {
	t.Cleanup(actors.SetRecoverRound(time.Millisecond)) // runs last: after the workers stop
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	driver := testsupport.Connect(t, srv.ClientURL())
	cls := Counter.Options(actors.MaxRestarts(1), actors.MaxTaskRetries(1))
	aClient, _ := startWorker(t, srv.ClientURL(), Counter)
	const n = 12
	hs := make([]*actors.Handle[counter], n)
	for i := range hs {
		hs[i] = cls.Remote(ctx, driver, i)
	}
	for i, h := range hs {
		if v, err := Incr.Remote(ctx, h, 1).Await(ctx); err != nil || v != i+1 {
			t.Fatalf("actor %d before: %d, %v", i, v, err)
		}
	}
	startWorker(t, srv.ClientURL(), Counter) // the survivor
	aClient.Conn().Close()                   // the host vanishes without a goodbye
	for i, h := range hs {
		if v, err := Incr.Remote(ctx, h, 1).Await(ctx); err != nil || v != i+1 {
			t.Fatalf("actor %d after the restart: %d, %v; want %d (constructor re-run, then +1)", i, v, err, i+1)
		}
	}
	recs, err := actors.List(ctx, driver)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.State != actors.StateAlive || r.Restarts != 1 {
			t.Errorf("actor %s: state %s, restarts %d, error %q; want ALIVE after one restart", r.ID, r.State, r.Restarts, r.Error)
		}
	}
}
