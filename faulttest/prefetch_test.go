package faulttest

import (
	"errors"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/chaostest"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/jetray/jetray/internal/wire"
)

// A plain actor with a Prefetch window loses its worker to SIGKILL while one call has run
// (its result not yet published: the process is stopped there first) and the window holds
// the calls sent after it. Only that call can have run, since the host starts a call only
// once the one before it has its result stored: it fails with ErrDied (MaxTaskRetries 0,
// at-most-once), and every call that waited in the window, or in the stream behind it, runs
// on the restarted actor, once each, in order, one at a time.
func TestPrefetchWorkerKilled(t *testing.T) {
	url, c, ctx := startBroker(t, 3*time.Minute)
	// A stops itself at its second actor answer, after the call ran, before its publish.
	a := chaosWorker(t, url, "window-a", "actors.before-publish=sigstop-after:1")
	const window, n = 8, 12
	h := chaostest.ChaosCounter.Options(actors.Prefetch(window), actors.MaxRestarts(1), actors.MaxTaskRetries(0)).
		Remote(ctx, c, 100)
	if first, err := chaostest.Incr.Remote(ctx, h, 1).Await(ctx); err != nil || first.Value != 101 {
		t.Fatalf("first call: %+v, %v", first, err)
	}
	chaosWorker(t, url, "window-b", "")
	ran := chaostest.Incr.Remote(ctx, h, 1) // A runs it, then stops
	fs := make([]*futures.Future[chaostest.Answer], n)
	for i := range fs {
		fs[i] = chaostest.Incr.Remote(ctx, h, 1)
	}
	testsupport.WaitFor(t, 30*time.Second, "window-a stopped by its failpoint", a.Stopped)
	rec := testsupport.ActorRecord(t, ctx, c, h.ID())
	cons, err := c.JetStream().Consumer(ctx, framework.ActorsStream, wire.Names{}.ActorConsumer(h.ID(), rec.Epoch, ""))
	if err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, 30*time.Second, "the window delivered to window-a", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == window
	})
	a.Kill(t)

	if _, err := ran.Await(ctx); !errors.Is(err, actors.ErrDied) {
		t.Fatalf("the call that ran on the killed worker: %v, want ErrDied", err)
	}
	got, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatalf("calls that waited in the window or behind it: %v", err)
	}
	for i, g := range got {
		// Rebuilt from its constructor input (100): the calls count from there, in order.
		if g.Worker != "window-b" || g.Value != 101+i || g.Peak != 1 || g.Instance != got[0].Instance {
			t.Fatalf("call %d: %+v; want value %d on one instance of window-b, one call at a time", i, g, 101+i)
		}
	}
	if rec := testsupport.ActorRecord(t, ctx, c, h.ID()); rec.Restarts != 1 || rec.Prefetch != window {
		t.Fatalf("record after the crash: restarts %d, prefetch %d", rec.Restarts, rec.Prefetch)
	}
}
