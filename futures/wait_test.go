package futures_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jetray/jetray/futures"
)

// promises returns n pending promises with IDs "f0".."f<n-1>" and their futures.
func promises(n int) ([]*futures.Promise[int], []*futures.Future[int]) {
	ps := make([]*futures.Promise[int], n)
	fs := make([]*futures.Future[int], n)
	for i := range n {
		ps[i] = futures.NewPromise[int](fmt.Sprintf("f%d", i))
		fs[i] = ps[i].Future()
	}
	return ps, fs
}

// ids returns the IDs of as.
func ids[F futures.Awaitable](as []F) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID()
	}
	return out
}

func TestWaitInvalidArguments(t *testing.T) {
	_, fs := promises(3)
	dup := append(slices.Clone(fs), fs[1])
	sameID := append(slices.Clone(fs), futures.Ready("f0", 0))
	_, many := promises(40)
	manyDup := append(slices.Clone(many), many[17])
	manySameID := append(slices.Clone(many), futures.Ready("f17", 0))
	withNil := append(slices.Clone(fs), nil)
	withZero := append(slices.Clone(fs), &futures.Future[int]{})
	tests := []struct {
		name       string
		fs         []*futures.Future[int]
		numReturns int
		want       error
	}{
		{name: "zero", fs: fs, numReturns: 0, want: futures.ErrInvalidNumReturns},
		{name: "negative", fs: fs, numReturns: -1, want: futures.ErrInvalidNumReturns},
		{name: "more than len", fs: fs, numReturns: 4, want: futures.ErrInvalidNumReturns},
		{name: "same future twice", fs: dup, numReturns: 1, want: futures.ErrDuplicateFuture},
		{name: "same ID twice", fs: sameID, numReturns: 1, want: futures.ErrDuplicateFuture},
		{name: "duplicate in large input", fs: manyDup, numReturns: 1, want: futures.ErrDuplicateFuture},
		{name: "same ID in large input", fs: manySameID, numReturns: 1, want: futures.ErrDuplicateFuture},
		{name: "nil entry", fs: withNil, numReturns: 1, want: futures.ErrNilFuture},
		{name: "zero-value future", fs: withZero, numReturns: 1, want: futures.ErrNilFuture},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Nothing is resolved: an invalid call must not block.
			ready, notReady, err := futures.Wait(t.Context(), tt.fs, tt.numReturns)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Wait() error = %v, want %v", err, tt.want)
			}
			if ready != nil || notReady != nil {
				t.Fatalf("Wait() returned slices with an error: %v, %v", ready, notReady)
			}
		})
	}
}

// TestWaitEmpty ports Ray's ray.wait([]) == ([], []): an empty input is answered at once with
// two empty lists, whatever numReturns, even with a context that has ended.
func TestWaitEmpty(t *testing.T) {
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	for _, numReturns := range []int{0, 1, 5} {
		for _, ctx := range []context.Context{t.Context(), ended} {
			for _, fs := range [][]*futures.Future[int]{nil, {}} {
				ready, notReady, err := futures.Wait(ctx, fs, numReturns)
				if err != nil || ready == nil || notReady == nil || len(ready) != 0 || len(notReady) != 0 {
					t.Fatalf("Wait(%v, %d) = %v, %v, %v; want [], [], nil", fs, numReturns, ready, notReady, err)
				}
			}
		}
	}
}

func TestWaitNilInterfaceEntry(t *testing.T) {
	as := []futures.Awaitable{futures.Ready("a", 1), nil}
	if _, _, err := futures.Wait(t.Context(), as, 1); !errors.Is(err, futures.ErrNilFuture) {
		t.Fatalf("Wait() error = %v, want ErrNilFuture", err)
	}
	var nilFuture *futures.Future[int]
	as = []futures.Awaitable{futures.Ready("a", 1), nilFuture}
	if _, _, err := futures.Wait(t.Context(), as, 1); !errors.Is(err, futures.ErrNilFuture) {
		t.Fatalf("Wait() error = %v, want ErrNilFuture", err)
	}
	var nilForeign *chanAwaitable
	as = []futures.Awaitable{futures.Ready("a", 1), nilForeign}
	if _, _, err := futures.Wait(t.Context(), as, 1); !errors.Is(err, futures.ErrNilFuture) {
		t.Fatalf("Wait() error = %v, want ErrNilFuture", err)
	}
}

func TestWaitAlreadyDoneKeepsInputOrder(t *testing.T) {
	tests := []struct {
		name         string
		resolved     []int
		numReturns   int
		wantReady    []string
		wantNotReady []string
	}{
		{name: "one of many", resolved: []int{3, 1}, numReturns: 1,
			wantReady: []string{"f1"}, wantNotReady: []string{"f0", "f2", "f3", "f4"}},
		{name: "exactly numReturns", resolved: []int{4, 0}, numReturns: 2,
			wantReady: []string{"f0", "f4"}, wantNotReady: []string{"f1", "f2", "f3"}},
		{name: "more done than numReturns", resolved: []int{4, 2, 0, 3}, numReturns: 3,
			wantReady: []string{"f0", "f2", "f3"}, wantNotReady: []string{"f1", "f4"}},
		{name: "all", resolved: []int{0, 1, 2, 3, 4}, numReturns: 5,
			wantReady: []string{"f0", "f1", "f2", "f3", "f4"}, wantNotReady: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, fs := promises(5)
			for _, i := range tt.resolved {
				ps[i].Resolve(i)
			}
			input := slices.Clone(fs)
			ready, notReady, err := futures.Wait(t.Context(), fs, tt.numReturns)
			if err != nil {
				t.Fatalf("Wait() error = %v", err)
			}
			if got := ids(ready); !slices.Equal(got, tt.wantReady) {
				t.Errorf("ready = %v, want %v", got, tt.wantReady)
			}
			if got := ids(notReady); !slices.Equal(got, tt.wantNotReady) {
				t.Errorf("notReady = %v, want %v", got, tt.wantNotReady)
			}
			if !slices.Equal(fs, input) {
				t.Error("Wait modified its input")
			}
			ready = append(ready, futures.Ready("x", 0))
			if len(notReady) > 0 && notReady[0].ID() == "x" {
				t.Error("appending to ready overwrote notReady")
			}
		})
	}
}

func TestWaitBlocksUntilEnoughDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps, fs := promises(5)
		type result struct {
			ready, notReady []*futures.Future[int]
			err             error
		}
		res := make(chan result, 1)
		go func() {
			r, n, err := futures.Wait(t.Context(), fs, 2)
			res <- result{r, n, err}
		}()

		ps[3].Resolve(3)
		synctest.Wait()
		if _, ok := tryReceive(res); ok {
			t.Fatal("Wait returned with 1 of 2 done")
		}
		ps[1].Reject(errors.New("failures count as done"))
		synctest.Wait()
		r, ok := tryReceive(res)
		if !ok {
			t.Fatal("Wait still blocked with 2 of 2 done")
		}
		if r.err != nil {
			t.Fatalf("Wait() error = %v", r.err)
		}
		if got, want := ids(r.ready), []string{"f1", "f3"}; !slices.Equal(got, want) {
			t.Errorf("ready = %v, want %v", got, want)
		}
		if got, want := ids(r.notReady), []string{"f0", "f2", "f4"}; !slices.Equal(got, want) {
			t.Errorf("notReady = %v, want %v", got, want)
		}
	})
}

func TestWaitContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps, fs := promises(4)
		ps[2].Resolve(2)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		ready, notReady, err := futures.Wait(ctx, fs, 3)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait() error = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Wait returned after %v, want 1s", d)
		}
		if got, want := ids(ready), []string{"f2"}; !slices.Equal(got, want) {
			t.Errorf("ready = %v, want %v", got, want)
		}
		if got, want := ids(notReady), []string{"f0", "f1", "f3"}; !slices.Equal(got, want) {
			t.Errorf("notReady = %v, want %v", got, want)
		}

		// The futures are unaffected and a later Wait still works.
		ps[0].Resolve(0)
		ps[3].Resolve(3)
		ready, _, err = futures.Wait(t.Context(), fs, 3)
		if err != nil || len(ready) != 3 {
			t.Fatalf("second Wait() = %v, %v", ids(ready), err)
		}
	})
}

func TestWaitEndedContextReturnsWhatIsReady(t *testing.T) {
	ps, fs := promises(3)
	ps[1].Resolve(1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ready, notReady, err := futures.Wait(ctx, fs, 2)
	if !errors.Is(err, context.Canceled) || len(ready) != 1 || len(notReady) != 2 {
		t.Fatalf("Wait() = %v, %v, %v", ids(ready), ids(notReady), err)
	}
	// Enough done: success even though ctx has ended.
	ready, _, err = futures.Wait(ctx, fs, 1)
	if err != nil || len(ready) != 1 {
		t.Fatalf("Wait() = %v, %v; want 1 ready, nil", ids(ready), err)
	}
}

func TestWaitRepeatedlyOneAtATime(t *testing.T) {
	const n = 50
	ps, fs := promises(n)
	go func() {
		for i := n - 1; i >= 0; i-- {
			ps[i].Resolve(i)
		}
	}()
	var order []string
	pendingFs := fs
	for len(pendingFs) > 0 {
		ready, rest, err := futures.Wait(t.Context(), pendingFs, 1)
		if err != nil {
			t.Fatalf("Wait() error = %v", err)
		}
		if len(ready) != 1 || len(ready)+len(rest) != len(pendingFs) {
			t.Fatalf("Wait() split %d into %d + %d", len(pendingFs), len(ready), len(rest))
		}
		order = append(order, ready[0].ID())
		pendingFs = rest
	}
	slices.Sort(order)
	want := ids(fs)
	slices.Sort(want)
	if !slices.Equal(order, want) {
		t.Fatalf("futures returned = %v, want each once", order)
	}
}

// chanAwaitable is an Awaitable implemented outside the package.
type chanAwaitable struct {
	id   string
	done chan struct{}
}

func (c *chanAwaitable) ID() string            { return c.id }
func (c *chanAwaitable) Done() <-chan struct{} { return c.done }

func TestWaitMixedAwaitables(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := futures.NewPromise[int]("future")
		s, w := futures.NewStream[int]("stream")
		c := &chanAwaitable{id: "foreign", done: make(chan struct{})}
		as := []futures.Awaitable{p.Future(), s, c}

		res := make(chan []futures.Awaitable, 1)
		go func() {
			ready, _, err := futures.Wait(t.Context(), as, 2)
			if err != nil {
				t.Errorf("Wait() error = %v", err)
			}
			res <- ready
		}()
		close(c.done)
		synctest.Wait()
		if _, ok := tryReceive(res); ok {
			t.Fatal("Wait returned with 1 of 2 done")
		}
		w.Send(1) // a stream is done only when closed
		synctest.Wait()
		if _, ok := tryReceive(res); ok {
			t.Fatal("Wait returned after a Send")
		}
		w.Close(nil)
		if got, want := ids(<-res), []string{"stream", "foreign"}; !slices.Equal(got, want) {
			t.Fatalf("ready = %v, want %v", got, want)
		}
	})
}

func TestWaitForeignAwaitablesTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		as := make([]futures.Awaitable, 10)
		for i := range as {
			as[i] = &chanAwaitable{id: fmt.Sprint(i), done: make(chan struct{})}
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, notReady, err := futures.Wait(ctx, as, 1)
		if !errors.Is(err, context.DeadlineExceeded) || len(notReady) != 10 {
			t.Fatalf("Wait() = %d not ready, %v", len(notReady), err)
		}
		// Wait's helper goroutines have exited: synctest.Test would fail
		// otherwise, and goleak checks the same outside bubbles.
	})
}

func BenchmarkWait1000OneAtATime(b *testing.B) {
	const n = 1000
	b.Run("resolved-before-wait", func(b *testing.B) {
		b.ReportAllocs()
		var ps []*futures.Promise[int]
		var rest []*futures.Future[int]
		next := n
		for b.Loop() {
			if next == n {
				b.StopTimer()
				ps, rest = promises(n)
				next = 0
				b.StartTimer()
			}
			ps[next].Resolve(next)
			next++
			ready, notReady, err := futures.Wait(b.Context(), rest, 1)
			if err != nil || len(ready) != 1 {
				b.Fatal(len(ready), err)
			}
			rest = notReady
		}
	})
	b.Run("concurrent-resolver", func(b *testing.B) {
		b.ReportAllocs()
		var rest []*futures.Future[int]
		var resolverDone chan struct{}
		for b.Loop() {
			if len(rest) == 0 {
				b.StopTimer()
				if resolverDone != nil {
					<-resolverDone
				}
				var ps []*futures.Promise[int]
				ps, rest = promises(n)
				resolverDone = make(chan struct{})
				go func() {
					defer close(resolverDone)
					for i, p := range ps {
						p.Resolve(i)
					}
				}()
				b.StartTimer()
			}
			ready, notReady, err := futures.Wait(b.Context(), rest, 1)
			if err != nil || len(ready) != 1 {
				b.Fatal(len(ready), err)
			}
			rest = notReady
		}
		b.StopTimer()
		for len(rest) > 0 { // let the resolver finish
			_, rest, _ = futures.Wait(b.Context(), rest, 1)
		}
		<-resolverDone
	})
}
