package actors_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
)

// startWorker runs a worker on its own client; stop ends it without reporting its error (the
// test may have cut its connection).
func startWorker(t *testing.T, url string, defs ...framework.Definition) (c *framework.Client, stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := framework.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	w := framework.NewWorker(c, framework.WithDrainTimeout(2*time.Second))
	if err := w.Register(defs...); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(rctx); close(done) }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		rcancel()
		<-done
		_ = c.Close()
	}
	t.Cleanup(stop)
	return c, stop
}

func TestActorRestartAfterWorkerDeath(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxRestarts int
	}{{"restarted", 1}, {"dead", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Shutdown)
			ctx := testCtx(t)
			driver, err := framework.Connect(ctx, srv.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = driver.Close() })
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
