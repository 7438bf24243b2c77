package actors_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework/frameworktest"
)

// poolWorker is an async actor (max_concurrency 8) that counts the pool's calls running on it,
// so a test can assert that the pool, not the actor's limit, keeps one call per actor.
type poolWorker struct {
	running, peak atomic.Int32
}

var (
	poolFlight, poolPeak atomic.Int32 // calls running on all pool workers at once

	PoolWorker = actors.Define("PoolWorker", func(_ context.Context, _ int) (*poolWorker, error) {
		return &poolWorker{}, nil
	}, actors.Async(), actors.MaxConcurrency(8))
	PoolDouble = actors.Method(PoolWorker, "double", func(w *poolWorker, _ context.Context, v int) (int, error) {
		n := w.running.Add(1)
		defer w.running.Add(-1)
		storeMax(&w.peak, n)
		storeMax(&poolPeak, poolFlight.Add(1))
		defer poolFlight.Add(-1)
		time.Sleep(time.Duration(v%3) * time.Millisecond) // uneven work, so finish order differs from submit order
		if v < 0 {
			return 0, fmt.Errorf("negative %d", v)
		}
		return 2 * v, nil
	})
	PoolPeak = actors.Method(PoolWorker, "peak", func(w *poolWorker, _ context.Context, _ struct{}) (int32, error) {
		return w.peak.Load(), nil
	})
)

func storeMax(a *atomic.Int32, n int32) {
	for {
		old := a.Load()
		if n <= old || a.CompareAndSwap(old, n) {
			return
		}
	}
}

func poolActors(t *testing.T, n int) []*actors.Handle[poolWorker] {
	t.Helper()
	c := frameworktest.New(t, PoolWorker)
	ctx := testCtx(t)
	hs := make([]*actors.Handle[poolWorker], n)
	for i := range hs {
		hs[i] = PoolWorker.Remote(ctx, c, i)
		if err := hs[i].Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	poolFlight.Store(0)
	poolPeak.Store(0)
	return hs
}

// TestPoolMapInOrder ports ray.util.ActorPool.map: results come back in input order, each actor
// runs one of the pool's calls at a time although it could run 8, and never more than the
// pool's size run at once.
func TestPoolMapInOrder(t *testing.T) {
	ctx := testCtx(t)
	hs := poolActors(t, 4)
	p := actors.NewPool(PoolDouble.Remote, hs...)
	var got []int
	for v, err := range p.Map(ctx, seq(0, 60)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	want := make([]int, 60)
	for i := range want {
		want[i] = 2 * i
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Map = %v, want %v", got, want)
	}
	if pk := poolPeak.Load(); pk > 4 {
		t.Fatalf("%d calls ran at once on a pool of 4", pk)
	}
	for _, h := range hs {
		if pk, err := PoolPeak.Remote(ctx, h, struct{}{}).Await(ctx); err != nil || pk != 1 {
			t.Fatalf("actor %s ran %d pool calls at once (err %v), want 1", h.ID(), pk, err)
		}
	}
	if p.HasNext() || !p.HasFree() {
		t.Fatalf("after Map: HasNext %v HasFree %v, want false, true", p.HasNext(), p.HasFree())
	}
}

// TestPoolMapUnordered: every result once, errors yielded in place and the loop goes on.
func TestPoolMapUnordered(t *testing.T) {
	ctx := testCtx(t)
	p := actors.NewPool(PoolDouble.Remote, poolActors(t, 3)...)
	var got []int
	var errs int
	for v, err := range p.MapUnordered(ctx, seq(-5, 30)) {
		if err != nil {
			errs++
			continue
		}
		got = append(got, v)
	}
	slices.Sort(got)
	var want []int
	for i := range 30 {
		want = append(want, 2*i)
	}
	if errs != 5 || !slices.Equal(got, want) {
		t.Fatalf("MapUnordered = %v with %d errors, want %v and 5 errors", got, errs, want)
	}
}

// TestPoolBackpressure: Map reads its input only as actors free up, so values read but not yet
// yielded never exceed the pool's size, and breaking the loop stops the reading.
func TestPoolBackpressure(t *testing.T) {
	ctx := testCtx(t)
	p := actors.NewPool(PoolDouble.Remote, poolActors(t, 3)...)
	var read atomic.Int64
	ins := func(yield func(int) bool) {
		for i := 0; ; i++ { // endless input
			read.Add(1)
			if !yield(i) {
				return
			}
		}
	}
	yielded := 0
	for v, err := range p.Map(ctx, ins) {
		if err != nil || v != 2*yielded {
			t.Fatalf("result %d = %d, %v", yielded, v, err)
		}
		yielded++
		if ahead := read.Load() - int64(yielded); ahead > 3 {
			t.Fatalf("Map read %d values ahead of the results on a pool of 3", ahead)
		}
		if yielded == 100 {
			break
		}
	}
	if r := read.Load(); r > 104 {
		t.Fatalf("Map read %d values for 100 results", r)
	}
	// The calls left in flight by the break are dropped by the next Map, as Ray's map does.
	for v, err := range p.Map(ctx, seq(7, 8)) {
		if err != nil || v != 14 {
			t.Fatalf("next Map = %d, %v; want 14", v, err)
		}
	}
}

// TestPoolSubmitGetNext covers Ray's submit / get_next / get_next_unordered / has_next /
// has_free / push / pop_idle.
func TestPoolSubmitGetNext(t *testing.T) {
	ctx := testCtx(t)
	hs := poolActors(t, 3)
	p := actors.NewPool(PoolDouble.Remote, hs[0], hs[1], hs[0])
	if p.Size() != 2 {
		t.Fatalf("Size = %d, want 2 (a handle given twice is used once)", p.Size())
	}
	if _, err := p.GetNext(ctx); !errors.Is(err, actors.ErrPoolEmpty) {
		t.Fatalf("GetNext on an empty pool: %v, want ErrPoolEmpty", err)
	}
	for i := range 5 {
		p.Submit(ctx, i)
	}
	if !p.HasNext() || p.HasFree() {
		t.Fatalf("HasNext %v HasFree %v after 5 submits to 2 actors", p.HasNext(), p.HasFree())
	}
	if p.PopIdle() != nil {
		t.Fatal("PopIdle returned a busy actor")
	}
	if err := p.Push(hs[1]); !errors.Is(err, actors.ErrPoolMember) {
		t.Fatalf("Push of a member: %v, want ErrPoolMember", err)
	}
	if err := p.Push(hs[2]); err != nil { // takes a queued call at once
		t.Fatal(err)
	}
	for i := range 5 {
		v, err := p.GetNext(ctx)
		if err != nil || v != 2*i {
			t.Fatalf("GetNext %d = %d, %v", i, v, err)
		}
	}
	if p.HasNext() || !p.HasFree() {
		t.Fatalf("HasNext %v HasFree %v after every result", p.HasNext(), p.HasFree())
	}
	p.Submit(ctx, 21)
	if v, err := p.GetNextUnordered(ctx); err != nil || v != 42 {
		t.Fatalf("GetNextUnordered = %d, %v", v, err)
	}
	// A GetNext whose ctx ends leaves the result to be taken later.
	p.Submit(ctx, 1)
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.GetNext(ended); err == nil {
		// The call may already be done; then it was taken and the pool is empty again.
		if p.HasNext() {
			t.Fatal("GetNext returned a result and left it in the pool")
		}
	} else if v, err := p.GetNext(ctx); err != nil || v != 2 {
		t.Fatalf("GetNext after a timed-out GetNext = %d, %v", v, err)
	}
	var popped []*actors.Handle[poolWorker]
	for h := p.PopIdle(); h != nil; h = p.PopIdle() {
		popped = append(popped, h)
	}
	if len(popped) != 3 || p.Size() != 0 {
		t.Fatalf("popped %d actors, %d left; want 3 and 0", len(popped), p.Size())
	}
	for _, err := range p.Map(ctx, seq(0, 1)) {
		if err == nil {
			t.Fatal("Map on a pool without actors yielded no error")
		}
	}
}

// TestPoolConcurrentSubmitters: submissions from many goroutines are each answered once.
func TestPoolConcurrentSubmitters(t *testing.T) {
	ctx := testCtx(t)
	p := actors.NewPool(PoolDouble.Remote, poolActors(t, 2)...)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				p.Submit(ctx, g*10+i)
			}
		})
	}
	wg.Wait()
	var got []int
	for p.HasNext() {
		v, err := p.GetNextUnordered(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v/2)
	}
	slices.Sort(got)
	if !slices.Equal(got, slices.Collect(seq(0, 40))) {
		t.Fatalf("results %v, want 0..39 once each", got)
	}
}

// seq yields from, from+1, ..., to-1.
func seq(from, to int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := from; i < to; i++ {
			if !yield(i) {
				return
			}
		}
	}
}
