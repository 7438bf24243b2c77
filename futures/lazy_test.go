package futures_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jetray/jetray/futures"
)

func TestResolveLazyDoneBeforeLoad(t *testing.T) {
	var calls atomic.Int32
	p := futures.NewPromise[string]("obj")
	p.ResolveLazy(func(context.Context) (string, error) {
		calls.Add(1)
		return "payload", nil
	})
	f := p.Future()
	if !f.Resolved() || !isClosed(f.Done()) {
		t.Fatal("lazy future not done after ResolveLazy")
	}
	ready, _, err := futures.Wait(t.Context(), []*futures.Future[string]{f}, 1)
	if err != nil || len(ready) != 1 {
		t.Fatalf("Wait() = %d ready, %v", len(ready), err)
	}
	if f.Err() != nil {
		t.Fatalf("Err() = %v before load", f.Err())
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("load called %d times by Done/Wait/Err, want 0", n)
	}
	for range 3 {
		v, err := f.Await(t.Context())
		if err != nil || v != "payload" {
			t.Fatalf("Await() = %q, %v", v, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("load called %d times, want 1", n)
	}
}

func TestResolveLazyConcurrentAwaitsShareOneLoad(t *testing.T) {
	const awaiters = 16
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	p := futures.NewPromise[int]("obj")
	p.ResolveLazy(func(context.Context) (int, error) {
		if calls.Add(1) == 1 {
			close(started)
		}
		<-release
		return 99, nil
	})
	f := p.Future()

	var wg sync.WaitGroup
	results := make(chan int, awaiters)
	for range awaiters {
		wg.Go(func() {
			v, err := f.Await(context.Background())
			if err != nil {
				t.Errorf("Await() error = %v", err)
			}
			results <- v
		})
	}
	receive(t, started)
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 99 {
			t.Fatalf("Await() = %d, want 99", v)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("load called %d times, want 1", n)
	}
}

func TestResolveLazyRetriesAfterContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		p := futures.NewPromise[int]("obj")
		p.ResolveLazy(func(ctx context.Context) (int, error) {
			if calls.Add(1) == 1 {
				<-ctx.Done() // first download hangs until the caller gives up
				return 0, errors.New("download aborted")
			}
			return 5, nil
		})
		f := p.Future()

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := f.Await(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("first Await() error = %v, want DeadlineExceeded", err)
		}
		if f.Err() != nil {
			t.Fatalf("Err() = %v after a canceled load, want nil", f.Err())
		}
		v, err := f.Await(t.Context())
		if err != nil || v != 5 {
			t.Fatalf("second Await() = %d, %v; want 5, nil", v, err)
		}
		if n := calls.Load(); n != 2 {
			t.Fatalf("load called %d times, want 2", n)
		}
	})
}

func TestResolveLazyWaiterTakesOverWhenLoaderGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		p := futures.NewPromise[int]("obj")
		p.ResolveLazy(func(ctx context.Context) (int, error) {
			if calls.Add(1) == 1 {
				<-ctx.Done()
				return 0, ctx.Err()
			}
			return 8, nil
		})
		f := p.Future()

		short, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		first := make(chan error, 1)
		go func() {
			_, err := f.Await(short)
			first <- err
		}()
		synctest.Wait() // the first Await is inside load
		second := make(chan int, 1)
		go func() {
			v, err := f.Await(t.Context())
			if err != nil {
				t.Errorf("second Await() error = %v", err)
			}
			second <- v
		}()
		if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("first Await() error = %v, want DeadlineExceeded", err)
		}
		if v := <-second; v != 8 {
			t.Fatalf("second Await() = %d, want 8", v)
		}
	})
}

func TestResolveLazyCachesError(t *testing.T) {
	errMissing := errors.New("object missing")
	var calls atomic.Int32
	p := futures.NewPromise[int]("obj")
	p.ResolveLazy(func(context.Context) (int, error) {
		calls.Add(1)
		return 0, errMissing
	})
	f := p.Future()
	for range 2 {
		if _, err := f.Await(t.Context()); err != errMissing {
			t.Fatalf("Await() error = %v, want %v", err, errMissing)
		}
	}
	if f.Err() != errMissing {
		t.Fatalf("Err() = %v, want %v", f.Err(), errMissing)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("load called %d times, want 1", n)
	}
}

func TestResolveLazyPanicIsNotCached(t *testing.T) {
	var calls atomic.Int32
	p := futures.NewPromise[int]("obj")
	p.ResolveLazy(func(context.Context) (int, error) {
		if calls.Add(1) == 1 {
			panic("loader bug")
		}
		return 1, nil
	})
	f := p.Future()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic not propagated")
			}
		}()
		_, _ = f.Await(t.Context())
	}()
	if v, err := f.Await(t.Context()); err != nil || v != 1 {
		t.Fatalf("Await() after panic = %d, %v; want 1, nil", v, err)
	}
}

func TestResolveLazyNilLoad(t *testing.T) {
	p := futures.NewPromise[int]("obj")
	if !p.ResolveLazy(nil) {
		t.Fatal("ResolveLazy(nil) returned false")
	}
	if _, err := p.Future().Await(t.Context()); err == nil {
		t.Fatal("Await() succeeded with a nil load function")
	}
}

func TestResolveLazyEndedContextDoesNotLoad(t *testing.T) {
	var calls atomic.Int32
	p := futures.NewPromise[int]("obj")
	p.ResolveLazy(func(context.Context) (int, error) {
		calls.Add(1)
		return 1, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Future().Await(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Await() error = %v, want context.Canceled", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("load called %d times with an ended context, want 0", n)
	}
}
