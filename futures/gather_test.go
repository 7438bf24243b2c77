package futures_test

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jetray/jetray/futures"
)

func TestGatherInputOrder(t *testing.T) {
	ps, fs := promises(5)
	go func() {
		for _, i := range []int{4, 2, 0, 3, 1} {
			ps[i].Resolve(i * 10)
		}
	}()
	got, err := futures.Gather(t.Context(), fs...)
	if err != nil {
		t.Fatalf("Gather() error = %v", err)
	}
	if want := []int{0, 10, 20, 30, 40}; !slices.Equal(got, want) {
		t.Fatalf("Gather() = %v, want %v", got, want)
	}
}

func TestGatherEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		fs      []*futures.Future[int]
		want    []int
		wantErr error
	}{
		{name: "none", fs: nil, want: []int{}},
		{name: "same future twice", fs: []*futures.Future[int]{futures.Ready("a", 1), futures.Ready("b", 2), futures.Ready("a", 1)}, want: []int{1, 2, 1}},
		{name: "nil entry", fs: []*futures.Future[int]{futures.Ready("a", 1), nil}, wantErr: futures.ErrNilFuture},
		{name: "zero-value entry", fs: []*futures.Future[int]{{}}, wantErr: futures.ErrNilFuture},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := futures.Gather(t.Context(), tt.fs...)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Gather() error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && (got == nil || !slices.Equal(got, tt.want)) {
				t.Fatalf("Gather() = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestGatherSamePendingFutureTwice(t *testing.T) {
	p := futures.NewPromise[int]("a")
	go p.Resolve(3)
	got, err := futures.Gather(t.Context(), p.Future(), futures.Ready("b", 4), p.Future())
	if err != nil || !slices.Equal(got, []int{3, 4, 3}) {
		t.Fatalf("Gather() = %v, %v", got, err)
	}
}

func TestGatherFirstErrorReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps, fs := promises(4)
		type result struct {
			vals []int
			err  error
		}
		res := make(chan result, 1)
		go func() {
			v, err := futures.Gather(t.Context(), fs...)
			res <- result{v, err}
		}()
		ps[3].Resolve(3)
		synctest.Wait()
		if _, ok := tryReceive(res); ok {
			t.Fatal("Gather returned before all futures resolved")
		}

		cause := &iofs.PathError{Op: "open", Path: "/x", Err: iofs.ErrNotExist}
		ps[2].Reject(cause) // f0 and f1 are still pending
		synctest.Wait()
		r, ok := tryReceive(res)
		if !ok {
			t.Fatal("Gather still blocked after a failure")
		}
		if r.vals != nil {
			t.Errorf("Gather() values = %v, want nil", r.vals)
		}
		if !errors.Is(r.err, iofs.ErrNotExist) {
			t.Errorf("errors.Is(%v, iofs.ErrNotExist) = false", r.err)
		}
		var pe *iofs.PathError
		if !errors.As(r.err, &pe) || pe != cause {
			t.Errorf("errors.As(%v) did not find the cause", r.err)
		}

		// A later failure in time does not change anything: the first wins.
		ps[0].Reject(errors.New("second failure"))
		ps[1].Resolve(1)
	})
}

func TestGatherAlreadyFailed(t *testing.T) {
	errBoom := errors.New("boom")
	_, fs := promises(2) // pending forever: Gather must not block
	all := []*futures.Future[int]{fs[0], futures.Failed[int]("bad", errBoom), fs[1]}
	_, err := futures.Gather(t.Context(), all...)
	if !errors.Is(err, errBoom) {
		t.Fatalf("Gather() error = %v, want %v", err, errBoom)
	}
}

func TestGatherContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps, fs := promises(3)
		ps[0].Resolve(0)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		got, err := futures.Gather(ctx, fs...)
		if err != context.DeadlineExceeded || got != nil {
			t.Fatalf("Gather() = %v, %v; want nil, context.DeadlineExceeded", got, err)
		}
		ps[1].Resolve(1)
		ps[2].Resolve(2)
		got, err = futures.Gather(t.Context(), fs...)
		if err != nil || !slices.Equal(got, []int{0, 1, 2}) {
			t.Fatalf("second Gather() = %v, %v", got, err)
		}
	})
}

// lazyFuture returns a future resolved with load, counting calls in calls.
func lazyFuture(id string, calls *atomic.Int32, load func(context.Context) (int, error)) *futures.Future[int] {
	p := futures.NewPromise[int](id)
	p.ResolveLazy(func(ctx context.Context) (int, error) {
		calls.Add(1)
		return load(ctx)
	})
	return p.Future()
}

func TestGatherLazyValues(t *testing.T) {
	var calls atomic.Int32
	value := func(v int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { return v, nil }
	}
	fs := []*futures.Future[int]{
		lazyFuture("a", &calls, value(1)),
		futures.Ready("b", 2),
		lazyFuture("c", &calls, value(3)),
	}
	for _, f := range fs[:1] {
		if _, err := f.Await(t.Context()); err != nil { // already loaded
			t.Fatal(err)
		}
	}
	for n := 1; n <= 40; n++ { // more than the parallel load limit
		fs = append(fs, lazyFuture(fmt.Sprint("l", n), &calls, value(100+n)))
	}
	got, err := futures.Gather(t.Context(), fs...)
	if err != nil {
		t.Fatalf("Gather() error = %v", err)
	}
	for i, f := range fs {
		want, _ := f.Await(t.Context())
		if got[i] != want {
			t.Fatalf("Gather()[%d] = %d, want %d", i, got[i], want)
		}
	}
	if n := calls.Load(); n != 42 {
		t.Fatalf("load called %d times, want 42", n)
	}
}

func TestGatherLazyLoadFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errMissing := errors.New("object missing")
		var calls atomic.Int32
		hang := func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() }
		fs := []*futures.Future[int]{
			lazyFuture("slow", &calls, hang),
			lazyFuture("missing", &calls, func(context.Context) (int, error) { return 0, errMissing }),
		}
		_, err := futures.Gather(t.Context(), fs...)
		if !errors.Is(err, errMissing) {
			t.Fatalf("Gather() error = %v, want %v", err, errMissing)
		}
		// The failure canceled the other load, which is not cached.
		if fs[0].Err() != nil {
			t.Fatalf("canceled load cached error %v", fs[0].Err())
		}
	})
}

func TestGatherLazyContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		hang := func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, errors.New("aborted") }
		for _, n := range []int{1, 3} {
			fs := make([]*futures.Future[int], n)
			for i := range fs {
				fs[i] = lazyFuture(string(rune('a'+i)), &calls, hang)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			_, err := futures.Gather(ctx, fs...)
			cancel()
			if err != context.DeadlineExceeded {
				t.Fatalf("Gather(%d lazy) error = %v, want context.DeadlineExceeded", n, err)
			}
		}
	})
}

func BenchmarkGather1000(b *testing.B) {
	const n = 1000
	b.Run("resolved", func(b *testing.B) {
		fs := make([]*futures.Future[int], n)
		for i := range fs {
			fs[i] = futures.Ready("f", i)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := futures.Gather(b.Context(), fs...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("concurrent-resolver", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			ps, fs := promises(n)
			b.StartTimer()
			go func() {
				for i, p := range ps {
					p.Resolve(i)
				}
			}()
			if _, err := futures.Gather(b.Context(), fs...); err != nil {
				b.Fatal(err)
			}
		}
	})
}
