package faulttest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/chaostest"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/nats-io/nats.go/jetstream"
)

// Kill returns once the host has stopped the actor; the host reaps after answering. A host
// that dies between its answer and its reap (stopped there by a failpoint, then SIGKILLed)
// leaves the reaping to the killer, which checks a while after Kill that the actor's consumer
// is gone: the running and queued calls still fail with ErrActorDied, and nothing of the actor
// stays in JETRAY_ACTORS.
func TestKillerReapsWhenHostDiesAfterAnswer(t *testing.T) {
	url, c, ctx := startBroker(t, 2*time.Minute)
	a := chaosWorker(t, url, "kill-a", "actors.kill-answered=sigstop")
	h := chaostest.ChaosAsync.Remote(ctx, c, 0)
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	// AsyncMaxConcurrency calls run, the rest queue.
	fs := make([]*futures.Future[chaostest.Answer], chaostest.AsyncMaxConcurrency+5)
	for i := range fs {
		fs[i] = chaostest.Work.Remote(ctx, h, 60_000)
	}
	testsupport.WaitFor(t, 30*time.Second, "the calls stored", func() bool {
		n, err := actorCalls(c, h.ID())
		return err == nil && n == len(fs)
	})
	start := time.Now()
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	t.Logf("Kill returned after %v", time.Since(start).Round(time.Millisecond))
	testsupport.WaitFor(t, 30*time.Second, "kill-a stopped by its failpoint", a.Stopped)
	a.Kill(t)
	for i, f := range fs {
		if _, err := f.Await(ctx); !errors.Is(err, actors.ErrActorDied) {
			t.Fatalf("call %d: %v, want ErrActorDied", i, err)
		}
	}
	t.Logf("calls answered %v after the kill", time.Since(start).Round(time.Millisecond))
	testsupport.WaitFor(t, 30*time.Second, "the actor's calls and consumer gone", func() bool {
		n, err := actorCalls(c, h.ID())
		if err != nil || n != 0 {
			return false
		}
		st, err := c.JetStream().Stream(ctx, framework.ActorsStream)
		if err != nil {
			return false
		}
		for name := range st.ConsumerNames(ctx).Name() {
			if strings.HasPrefix(name, "actor-") {
				return false
			}
		}
		return true
	})
}

// actorCalls returns how many calls of actor id JETRAY_ACTORS holds.
func actorCalls(c *framework.Client, id string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.JetStream().Stream(ctx, framework.ActorsStream)
	if err != nil {
		return 0, err
	}
	filter := "jetray.actor." + id + ".>"
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range info.State.Subjects {
		n += int(k)
	}
	return n, nil
}
