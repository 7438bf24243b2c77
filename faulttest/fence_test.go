package faulttest

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/chaostest"
	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/nats-io/nats.go/jetstream"
)

// An actor host stopped (SIGSTOP) between its lease check and its result publish, for longer
// than the lease: another worker takes the actor over and answers the interrupted call; when
// the stopped host resumes, its late result is refused (one result per call), it serves no
// further call, and it drops its instance without touching the record. The actor is the chaos
// run's ChaosCounter, whose answers name the instance and worker that gave them.
func TestStaleHostStoppedBeforePublish(t *testing.T) {
	url, c, ctx := startBroker(t, 3*time.Minute)
	// A stops itself at its second actor answer, after the lease check, before the publish.
	a := chaosWorker(t, url, "stale-a", "actors.before-publish=sigstop-after:1")
	h := chaostest.ChaosCounter.Remote(ctx, c, 0)
	first, err := chaostest.Incr.Remote(ctx, h, 1).Await(ctx)
	if err != nil || first.Worker != "stale-a" || first.Value != 1 {
		t.Fatalf("first call: %+v, %v", first, err)
	}
	before := testsupport.ActorRecord(t, ctx, c, h.ID())
	chaosWorker(t, url, "stale-b", "")
	f := chaostest.Incr.Remote(ctx, h, 1) // A computes 2, then stops
	testsupport.WaitFor(t, 30*time.Second, "stale-a stopped by its failpoint", a.Stopped)
	testsupport.WaitFor(t, time.Minute, "the actor taken over by stale-b", func() bool {
		r := testsupport.ActorRecord(t, ctx, c, h.ID())
		return r.State == actors.StateAlive && r.Epoch > before.Epoch && r.WorkerKey != before.WorkerKey
	})
	got, err := f.Await(ctx)
	if err != nil || got.Worker != "stale-b" || got.Instance == first.Instance {
		t.Fatalf("interrupted call: %+v, %v; want an answer of the new instance on stale-b", got, err)
	}
	if err := a.Send(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	a.WaitFor(t, time.Minute, "stale-a to drop its instance", func() bool {
		return strings.Contains(a.Stderr.String(), "actor instance dropped")
	})
	other := testsupport.Connect(t, url)
	var again chaostest.Answer
	if err := other.Resolve(ctx, f.ID(), &again); err != nil || again.Instance != got.Instance || again.Value != got.Value {
		t.Fatalf("Resolve after the stale host resumed: %+v, %v; the caller got %+v", again, err, got)
	}
	st, err := c.JetStream().Stream(ctx, framework.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(framework.ResultSubject(f.ID())))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[framework.ResultSubject(f.ID())]; n != 1 {
		t.Fatalf("%d results stored for the interrupted call, want 1", n)
	}
	last := got
	for i := range 10 {
		a, err := chaostest.Incr.Remote(ctx, h, 1).Await(ctx)
		if err != nil || a.Worker == "stale-a" || (a.Instance == last.Instance && a.Value <= last.Value) {
			t.Fatalf("call %d after the stale host resumed: %+v, %v (the one before: %+v)", i, a, err, last)
		}
		last = a
	}
}

// A routine SIGTERM (a rolling deploy) hands the worker's actors over to the other worker
// instead of killing them: calls sent before, during and after the stop all succeed, the
// record is ALIVE on the other worker, and the hand-over is not counted as a restart.
func TestSIGTERMHandsActorsOver(t *testing.T) {
	url, c, ctx := startBroker(t, 3*time.Minute)

	a := testsupport.StartWorker(t, url, "deploy-a")
	h := demo.CounterClass.Options(actors.MaxRestarts(-1)).Remote(ctx, c, demo.CounterInput{Start: 0})
	if v, err := demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1}).Await(ctx); err != nil || v != 1 {
		t.Fatalf("before the deploy: %d, %v", v, err)
	}
	testsupport.StartWorker(t, url, "deploy-b")
	var fs []*futures.Future[int]
	for range 20 {
		fs = append(fs, demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1}))
	}
	if err, took := a.Term(t, time.Minute); err != nil {
		t.Fatalf("deploy-a exit after %s: %v", took, err)
	}
	for range 20 {
		fs = append(fs, demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1}))
	}
	for i, f := range fs {
		if _, err := f.Await(ctx); err != nil {
			t.Fatalf("call %d across the deploy: %v", i, err)
		}
	}
	rec := testsupport.ActorRecord(t, ctx, c, h.ID())
	if rec.State != actors.StateAlive || rec.Worker != "deploy-b" || rec.Restarts != 0 {
		t.Fatalf("after the deploy: state %s on %q, restarts %d", rec.State, rec.Worker, rec.Restarts)
	}
}
