package faulttest

import (
	"context"
	"encoding/json"
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
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// Durable actor state across process faults (actors.Durable, docs/architecture.md "Durable
// actor state"). The actor is chaostest.ChaosDurable: its answers name the instance and the
// worker that computed them, and the instance whose constructor built the state (Origin),
// which a restored actor keeps.

// durableAdds sends n DurableAdd calls of 1 and returns the last answer.
func durableAdds(t *testing.T, ctx context.Context, h *actors.Handle[chaostest.DurableState], n int) chaostest.DurableAnswer {
	t.Helper()
	var last chaostest.DurableAnswer
	for i := range n {
		var err error
		if last, err = chaostest.DurableAdd.Remote(ctx, h, chaostest.DurableIn{By: 1}).Await(ctx); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	return last
}

// durableSnapshot reads actor id's stored snapshot: its header and state.
func durableSnapshot(t *testing.T, ctx context.Context, c *framework.Client, id string) (wire.StateHeader, chaostest.DurableState) {
	t.Helper()
	kv, err := c.JetStream().KeyValue(ctx, c.Names().StateBucket)
	if err != nil {
		t.Fatalf("state bucket: %v", err)
	}
	e, err := kv.Get(ctx, wire.ActorStateKey(id))
	if err != nil {
		t.Fatalf("snapshot of %s: %v", id, err)
	}
	hdr, raw, err := wire.DecodeState(e.Value())
	if err != nil {
		t.Fatal(err)
	}
	var st chaostest.DurableState
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return hdr, st
}

// resultsStored counts the results JETRAY_RESULTS holds for call id.
func resultsStored(t *testing.T, ctx context.Context, c *framework.Client, id string) uint64 {
	t.Helper()
	st, err := c.JetStream().Stream(ctx, framework.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(framework.ResultSubject(id)))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[framework.ResultSubject(id)]
}

// checkFinal reads the actor's state through a call and fails the test unless it holds
// exactly want calls, each adding 1, built by origin.
func checkFinal(t *testing.T, ctx context.Context, h *actors.Handle[chaostest.DurableState], origin string, want int) {
	t.Helper()
	got, err := chaostest.DurableGet.Remote(ctx, h, struct{}{}).Await(ctx)
	if err != nil || got.Value != want || got.Calls != want || got.Origin != origin {
		t.Fatalf("final state %+v, %v; want %d calls applied once each, built by %s", got, err, want, origin)
	}
}

// A durable actor whose worker is SIGKILLed is restarted on another worker from its snapshot:
// the constructor does not run again (the state keeps the first instance as its origin) and
// the next call sees every earlier one.
func TestDurableActorSIGKILL(t *testing.T) {
	url, c, ctx := startBroker(t, 2*time.Minute)
	a := chaosWorker(t, url, "dur-a", "")
	h := chaostest.ChaosDurable.Remote(ctx, c, 0)
	before := durableAdds(t, ctx, h, 10)
	if before.Value != 10 || before.Worker != "dur-a" {
		t.Fatalf("before the crash: %+v", before)
	}
	chaosWorker(t, url, "dur-b", "")
	a.Kill(t)
	after, err := chaostest.DurableAdd.Remote(ctx, h, chaostest.DurableIn{By: 1}).Await(ctx)
	if err != nil || after.Value != 11 || after.Worker != "dur-b" || after.Origin != before.Origin || after.Instance == before.Instance {
		t.Fatalf("after SIGKILL: %+v, %v; want 11 on dur-b from a restored state built by %s", after, err, before.Origin)
	}
	if rec := testsupport.ActorRecord(t, ctx, c, h.ID()); rec.Restarts != 1 || rec.Worker != "dur-b" {
		t.Fatalf("record after the restart: restarts %d on %q", rec.Restarts, rec.Worker)
	}
	checkFinal(t, ctx, h, before.Origin, 11)
}

// A routine SIGTERM with another worker up hands a durable actor over with its state: calls
// sent before, during and after the stop all apply once, in order, to one state whose
// constructor ran once; the hand-over counts no restart.
func TestDurableSIGTERMHandOver(t *testing.T) {
	url, c, ctx := startBroker(t, 2*time.Minute)
	a := chaosWorker(t, url, "dur-a", "")
	h := chaostest.ChaosDurable.Remote(ctx, c, 0)
	first := durableAdds(t, ctx, h, 3)
	chaosWorker(t, url, "dur-b", "")
	var fs []*futures.Future[chaostest.DurableAnswer]
	for range 20 {
		fs = append(fs, chaostest.DurableAdd.Remote(ctx, h, chaostest.DurableIn{By: 1, SleepMs: 10}))
	}
	if err, took := a.Term(t, time.Minute); err != nil {
		t.Fatalf("dur-a exit after %s: %v", took, err)
	}
	for range 20 {
		fs = append(fs, chaostest.DurableAdd.Remote(ctx, h, chaostest.DurableIn{By: 1}))
	}
	for i, f := range fs {
		got, err := f.Await(ctx)
		if err != nil || got.Value != 4+i || got.Origin != first.Origin {
			t.Fatalf("call %d across the stop: %+v, %v; want %d built by %s", i, got, err, 4+i, first.Origin)
		}
	}
	if rec := testsupport.ActorRecord(t, ctx, c, h.ID()); rec.Worker != "dur-b" || rec.Restarts != 0 {
		t.Fatalf("after the stop: on %q, restarts %d", rec.Worker, rec.Restarts)
	}
	checkFinal(t, ctx, h, first.Origin, 43)
}

// A worker stopped (then SIGKILLed) after a call's snapshot was written and before its result
// was stored: the restarted actor answers the call's redelivery with the answer stored in the
// snapshot (computed by the dead instance) and does not apply it again.
func TestDurableSnapshotBeforeResultSIGKILL(t *testing.T) {
	url, c, ctx := startBroker(t, 2*time.Minute)
	// actors.before-publish is after the snapshot write: A stops at its 5th answer.
	a := chaosWorker(t, url, "dur-a", "actors.before-publish=sigstop-after:4")
	h := chaostest.ChaosDurable.Remote(ctx, c, 0)
	first := durableAdds(t, ctx, h, 4)
	f := chaostest.DurableAdd.Remote(ctx, h, chaostest.DurableIn{By: 1})
	testsupport.WaitFor(t, 30*time.Second, "dur-a stopped by its failpoint", a.Stopped)
	hdr, st := durableSnapshot(t, ctx, c, h.ID())
	if len(hdr.Calls) == 0 || hdr.Calls[len(hdr.Calls)-1] != f.ID() || st.Value != 5 || f.Resolved() {
		t.Fatalf("while stopped: snapshot calls %v state %+v, future resolved %v; want call %s in the snapshot, unanswered",
			hdr.Calls, st, f.Resolved(), f.ID())
	}
	chaosWorker(t, url, "dur-b", "")
	a.Kill(t)
	got, err := f.Await(ctx)
	if err != nil || got.Value != 5 || got.Worker != "dur-a" || got.Origin != first.Origin {
		t.Fatalf("interrupted call: %+v, %v; want the answer dur-a stored in the snapshot (5)", got, err)
	}
	next, err := chaostest.DurableAdd.Remote(ctx, h, chaostest.DurableIn{By: 1}).Await(ctx)
	if err != nil || next.Value != 6 || next.Worker != "dur-b" {
		t.Fatalf("next call: %+v, %v; want 6 on dur-b (the interrupted call applied once)", next, err)
	}
	if n := resultsStored(t, ctx, c, f.ID()); n != 1 {
		t.Fatalf("%d results stored for the interrupted call, want 1", n)
	}
	checkFinal(t, ctx, h, first.Origin, 6)
}

// A stale writer: the worker is stopped (SIGSTOP) after a call ran and before its snapshot
// was written, for longer than its lease; another worker restarts the actor from the snapshot,
// runs the interrupted call and more. When the stopped worker continues, its write fails
// (compare-and-swap on a revision that is no longer the last): it stores no result and drops
// its instance. The final state holds every call once.
func TestDurableStaleWriterSIGSTOP(t *testing.T) {
	url, c, ctx := startBroker(t, 3*time.Minute)
	a := chaosWorker(t, url, "dur-a", "actors.before-snapshot=sigstop-after:2")
	h := chaostest.ChaosDurable.Remote(ctx, c, 0)
	first := durableAdds(t, ctx, h, 2)
	before := testsupport.ActorRecord(t, ctx, c, h.ID())
	f := chaostest.DurableAdd.Remote(ctx, h, chaostest.DurableIn{By: 1}) // runs on A, not written
	testsupport.WaitFor(t, 30*time.Second, "dur-a stopped by its failpoint", a.Stopped)
	chaosWorker(t, url, "dur-b", "")
	testsupport.WaitFor(t, time.Minute, "the actor taken over by dur-b", func() bool {
		r := testsupport.ActorRecord(t, ctx, c, h.ID())
		return r.State == actors.StateAlive && r.Epoch > before.Epoch && r.Worker == "dur-b"
	})
	got, err := f.Await(ctx)
	if err != nil || got.Value != 3 || got.Worker != "dur-b" {
		t.Fatalf("interrupted call: %+v, %v; want 3 computed on dur-b from the stored state", got, err)
	}
	last := durableAdds(t, ctx, h, 5)
	if last.Value != 8 {
		t.Fatalf("calls on dur-b: %+v", last)
	}
	if err := a.Send(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	a.WaitFor(t, time.Minute, "dur-a to drop its instance", func() bool {
		return strings.Contains(a.Stderr.String(), "durable state written by a newer instance")
	})
	if n := resultsStored(t, ctx, c, f.ID()); n != 1 {
		t.Fatalf("%d results stored for the interrupted call, want 1", n)
	}
	var again chaostest.DurableAnswer
	if err := testsupport.Connect(t, url).Resolve(ctx, f.ID(), &again); err != nil || again != got {
		t.Fatalf("stored result %+v, %v; the caller got %+v", again, err, got)
	}
	checkFinal(t, ctx, h, first.Origin, 8)
	rec := testsupport.ActorRecord(t, ctx, c, h.ID())
	if hdr, st := durableSnapshot(t, ctx, c, h.ID()); hdr.Epoch != rec.Epoch || st.Value != 8 || st.Calls != 8 {
		t.Fatalf("snapshot epoch %d state %+v; record epoch %d; want the owner's state, 8 calls", hdr.Epoch, st, rec.Epoch)
	}
}

// A partition: the worker is cut off (TCP proxy black hole) with a call run and its snapshot
// write about to go out (the failpoint holds it there, then lets it go into the cut link), for
// longer than its lease; another worker restarts the actor from the snapshot and serves calls;
// the link comes back and the held write reaches the broker, or is read back after a timeout:
// either way it finds the snapshot claimed by the new owner. The cut-off worker stores no
// result and drops its instance; every call has one result and the final state holds each once.
func TestDurableStaleWriterPartition(t *testing.T) {
	url, c, ctx := startBroker(t, 3*time.Minute)
	p, proxied := testsupport.Proxy(t, url)
	a := chaosWorker(t, proxied, "dur-a", "actors.before-snapshot=sigstop-after:3")
	h := chaostest.ChaosDurable.Remote(ctx, c, 0)
	first := durableAdds(t, ctx, h, 3)
	before := testsupport.ActorRecord(t, ctx, c, h.ID())
	f := chaostest.DurableAdd.Remote(ctx, h, chaostest.DurableIn{By: 1}) // runs on A
	testsupport.WaitFor(t, 30*time.Second, "dur-a stopped before its snapshot write", a.Stopped)
	p.Blackhole()
	if err := a.Send(syscall.SIGCONT); err != nil { // A writes into the cut link
		t.Fatal(err)
	}
	chaosWorker(t, url, "dur-b", "")
	testsupport.WaitFor(t, time.Minute, "the actor taken over by dur-b", func() bool {
		r := testsupport.ActorRecord(t, ctx, c, h.ID())
		return r.State == actors.StateAlive && r.Epoch > before.Epoch && r.Worker == "dur-b"
	})
	got, err := f.Await(ctx)
	if err != nil || got.Value != 4 || got.Worker != "dur-b" {
		t.Fatalf("call cut off on dur-a: %+v, %v; want 4 computed on dur-b", got, err)
	}
	fs := make([]*futures.Future[chaostest.DurableAnswer], 5)
	for i := range fs {
		fs[i] = chaostest.DurableAdd.Remote(ctx, h, chaostest.DurableIn{By: 1})
	}
	if _, err := futures.Gather(ctx, fs...); err != nil {
		t.Fatal(err)
	}
	p.Restore()
	a.WaitFor(t, time.Minute, "dur-a to drop its instance", func() bool {
		return strings.Contains(a.Stderr.String(), "actor instance dropped")
	})
	if !strings.Contains(a.Stderr.String(), "durable state written by a newer instance") {
		t.Errorf("dur-a dropped its instance, but not on its failed snapshot write:\n%s", testsupport.Tail(a.Stderr.String(), 2000))
	}
	for _, id := range append(callIDs(fs), f.ID()) {
		if n := resultsStored(t, ctx, c, id); n != 1 {
			t.Fatalf("%d results stored for call %s, want 1", n, id)
		}
	}
	checkFinal(t, ctx, h, first.Origin, 9)
	rec := testsupport.ActorRecord(t, ctx, c, h.ID())
	if hdr, st := durableSnapshot(t, ctx, c, h.ID()); hdr.Epoch != rec.Epoch || st.Value != 9 || st.Calls != 9 {
		t.Fatalf("snapshot epoch %d state %+v; record epoch %d; want the owner's state, 9 calls", hdr.Epoch, st, rec.Epoch)
	}
}

// The demo Counter (cmd/worker's catalog, a StateCodec of its value) made durable per instance:
// SIGKILL its worker and the restarted actor goes on from its stored value, where a re-run
// constructor would start again from Start.
func TestDurableDemoCounterSIGKILL(t *testing.T) {
	url, c, ctx := startBroker(t, 2*time.Minute)
	a := testsupport.StartWorker(t, url, "count-a")
	h := demo.CounterClass.Options(actors.Durable(), actors.MaxRestarts(-1), actors.MaxTaskRetries(1)).
		Remote(ctx, c, demo.CounterInput{Start: 100})
	for i := range 7 {
		if v, err := demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1}).Await(ctx); err != nil || v != 101+i {
			t.Fatalf("call %d: %d, %v", i, v, err)
		}
	}
	testsupport.StartWorker(t, url, "count-b")
	a.Kill(t)
	if v, err := demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1}).Await(ctx); err != nil || v != 108 {
		t.Fatalf("after SIGKILL: %d, %v; want 108 (restored, not rebuilt from 100)", v, err)
	}
	if rec := testsupport.ActorRecord(t, ctx, c, h.ID()); rec.Restarts != 1 || rec.Worker != "count-b" || !rec.Durable {
		t.Fatalf("record: restarts %d on %q, durable %v", rec.Restarts, rec.Worker, rec.Durable)
	}
}

// A durable actor with a Prefetch window and at-most-once calls (MaxTaskRetries 0), whose
// worker stops after a call's snapshot was written, before its result, with more calls waiting
// in the window, and is then SIGKILLed: the interrupted call is answered from its snapshot and
// counts as the one call of the crash that ran, so the waiting calls, which never started, run
// on the restarted actor instead of failing with ErrDied.
func TestDurablePrefetchCrashAnswersFromSnapshot(t *testing.T) {
	url, c, ctx := startBroker(t, 2*time.Minute)
	a := chaosWorker(t, url, "dur-a", "actors.before-publish=sigstop-after:2")
	h := chaostest.ChaosDurable.Options(actors.Prefetch(8), actors.MaxTaskRetries(0)).Remote(ctx, c, 0)
	durableAdds(t, ctx, h, 2)
	fs := make([]*futures.Future[chaostest.DurableAnswer], 8)
	for i := range fs {
		fs[i] = chaostest.DurableAdd.Remote(ctx, h, chaostest.DurableIn{By: 1})
	}
	testsupport.WaitFor(t, 30*time.Second, "dur-a stopped by its failpoint", a.Stopped)
	chaosWorker(t, url, "dur-b", "")
	a.Kill(t)
	for i, f := range fs {
		got, err := f.Await(ctx)
		if err != nil || got.Value != 3+i {
			t.Fatalf("call %d: %+v, %v; want %d", i, got, err, 3+i)
		}
		if want := map[bool]string{true: "dur-a", false: "dur-b"}[i == 0]; got.Worker != want {
			t.Fatalf("call %d answered by %s, want %s", i, got.Worker, want)
		}
	}
}
