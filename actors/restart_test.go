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
