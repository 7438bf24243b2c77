package futures_test

// Tests of the completion signalling shared by Future and Stream, through
// the operations that rely on it (Done, Await, Wait, Gather).

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jetray/jetray/futures"
)

func TestCompletionWakesEveryKindOfWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := futures.NewPromise[int]("f")
		s, w := futures.NewStream[int]("s")
		f := p.Future()
		const each = 5
		woken := make(chan string, 4*each)
		for range each {
			go func() {
				<-f.Done()
				woken <- "done"
			}()
			go func() {
				_, _ = f.Await(t.Context())
				woken <- "await"
			}()
			go func() {
				_, _, _ = futures.Wait(t.Context(), []futures.Awaitable{f, s}, 2)
				woken <- "wait"
			}()
			go func() {
				_, _ = futures.Gather(t.Context(), f, f)
				woken <- "gather"
			}()
		}
		synctest.Wait()
		if len(woken) != 0 {
			t.Fatalf("%d waiters returned before resolution", len(woken))
		}
		p.Resolve(1)
		synctest.Wait()
		if got, want := len(woken), 3*each; got != want {
			t.Fatalf("%d waiters woken by the future, want %d", got, want)
		}
		w.Close(nil)
		synctest.Wait()
		if got, want := len(woken), 4*each; got != want {
			t.Fatalf("%d waiters woken in total, want %d", got, want)
		}
	})
}

func TestCompletionAfterAbandonedWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps, fs := promises(3)
		for range 100 { // each abandoned Wait must deregister cleanly
			ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
			if _, _, err := futures.Wait(ctx, fs, 1); err == nil {
				t.Fatal("Wait() succeeded with nothing resolved")
			}
			cancel()
		}
		res := make(chan []*futures.Future[int], 1)
		go func() {
			ready, _, _ := futures.Wait(t.Context(), fs, 1)
			res <- ready
		}()
		synctest.Wait()
		ps[1].Resolve(1)
		if ready := <-res; len(ready) != 1 || ready[0] != fs[1] {
			t.Fatalf("ready = %v, want f1", ids(ready))
		}
	})
}

func TestCompletionRacesWithRegistration(t *testing.T) {
	for range 200 {
		ps, fs := promises(8)
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Go(func() { p.Resolve(1) })
		}
		for range 4 {
			wg.Go(func() {
				ready, _, err := futures.Wait(context.Background(), fs, len(fs))
				if err != nil || len(ready) != len(fs) {
					t.Errorf("Wait() = %d ready, %v", len(ready), err)
				}
			})
			wg.Go(func() {
				if _, err := futures.Gather(context.Background(), fs...); err != nil {
					t.Errorf("Gather() error = %v", err)
				}
			})
		}
		wg.Wait()
	}
}
