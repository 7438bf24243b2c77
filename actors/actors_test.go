package actors_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
)

type counter struct{ n int }

func newCounter(_ context.Context, start int) (*counter, error) {
	if start < 0 {
		return nil, errors.New("negative start")
	}
	return &counter{n: start}, nil
}

func (c *counter) Incr(_ context.Context, by int) (int, error) { c.n += by; return c.n, nil }

var (
	Counter = actors.Define("Counter", newCounter)
	Incr    = actors.Method(Counter, "incr", (*counter).Incr)
	// Append records the order calls ran in.
	Append = actors.Method(Counter, "append", func(c *counter, _ context.Context, i int) (int, error) {
		if c.n != i {
			return 0, fmt.Errorf("call %d ran at position %d", i, c.n)
		}
		c.n++
		return c.n, nil
	})
	Block = actors.Method(Counter, "block", func(c *counter, ctx context.Context, _ struct{}) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	CallSelf = actors.Method(Counter, "call_self", func(c *counter, ctx context.Context, h *actors.Handle[counter]) (int, error) {
		return Incr.Remote(ctx, h, 1).Await(ctx)
	})
)

// testCtx returns a context that ends after a minute or with the test.
func testCtx(t *testing.T) context.Context { return testsupport.Context(t, 60*time.Second) }

func TestCounterOrderedCalls(t *testing.T) {
	c := frameworktest.New(t, Counter)
	ctx := testCtx(t)
	h := Counter.Remote(ctx, c, 0)
	// Calls sent before the actor is placed queue and run in order.
	fs := make([]*futures.Future[int], 300)
	for i := range fs {
		fs[i] = Append.Remote(ctx, h, i)
	}
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	vals, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != i+1 {
			t.Fatalf("call %d returned %d", i, v)
		}
	}
}

func TestConstructorErrorFailsReadyAndCalls(t *testing.T) {
	c := frameworktest.New(t, Counter)
	ctx := testCtx(t)
	h := Counter.Remote(ctx, c, -1)
	early := Incr.Remote(ctx, h, 1) // queued before the constructor fails
	err := h.Ready(ctx)
	var te *framework.TaskError
	if !errors.As(err, &te) || te.Message != "negative start" {
		t.Fatalf("Ready = %v", err)
	}
	_, err = early.Await(ctx)
	if !errors.Is(err, actors.ErrActorDied) {
		t.Fatalf("queued call err = %v", err)
	}
	start := time.Now()
	_, err = Incr.Remote(ctx, h, 1).Await(ctx)
	if !errors.Is(err, actors.ErrActorDied) || !errorsContain(err, "negative start") || time.Since(start) > time.Second {
		t.Fatalf("later call err = %v after %v", err, time.Since(start))
	}
}

func errorsContain(err error, s string) bool {
	return err != nil && contains(err.Error(), s)
}

func contains(a, b string) bool {
	for i := 0; i+len(b) <= len(a); i++ {
		if a[i:i+len(b)] == b {
			return true
		}
	}
	return false
}

func TestKillFailsRunningQueuedAndLater(t *testing.T) {
	c := frameworktest.New(t, Counter)
	ctx := testCtx(t)
	h := Counter.Remote(ctx, c, 0)
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	running := Block.Remote(ctx, h, struct{}{})
	queued := Incr.Remote(ctx, h, 1)
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]*futures.Future[int]{"running": running, "queued": queued} {
		if _, err := f.Await(ctx); !errors.Is(err, actors.ErrActorDied) {
			t.Fatalf("%s call err = %v", name, err)
		}
	}
	start := time.Now()
	if _, err := Incr.Remote(ctx, h, 1).Await(ctx); !errors.Is(err, actors.ErrActorDied) || time.Since(start) > time.Second {
		t.Fatalf("later call err = %v after %v", err, time.Since(start))
	}
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatalf("second kill: %v", err)
	}
}

func TestNamedGetIfExistsRace(t *testing.T) {
	c := frameworktest.New(t, Counter)
	ctx := testCtx(t)
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := Counter.Options(actors.Name("shared"), actors.GetIfExists()).Remote(ctx, c, 0)
			if _, err := Incr.Remote(ctx, h, 1).Await(ctx); err != nil {
				t.Errorf("incr: %v", err)
			}
			ids[i] = h.ID()
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("two actors created: %v", ids)
		}
	}
	h, err := actors.Get(ctx, c, Counter, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Incr.Remote(ctx, h, 0).Await(ctx); err != nil || v != n {
		t.Fatalf("count = %d, %v; want %d", v, err, n)
	}
	dup := Counter.Options(actors.Name("shared")).Remote(ctx, c, 0)
	if err := dup.Ready(ctx); !errors.Is(err, actors.ErrNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := actors.Get(ctx, c, Counter, "nobody"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("Get unknown: %v", err)
	}
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := actors.Get(ctx, c, Counter, "shared"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("Get killed: %v", err)
	}
}

var useHandle = framework.NewTask("use_handle", func(ctx context.Context, h *actors.Handle[counter]) (int, error) {
	return Incr.Remote(ctx, h, 10).Await(ctx)
})

func TestHandleInTaskInputAndSelfDeadlock(t *testing.T) {
	c := frameworktest.New(t, Counter, useHandle)
	ctx := testCtx(t)
	h := Counter.Remote(ctx, c, 5)
	if v, err := useHandle.Remote(ctx, c, h).Await(ctx); err != nil || v != 15 {
		t.Fatalf("via task = %d, %v", v, err)
	}
	_, err := CallSelf.Remote(ctx, h, h).Await(ctx)
	if err == nil || !errorsContain(err, "calls itself") {
		t.Fatalf("self call err = %v", err)
	}
}

type asyncActor struct {
	running, peak atomic.Int64
}

func newAsyncActor(context.Context, struct{}) (*asyncActor, error) { return &asyncActor{}, nil }

func (a *asyncActor) RunTask(ctx context.Context, _ struct{}) (int64, error) {
	n := a.running.Add(1)
	for {
		p := a.peak.Load()
		if n <= p || a.peak.CompareAndSwap(p, n) {
			break
		}
	}
	defer a.running.Add(-1)
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return a.peak.Load(), nil
}

var (
	AsyncActor = actors.Define("AsyncActor", newAsyncActor, actors.Async())
	RunTask    = actors.Method(AsyncActor, "run_task", (*asyncActor).RunTask)
	Peak       = actors.Method(AsyncActor, "peak", func(a *asyncActor, _ context.Context, _ struct{}) (int64, error) {
		return a.peak.Load(), nil
	})
)

func runFifty(t *testing.T, c *framework.Client, h *actors.Handle[asyncActor]) time.Duration {
	ctx := testCtx(t)
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fs := make([]*futures.Future[int64], 50)
	for i := range fs {
		fs[i] = RunTask.Remote(ctx, h, struct{}{})
	}
	if _, err := futures.Gather(ctx, fs...); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

func TestAsyncActorSeed(t *testing.T) {
	c := frameworktest.New(t, AsyncActor)
	ctx := testCtx(t)

	h := AsyncActor.Remote(ctx, c, struct{}{})
	if d := runFifty(t, c, h); d >= 2500*time.Millisecond {
		t.Fatalf("50 calls took %v, want < 2.5s", d)
	}
	if p, _ := Peak.Remote(ctx, h, struct{}{}).Await(ctx); p != 50 {
		t.Fatalf("peak = %d, want 50", p)
	}

	h10 := AsyncActor.Options(actors.MaxConcurrency(10)).Remote(ctx, c, struct{}{})
	d := runFifty(t, c, h10)
	if d < 4900*time.Millisecond || d >= 8*time.Second {
		t.Fatalf("50 calls at max_concurrency 10 took %v, want [4.9s, 8s)", d)
	}
	if p, _ := Peak.Remote(ctx, h10, struct{}{}).Await(ctx); p != 10 {
		t.Fatalf("peak = %d, want 10", p)
	}
}
