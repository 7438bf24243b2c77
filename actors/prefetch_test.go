package actors_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// holds are the gates Hold calls wait on, by key; started records that a Hold call began.
var (
	holdsMu sync.Mutex
	holds   = map[string]chan struct{}{}
	started = map[string]chan struct{}{}
)

// hold makes the gate key and returns a channel closed once a Hold call on it has started,
// and the function that lets Hold calls on it return (a Hold call also returns when its ctx
// ends: a worker that stops cancels it).
func hold(key string) (begun <-chan struct{}, release func()) {
	holdsMu.Lock()
	gate, s := make(chan struct{}), make(chan struct{})
	holds[key], started[key] = gate, s
	holdsMu.Unlock()
	var once sync.Once
	return s, func() { once.Do(func() { close(gate) }) }
}

var (
	// Step counts a call on the instance while it runs for d, and reports the count and the
	// peak of calls running at once.
	Step = actors.Method(Ident, "step", func(a *ident, ctx context.Context, d time.Duration) (Answer, error) {
		defer a.enter()()
		if d > 0 {
			time.Sleep(d) // simulated work: the call's running time is the input
		}
		a.n++
		return Answer{Instance: a.id, N: a.n, Peak: int(a.peak.Load())}, nil
	})
	// Hold counts a call like Step, but runs until its gate (hold) is released or its ctx ends.
	Hold = actors.Method(Ident, "hold", func(a *ident, ctx context.Context, key string) (Answer, error) {
		defer a.enter()()
		holdsMu.Lock()
		gate, s := holds[key], started[key]
		holdsMu.Unlock()
		if gate == nil {
			return Answer{}, fmt.Errorf("no gate %q", key)
		}
		select {
		case <-s:
		default:
			close(s)
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return Answer{}, ctx.Err()
		}
		a.n++
		return Answer{Instance: a.id, N: a.n, Peak: int(a.peak.Load())}, nil
	})
)

// enter counts a running call and records the peak; the function it returns uncounts it.
func (a *ident) enter() func() {
	cur := a.running.Add(1)
	for p := a.peak.Load(); cur > p && !a.peak.CompareAndSwap(p, cur); p = a.peak.Load() {
	}
	return func() { a.running.Add(-1) }
}

// placedConsumer returns the info of the consumer of actor id's current placement.
func placedConsumer(t *testing.T, ctx context.Context, c *framework.Client, id string) *jetstream.ConsumerInfo {
	t.Helper()
	rec := testsupport.ActorRecord(t, ctx, c, id)
	cons, err := c.JetStream().Consumer(ctx, framework.ActorsStream, wire.Names{}.ActorConsumer(id, rec.Epoch, ""))
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// waitWindow waits until the consumer of actor id's placement has n calls delivered and
// unacked: the one running and n-1 waiting in the host's window.
func waitWindow(t *testing.T, ctx context.Context, c *framework.Client, id string, n int) {
	t.Helper()
	testsupport.WaitFor(t, 30*time.Second, fmt.Sprintf("a window of %d calls delivered", n), func() bool {
		return placedConsumer(t, ctx, c, id).NumAckPending == n
	})
}

// checkRun checks that answers come from instances one after another (never two at once,
// never back to an earlier one), each counting its calls 1, 2, 3... from first (the count
// of the first answer) in submission order, with a peak of one call running.
func checkRun(t *testing.T, got []Answer, first int) {
	t.Helper()
	seen := map[string]bool{}
	for i, a := range got {
		if a.Peak != 1 {
			t.Fatalf("call %d: %d calls ran at once on %s", i, a.Peak, a.Instance)
		}
		switch {
		case i == 0:
			if a.N != first {
				t.Fatalf("call 0 ran as call %d on %s, want %d", a.N, a.Instance, first)
			}
		case a.Instance == got[i-1].Instance:
			if a.N != got[i-1].N+1 {
				t.Fatalf("call %d ran as call %d on %s, after call %d", i, a.N, a.Instance, got[i-1].N)
			}
		case seen[a.Instance] || a.N != 1:
			t.Fatalf("call %d ran as call %d on %s after %s: answers interleave", i, a.N, a.Instance, got[i-1].Instance)
		}
		seen[a.Instance] = true
	}
}

// TestPrefetchRunsOneAtATimeInOrder: a plain actor with a window of 16 has 16 calls
// delivered while one runs (its consumer's MaxAckPending is 16) and still runs them one at a
// time, in the order one caller pipelined 500 of them. Calls wait in the window for longer
// than AckWait (1 s) without being redelivered: the host keeps them alive.
func TestPrefetchRunsOneAtATimeInOrder(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	identWorker(t, srv.ClientURL(), framework.WithAckWait(time.Second))
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	const window, n = 16, 500
	h := Ident.Options(actors.Prefetch(window)).Remote(ctx, drv, IdentSpec{Tag: "prefetch-order"})
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := testsupport.ActorRecord(t, ctx, drv, h.ID()); rec.Prefetch != window {
		t.Fatalf("record prefetch %d, want %d", rec.Prefetch, window)
	}
	if mp := placedConsumer(t, ctx, drv, h.ID()).Config.MaxAckPending; mp != window {
		t.Fatalf("consumer MaxAckPending %d, want %d", mp, window)
	}
	begun, release := hold("prefetch-order")
	first := Hold.Remote(ctx, h, "prefetch-order")
	fs := make([]*futures.Future[Answer], n)
	for i := range fs {
		fs[i] = Step.Remote(ctx, h, time.Duration(i%3)*50*time.Microsecond)
	}
	<-begun
	waitWindow(t, ctx, drv, h.ID(), window)
	waitedSince := time.Now()
	// The window waits for three AckWaits: without progress reports the broker would
	// redeliver its calls.
	testsupport.WaitFor(t, 10*time.Second, "3 s", func() bool { return time.Since(waitedSince) > 3*time.Second })
	release()
	a, err := first.Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatal(err)
	}
	checkRun(t, append([]Answer{a}, got...), 1)
	if info := placedConsumer(t, ctx, drv, h.ID()); info.Delivered.Consumer != n+1 || info.NumRedelivered != 0 {
		t.Fatalf("%d deliveries (%d redelivered) for %d calls: calls waiting in the window were redelivered",
			info.Delivered.Consumer, info.NumRedelivered, n+1)
	}
}

// TestPrefetchBadOptions: a window out of range, or on an actor with max_concurrency above
// 1, fails the handle and its calls with ErrBadOption, and records nothing.
func TestPrefetchBadOptions(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	identWorker(t, srv.ClientURL())
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	for _, opts := range [][]actors.ClassOption{
		{actors.Prefetch(-1)},
		{actors.Prefetch(actors.MaxPrefetch + 1)},
		{actors.Prefetch(2), actors.MaxConcurrency(4)},
		{actors.Async(), actors.Prefetch(8)},
	} {
		h := Ident.Options(opts...).Remote(ctx, drv, IdentSpec{Tag: "bad-prefetch"})
		if err := h.Ready(ctx); !errors.Is(err, actors.ErrBadOption) {
			t.Errorf("Ready = %v, want ErrBadOption", err)
		}
		if _, err := Who.Remote(ctx, h, struct{}{}).Await(ctx); !errors.Is(err, actors.ErrBadOption) {
			t.Errorf("call = %v, want ErrBadOption", err)
		}
		if _, err := actors.Describe(ctx, drv, h.ID()); !errors.Is(err, actors.ErrNotFound) {
			t.Errorf("Describe = %v, want ErrNotFound (nothing recorded)", err)
		}
	}
	for _, n := range []int{0, 1, actors.MaxPrefetch} { // the bounds are accepted
		h := Ident.Options(actors.Prefetch(n)).Remote(ctx, drv, IdentSpec{Tag: "prefetch-bounds"})
		if _, err := Who.Remote(ctx, h, struct{}{}).Await(ctx); err != nil {
			t.Errorf("Prefetch(%d): %v", n, err)
		}
		if mp := placedConsumer(t, ctx, drv, h.ID()).Config.MaxAckPending; mp != max(n, 1) {
			t.Errorf("Prefetch(%d): MaxAckPending %d", n, mp)
		}
	}
}

// fullWindow is an actor with a Prefetch window placed on worker A, with worker B serving
// its class too, whose window is full: a Hold call runs and Step calls wait behind it.
type fullWindow struct {
	ctx     context.Context
	drv     *framework.Client
	a       *framework.Worker
	stopA   func()
	h       *actors.Handle[ident]
	before  actors.Record // the record while A serves it
	held    *futures.Future[Answer]
	release func() // lets the held call return
	steps   []*futures.Future[Answer]
}

// fillWindow makes a fullWindow of an Ident tagged tag with opts and Prefetch(window), and n
// Step calls sent after the held one; it returns once A holds window calls.
func fillWindow(t *testing.T, tag string, window, n int, opts ...actors.ClassOption) *fullWindow {
	t.Helper()
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	f := &fullWindow{ctx: testCtx(t)}
	f.a, f.stopA = identWorker(t, srv.ClientURL())
	f.drv = testsupport.Connect(t, srv.ClientURL())
	f.h = Ident.Options(append(opts, actors.Prefetch(window))...).Remote(f.ctx, f.drv, IdentSpec{Tag: tag})
	if err := f.h.Ready(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.before = testsupport.ActorRecord(t, f.ctx, f.drv, f.h.ID())
	identWorker(t, srv.ClientURL()) // B
	begun, release := hold(tag)
	f.release = release
	f.held = Hold.Remote(f.ctx, f.h, tag)
	f.steps = make([]*futures.Future[Answer], n)
	for i := range f.steps {
		f.steps[i] = Step.Remote(f.ctx, f.h, 0)
	}
	<-begun
	waitWindow(t, f.ctx, f.drv, f.h.ID(), window)
	return f
}

// TestPrefetchHandOver: a worker stopped gracefully while its actor's window is full hands
// the actor over with the calls waiting in the window: they have not run, so they use no
// attempt (MaxTaskRetries 0, the default, would fail them otherwise) and run on the next
// placement, in order, one at a time. The call still running past the drain wait is run again
// there (a drain is not a crash).
func TestPrefetchHandOver(t *testing.T) {
	const window = 8
	f := fillWindow(t, "prefetch-handover", window, 30, actors.MaxRestarts(-1))
	ctx, drv, h := f.ctx, f.drv, f.h
	stopped := make(chan struct{})
	go func() { defer close(stopped); f.stopA() }()
	// The hand-over waits for the held call (up to the drain timeout, 5 s), then hands the
	// actor over without it.
	testsupport.WaitFor(t, 30*time.Second, "the actor handed over", func() bool {
		return testsupport.ActorRecord(t, ctx, drv, h.ID()).Epoch > f.before.Epoch
	})
	f.release()
	<-stopped
	a, err := f.held.Await(ctx)
	if err != nil {
		t.Fatalf("held call across the hand-over: %v", err)
	}
	got, err := futures.Gather(ctx, f.steps...)
	if err != nil {
		t.Fatalf("calls in the window across the hand-over: %v", err)
	}
	checkRun(t, append([]Answer{a}, got...), 1)
	if strings.HasSuffix(a.Instance, "#1") {
		t.Fatalf("held call answered by %s, the stopped worker's instance", a.Instance)
	}
	rec := testsupport.ActorRecord(t, ctx, drv, h.ID())
	if rec.State != actors.StateAlive || rec.Restarts != 0 || rec.Prefetch != window {
		t.Fatalf("after the hand-over: state %s, restarts %d, prefetch %d", rec.State, rec.Restarts, rec.Prefetch)
	}
	if mp := placedConsumer(t, ctx, drv, h.ID()).Config.MaxAckPending; mp != window {
		t.Fatalf("new placement's MaxAckPending %d, want %d", mp, window)
	}
}

// TestPrefetchCrashCountsOnlyTheRunningCall: the worker of an actor with a full window
// vanishes (its connection closed, no goodbye) while one call runs. The call that ran counts
// an attempt and fails with ErrDied (MaxTaskRetries 0: at-most-once); the calls that waited
// in the window never started, so they run on the restarted actor, in order. faulttest's
// TestPrefetchWorkerKilled does the same with SIGKILL.
func TestPrefetchCrashCountsOnlyTheRunningCall(t *testing.T) {
	f := fillWindow(t, "prefetch-crash", 8, 20, actors.MaxRestarts(1))
	f.a.Client().Conn().Close() // A vanishes with a call running and 7 waiting
	if _, err := f.held.Await(f.ctx); !errors.Is(err, actors.ErrDied) {
		t.Fatalf("the call running at the crash: %v, want ErrDied", err)
	}
	got, err := futures.Gather(f.ctx, f.steps...)
	if err != nil {
		t.Fatalf("calls that waited in the window: %v", err)
	}
	checkRun(t, got, 1)
	if rec := testsupport.ActorRecord(t, f.ctx, f.drv, f.h.ID()); rec.Restarts != 1 || strings.HasSuffix(got[0].Instance, "#1") {
		t.Fatalf("restarts %d; first answer %+v", rec.Restarts, got[0])
	}
}

// cuts are what Cut calls do before they return, by key; probes lists, by key, the instances
// Probe calls started on.
var (
	cuts   sync.Map // key -> func()
	probes sync.Map // key -> *probeLog
)

type probeLog struct {
	mu        sync.Mutex
	instances []string
}

var (
	// Cut waits for its gate (hold), then runs the cut registered for key and returns: its
	// answer is then stuck in a worker cut off from the broker.
	Cut = actors.Method(Ident, "cut", func(a *ident, ctx context.Context, key string) (Answer, error) {
		holdsMu.Lock()
		gate, s := holds[key], started[key]
		holdsMu.Unlock()
		close(s)
		select {
		case <-gate:
		case <-ctx.Done():
			return Answer{}, ctx.Err()
		}
		if cut, ok := cuts.Load(key); ok {
			cut.(func())()
		}
		a.n++
		return Answer{Instance: a.id, N: a.n}, nil
	})
	// Probe records the instance it started on under key.
	Probe = actors.Method(Ident, "probe", func(a *ident, _ context.Context, key string) (Answer, error) {
		defer a.enter()()
		v, _ := probes.LoadOrStore(key, &probeLog{})
		l := v.(*probeLog)
		l.mu.Lock()
		l.instances = append(l.instances, a.id)
		l.mu.Unlock()
		a.n++
		return Answer{Instance: a.id, N: a.n, Peak: int(a.peak.Load())}, nil
	})
)

// TestPrefetchWaitsForStoredResult: a plain actor's host starts the next call of its window
// only once the call before it has its result stored. Here the first call's worker is cut
// off from the broker as that call returns, so its result never gets out: the call after it,
// already delivered in the window, must not start there. The actor is restarted on another
// worker, where the first call counts as run (ErrDied, at-most-once) and the second runs,
// once. Without the wait, the second would have started on the cut-off worker too, and then
// run again on the restarted actor: two runs of an at-most-once call.
func TestPrefetchWaitsForStoredResult(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	p, proxied := testsupport.Proxy(t, srv.ClientURL())
	identWorker(t, proxied) // A, behind the proxy
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	const key = "prefetch-stored"
	// A rerun (-count) starts afresh: its probes only, and instance numbers from #1 again.
	probes.Delete(key)
	identBuilt.Delete(key)
	h := Ident.Options(actors.Prefetch(8), actors.MaxRestarts(1)).Remote(ctx, drv, IdentSpec{Tag: key})
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	before := testsupport.ActorRecord(t, ctx, drv, h.ID())
	identWorker(t, srv.ClientURL()) // B
	cuts.Store(key, p.Cut)
	begun, release := hold(key)
	cut := Cut.Remote(ctx, h, key)
	probe := Probe.Remote(ctx, h, key)
	rest := make([]*futures.Future[Answer], 5)
	for i := range rest {
		rest[i] = Step.Remote(ctx, h, 0)
	}
	<-begun
	waitWindow(t, ctx, drv, h.ID(), 7)
	release() // A cuts itself off as the call returns
	cutAt := time.Now()
	if _, err := cut.Await(ctx); !errors.Is(err, actors.ErrDied) {
		t.Fatalf("the call whose answer was cut off: %v, want ErrDied", err)
	}
	t.Logf("the cut-off call failed %s after the cut", time.Since(cutAt).Round(time.Millisecond))
	a, err := probe.Await(ctx)
	if err != nil {
		t.Fatalf("the call after it: %v", err)
	}
	v, _ := probes.Load(key)
	l := v.(*probeLog)
	l.mu.Lock()
	ran := slices.Clone(l.instances)
	l.mu.Unlock()
	if len(ran) != 1 || ran[0] != a.Instance || a.Instance == key+"#1" {
		t.Fatalf("the call after the cut-off one started on %v (answered by %s); want once, on the restarted actor", ran, a.Instance)
	}
	got, err := futures.Gather(ctx, rest...)
	if err != nil {
		t.Fatal(err)
	}
	checkRun(t, append([]Answer{a}, got...), 1)
	if rec := testsupport.ActorRecord(t, ctx, drv, h.ID()); rec.Epoch <= before.Epoch || rec.Restarts != 1 {
		t.Fatalf("epoch %d (was %d), restarts %d", rec.Epoch, before.Epoch, rec.Restarts)
	}
	p.Restore()
}

// TestPrefetchKill: killing an actor whose window is full fails the running call, the calls
// waiting in the window and those behind it with ErrDied, as for queued calls of any actor.
func TestPrefetchKill(t *testing.T) {
	f := fillWindow(t, "prefetch-kill", 8, 20)
	if err := actors.Kill(f.ctx, f.h); err != nil {
		t.Fatal(err)
	}
	for i, fut := range append([]*futures.Future[Answer]{f.held}, f.steps...) {
		if _, err := fut.Await(f.ctx); !errors.Is(err, actors.ErrDied) {
			t.Fatalf("call %d: %v, want ErrDied", i, err)
		}
	}
}

// TestPrefetchKillAllowRestart: a Kill with AllowRestart while the window is full fails the
// running call (ErrDied); the calls waiting in the window did not start, so they run on the
// new instance, in order, without using an attempt.
func TestPrefetchKillAllowRestart(t *testing.T) {
	f := fillWindow(t, "prefetch-restart", 8, 20, actors.MaxRestarts(1))
	if err := actors.Kill(f.ctx, f.h, actors.AllowRestart()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.held.Await(f.ctx); !errors.Is(err, actors.ErrDied) {
		t.Fatalf("the call running at the kill: %v, want ErrDied", err)
	}
	got, err := futures.Gather(f.ctx, f.steps...)
	if err != nil {
		t.Fatalf("calls that waited in the window: %v", err)
	}
	checkRun(t, got, 1)
	if strings.HasSuffix(got[0].Instance, "#1") {
		t.Fatalf("answered by the killed instance %s", got[0].Instance)
	}
}
