package actors_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ident is an actor that knows which instance it is: every construction gets a new ID, so a
// test can tell the answers of two instances of one actor apart.
type ident struct {
	id      string
	n       int
	running atomic.Int32
	peak    atomic.Int32
}

// Answer is what Ident's methods return.
type Answer struct {
	Instance string `json:"instance"`
	N        int    `json:"n"`
	Peak     int    `json:"peak,omitempty"`
}

// identBuilt counts constructions per tag (the constructor's input).
var identBuilt sync.Map // tag -> *atomic.Int32

func built(tag string) int {
	v, _ := identBuilt.LoadOrStore(tag, new(atomic.Int32))
	return int(v.(*atomic.Int32).Load())
}

// IdentSpec is Ident's constructor input.
type IdentSpec struct {
	Tag   string        `json:"tag"`
	Delay time.Duration `json:"delay,omitempty"` // the constructor takes this long
}

var (
	Ident = actors.Define("Ident", func(ctx context.Context, in IdentSpec) (*ident, error) {
		v, _ := identBuilt.LoadOrStore(in.Tag, new(atomic.Int32))
		n := v.(*atomic.Int32).Add(1)
		select {
		case <-time.After(in.Delay):
		case <-ctx.Done():
		}
		return &ident{id: fmt.Sprintf("%s#%d", in.Tag, n)}, nil
	})
	// Who counts calls on the instance.
	Who = actors.Method(Ident, "who", func(a *ident, _ context.Context, _ struct{}) (Answer, error) {
		a.n++
		return Answer{Instance: a.id, N: a.n}, nil
	})
	// Slow runs for d (or until its ctx ends), and reports the peak of calls running at once.
	Slow = actors.Method(Ident, "slow", func(a *ident, ctx context.Context, d time.Duration) (Answer, error) {
		cur := a.running.Add(1)
		for {
			p := a.peak.Load()
			if cur <= p || a.peak.CompareAndSwap(p, cur) {
				break
			}
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		a.running.Add(-1)
		return Answer{Instance: a.id, Peak: int(a.peak.Load())}, nil
	})
)

// identWorker runs a worker serving Ident on its own client, connected to url.
func identWorker(t *testing.T, url string, opts ...framework.WorkerOption) (w *framework.Worker, stop func()) {
	t.Helper()
	x := frameworktest.StartExtraWorker(t, url, append([]framework.WorkerOption{framework.WithDrainTimeout(5 * time.Second)}, opts...), Ident)
	return x.Worker, x.Stop
}

// TestCreationDeliveredTwiceBuildsOnce: a creation call delivered again (on this worker or
// another) while the first delivery is still constructing never builds a second instance.
func TestCreationDeliveredTwiceBuildsOnce(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	identWorker(t, srv.ClientURL())
	identWorker(t, srv.ClientURL())
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	tag := "twice"
	h := Ident.Options(actors.MaxRestarts(-1)).Remote(ctx, drv, IdentSpec{Tag: tag, Delay: 300 * time.Millisecond})
	// Three more deliveries of the same creation call, as redeliveries would bring them.
	data, _ := drv.Codec().Marshal(IdentSpec{Tag: tag, Delay: 300 * time.Millisecond})
	for i := range 3 {
		m := &nats.Msg{Subject: framework.TaskSubject("_actor_Ident"), Data: data, Header: nats.Header{
			jetstream.MsgIDHeader:     []string{fmt.Sprintf("%s-again-%d", h.ID(), i)},
			wire.HeaderID:             []string{h.ID()},
			wire.HeaderReply:          []string{framework.ResultSubject(h.ID())},
			wire.HeaderTask:           []string{"_actor_Ident"},
			wire.HeaderActor:          []string{h.ID()},
			wire.HeaderMaxConcurrency: []string{"1"},
		}}
		if _, err := drv.JetStream().PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	var first string
	for i := 1; i <= 10; i++ {
		a, err := Who.Remote(ctx, h, struct{}{}).Await(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = a.Instance
		}
		if a.Instance != first || a.N != i {
			t.Fatalf("call %d answered by %s with n=%d; first answer came from %s", i, a.Instance, a.N, first)
		}
	}
	// Every copy of the creation call has been taken by now (the queue is empty).
	testsupport.WaitFor(t, 15*time.Second, "creation calls consumed", func() bool {
		info, err := drv.JetStream().Consumer(ctx, framework.TasksStream, "task-_actor_Ident")
		if err != nil {
			return false
		}
		ci, err := info.Info(ctx)
		return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0
	})
	if n := built(tag); n != 1 {
		t.Fatalf("constructor ran %d times, want 1", n)
	}
}

// TestReaperKeepsAnswers: killing an async actor whose long call holds the ack floor down
// must not replace the results of calls that already returned, even after the results
// stream's duplicate window has passed.
func TestReaperKeepsAnswers(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	identWorker(t, srv.ClientURL())
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	h := Ident.Options(actors.MaxConcurrency(4)).Remote(ctx, drv, IdentSpec{Tag: "reaper"})
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	long := Slow.Remote(ctx, h, 30*time.Second) // holds the ack floor
	var quick []string
	for range 3 {
		f := Slow.Remote(ctx, h, time.Millisecond)
		if _, err := f.Await(ctx); err != nil {
			t.Fatal(err)
		}
		quick = append(quick, f.ID())
	}
	// Shrink the results stream's duplicate window and let it pass: Nats-Msg-Id no longer
	// protects the stored answers.
	st, err := drv.JetStream().Stream(ctx, framework.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.Duplicates = 100 * time.Millisecond
	if _, err := drv.JetStream().UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	<-time.After(300 * time.Millisecond) // the window is a duration, not a condition
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := long.Await(ctx); !errors.Is(err, actors.ErrActorDied) {
		t.Fatalf("long call after kill: %v", err)
	}
	other := testsupport.Connect(t, srv.ClientURL())
	for _, id := range quick {
		var a Answer
		if err := other.Resolve(ctx, id, &a); err != nil {
			t.Fatalf("result of %s changed after the kill: %v", id, err)
		}
	}
}

// TestGracefulStopHandsActorsOver: stopping a worker (a rolling deploy) hands its actors that
// may restart over to another worker, with their queued calls, without using a restart;
// actors with MaxRestarts(0) die with the worker as before.
func TestGracefulStopHandsActorsOver(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	_, stopA := identWorker(t, srv.ClientURL())
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	kept := Ident.Options(actors.MaxRestarts(-1)).Remote(ctx, drv, IdentSpec{Tag: "kept"})
	once := Ident.Remote(ctx, drv, IdentSpec{Tag: "once"})
	for _, h := range []*actors.Handle[ident]{kept, once} {
		if _, err := Who.Remote(ctx, h, struct{}{}).Await(ctx); err != nil {
			t.Fatal(err)
		}
	}
	identWorker(t, srv.ClientURL()) // B, started after both actors were placed on A
	var queued []*futuresOf
	for range 5 {
		queued = append(queued, &futuresOf{f: Slow.Remote(ctx, kept, 100*time.Millisecond)})
	}
	stopA()
	for range 5 {
		queued = append(queued, &futuresOf{f: Slow.Remote(ctx, kept, time.Millisecond)})
	}
	for i, q := range queued {
		if _, err := q.f.Await(ctx); err != nil {
			t.Fatalf("call %d across the hand-over: %v", i, err)
		}
	}
	a, err := Who.Remote(ctx, kept, struct{}{}).Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Instance == "kept#1" {
		t.Fatalf("answered by the stopped worker's instance")
	}
	rec := testsupport.ActorRecord(t, ctx, drv, kept.ID())
	if rec.State != actors.StateAlive || rec.Restarts != 0 {
		t.Fatalf("handed-over actor: state %s, restarts %d (a drain is not a crash)", rec.State, rec.Restarts)
	}
	if _, err := Who.Remote(ctx, once, struct{}{}).Await(ctx); !errors.Is(err, actors.ErrActorDied) {
		t.Fatalf("MaxRestarts(0) actor after its worker stopped: %v", err)
	}
}

type futuresOf struct {
	f interface {
		Await(context.Context) (Answer, error)
	}
}

// TestPartitionedOwnerIsFenced: a host cut off from the broker (TCP through a proxy) loses
// its actor to another host; when its network comes back it serves none of the actor's
// calls (no second instance answering), and its later graceful stop leaves the new owner's
// actor alive.
func TestPartitionedOwnerIsFenced(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	p, proxied := testsupport.Proxy(t, srv.ClientURL())
	_, stopA := identWorker(t, proxied, framework.WithAckWait(time.Second))
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	h := Ident.Options(actors.MaxRestarts(-1)).Remote(ctx, drv, IdentSpec{Tag: "fenced"})
	a, err := Who.Remote(ctx, h, struct{}{}).Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := a.Instance
	oldRec := testsupport.ActorRecord(t, ctx, drv, h.ID())
	identWorker(t, srv.ClientURL(), framework.WithAckWait(time.Second)) // B
	p.Cut()
	testsupport.WaitFor(t, 40*time.Second, "the actor taken over by B", func() bool {
		r := testsupport.ActorRecord(t, ctx, drv, h.ID())
		return r.State == actors.StateAlive && r.Epoch > oldRec.Epoch && r.WorkerKey != oldRec.WorkerKey
	})
	a, err = Who.Remote(ctx, h, struct{}{}).Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	current := a.Instance
	if current == old {
		t.Fatalf("answered by the cut-off instance %s", old)
	}
	p.Restore()
	for i := range 20 {
		a, err := Who.Remote(ctx, h, struct{}{}).Await(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a.Instance != current {
			t.Fatalf("call %d after the network came back answered by %s, the owner is %s", i, a.Instance, current)
		}
	}
	stopA()
	rec := testsupport.ActorRecord(t, ctx, drv, h.ID())
	if rec.State != actors.StateAlive {
		t.Fatalf("after the old owner stopped: %s (%s)", rec.State, rec.Error)
	}
	a, err = Who.Remote(ctx, h, struct{}{}).Await(ctx)
	if err != nil || a.Instance != current {
		t.Fatalf("after the old owner stopped: %+v, %v", a, err)
	}
}

// TestAsyncActorLimitAfterStall: a host whose connection stalls for longer than AckWait gets
// its running calls redelivered when it comes back; they still count until their first run
// returns, so no more than max_concurrency calls ever run at once.
func TestAsyncActorLimitAfterStall(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	p, proxied := testsupport.Proxy(t, srv.ClientURL())
	identWorker(t, proxied, framework.WithAckWait(time.Second))
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	h := Ident.Options(actors.MaxConcurrency(2), actors.MaxTaskRetries(-1)).Remote(ctx, drv, IdentSpec{Tag: "stall"})
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	var fs []*futuresOf
	for range 6 {
		fs = append(fs, &futuresOf{f: Slow.Remote(ctx, h, 3*time.Second)})
	}
	// Let the first two start, then stall the host's link for twice AckWait.
	testsupport.WaitFor(t, 10*time.Second, "two calls running", func() bool {
		ci, err := drv.JetStream().Consumer(ctx, framework.ActorsStream, "actor-"+strings.ReplaceAll(h.ID(), ".", "-")+"-1")
		if err != nil {
			return false
		}
		info, err := ci.Info(ctx)
		return err == nil && info.NumAckPending == 2
	})
	p.Blackhole()
	<-time.After(2500 * time.Millisecond) // the stall's length is the fault, not a condition
	p.Restore()
	peak := 0
	for _, q := range fs {
		a, err := q.f.Await(ctx)
		if err != nil {
			t.Fatal(err)
		}
		peak = max(peak, a.Peak)
	}
	if peak > 2 {
		t.Fatalf("%d calls ran at once on an actor with max_concurrency 2", peak)
	}
}

// TestStopDuringConstruction: a worker that stops while an actor's constructor runs gives its
// claim back; another worker builds the actor and its calls succeed.
func TestStopDuringConstruction(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	_, stopA := identWorker(t, srv.ClientURL(), framework.WithAckWait(time.Second))
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	h := Ident.Options(actors.MaxRestarts(-1)).Remote(ctx, drv, IdentSpec{Tag: "midbuild", Delay: time.Second})
	testsupport.WaitFor(t, 10*time.Second, "the constructor to start", func() bool { return built("midbuild") == 1 })
	identWorker(t, srv.ClientURL(), framework.WithAckWait(time.Second)) // B
	stopA()
	if err := h.Ready(ctx); err != nil {
		t.Fatalf("ready after the first worker stopped mid-construction: %v", err)
	}
	a, err := Who.Remote(ctx, h, struct{}{}).Await(ctx)
	if err != nil || a.Instance != "midbuild#2" {
		t.Fatalf("call: %+v, %v; want the instance built by the second worker", a, err)
	}
}
