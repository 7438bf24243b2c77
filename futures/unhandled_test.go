package futures_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/futures"
)

// unhandledSink collects what the OnUnhandledError handler hears.
type unhandledSink struct {
	mu  sync.Mutex
	ids map[string]error
}

func (s *unhandledSink) heard(id string) (error, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err, ok := s.ids[id]
	return err, ok
}

func listenUnhandled(t *testing.T) *unhandledSink {
	s := &unhandledSink{ids: map[string]error{}}
	prev := futures.OnUnhandledError(func(id string, err error) {
		s.mu.Lock()
		s.ids[id] = err
		s.mu.Unlock()
	})
	t.Cleanup(func() { futures.OnUnhandledError(prev) })
	return s
}

// collectUntil runs the garbage collector until cond holds or the deadline passes.
func collectUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within 10 s of garbage collections", what)
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // poll interval: lets the cleanup goroutine run between GCs
	}
}

// TestUnhandledErrorReported: a failed future nobody read is reported once collected, with
// its ID and error (Ray's "Unhandled error" log); its promise and Failed both count.
func TestUnhandledErrorReported(t *testing.T) {
	s := listenUnhandled(t)
	boom := errors.New("boom")
	func() {
		p := futures.NewPromise[int]("rejected")
		p.Reject(boom)
		_ = futures.Failed[int]("failed", boom)
	}()
	for _, id := range []string{"rejected", "failed"} {
		collectUntil(t, "report of "+id, func() bool {
			err, ok := s.heard(id)
			return ok && errors.Is(err, boom)
		})
	}
}

// TestUnhandledErrorNotReportedOnceRead: a future whose error was read (Await, Err, Gather, or
// handed on as a reference) is not reported, nor one that succeeded; a sentinel future
// dropped with them is, which shows the collector ran their cleanups too.
func TestUnhandledErrorNotReportedOnceRead(t *testing.T) {
	s := listenUnhandled(t)
	ctx := context.Background()
	boom := errors.New("boom")
	collected := make(chan string, 16)
	func() {
		awaited := futures.Failed[int]("awaited", boom)
		_, _ = awaited.Await(ctx)
		errd := futures.Failed[int]("err", boom)
		_ = errd.Err()
		gathered := futures.Failed[int]("gathered", boom)
		_, _ = futures.Gather(ctx, gathered)
		p := futures.NewPromise[int]("shared")
		if _, err := json.Marshal(p.Future()); err != nil { // handed on before it failed
			t.Error(err)
		}
		p.Reject(boom)
		ok := futures.Ready("ok", 1)
		waited := futures.Failed[int]("waited", boom) // Wait does not read the error
		_, _, _ = futures.Wait(ctx, []*futures.Future[int]{waited}, 1)
		for _, f := range []*futures.Future[int]{awaited, errd, gathered, p.Future(), ok, waited} {
			runtime.AddCleanup(f, func(id string) { collected <- id }, f.ID())
		}
	}()
	seen := map[string]bool{}
	collectUntil(t, "collection of the six futures", func() bool {
		for {
			select {
			case id := <-collected:
				seen[id] = true
				continue
			default:
			}
			break
		}
		return len(seen) == 6
	})
	collectUntil(t, "report of the waited future", func() bool { _, ok := s.heard("waited"); return ok })
	for _, id := range []string{"awaited", "err", "gathered", "shared", "ok"} {
		if err, ok := s.heard(id); ok {
			t.Errorf("future %q reported unhandled (%v) although it was read", id, err)
		}
	}
}

// TestUnhandledErrorOff: with no handler set, failures cost no cleanup and nothing is called.
func TestUnhandledErrorOff(t *testing.T) {
	if prev := futures.OnUnhandledError(nil); prev != nil {
		futures.OnUnhandledError(prev)
		t.Fatal("a handler was set at the start of the test")
	}
	allocs := testing.AllocsPerRun(100, func() { _ = futures.Failed[int]("x", errBoomShared) })
	if allocs > 1 {
		t.Fatalf("Failed allocates %.0f times with no handler, want 1 (the future)", allocs)
	}
}

var errBoomShared = errors.New("boom")
