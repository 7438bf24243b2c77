package framework_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/tcpproxy"
)

// windowProbe watches a streaming call from its producer's side: after each yield that
// returned, how many values were yielded and not yet read by the caller's stream.
type windowProbe[T any] struct {
	st       atomic.Pointer[futures.Stream[T]]
	produced atomic.Uint64
	worst    atomic.Int64 // the most values yielded and unread seen after a yield
	yieldErr chan error   // the first error a yield returned
	finished chan struct{}
}

func newWindowProbe[T any]() *windowProbe[T] {
	return &windowProbe[T]{yieldErr: make(chan error, 1), finished: make(chan struct{}, 1)}
}

// yielded records one value stored. Reading the stream's count after yield returned is
// sound: the producer was let through only once the reader's count had reached it.
func (p *windowProbe[T]) yielded() {
	n := p.produced.Add(1)
	var read uint64
	if s := p.st.Load(); s != nil {
		read = s.ReadCount()
	}
	d := int64(n) - int64(read)
	for w := p.worst.Load(); d > w && !p.worst.CompareAndSwap(w, d); w = p.worst.Load() {
	}
}

// produce yields n values made by val, recording each, and reports its end.
func (p *windowProbe[T]) produce(n int, val func(int) T, yield func(T) error) error {
	defer func() { p.finished <- struct{}{} }()
	for i := range n {
		if err := yield(val(i)); err != nil {
			p.yieldErr <- err
			return err
		}
		p.yielded()
	}
	return nil
}

// unread returns the values yielded and not yet read, as the test sees them.
func (p *windowProbe[T]) unread() int64 {
	return int64(p.produced.Load()) - int64(p.st.Load().ReadCount())
}

// probedInts is a streaming task yielding 0 ... n-1 under the probe in cur at its start.
func probedInts(name string, cur *atomic.Pointer[windowProbe[int]], opts ...framework.TaskOption) *framework.StreamTask[int, int] {
	return framework.NewStreamTask(name, func(_ context.Context, n int, yield func(int) error) error {
		return cur.Load().produce(n, func(i int) int { return i }, yield)
	}, opts...)
}

// start submits task's call of n values under a fresh probe, which it returns.
func start(ctx context.Context, c *framework.Client, task *framework.StreamTask[int, int], cur *atomic.Pointer[windowProbe[int]], n int) (*windowProbe[int], *futures.Stream[int]) {
	p := newWindowProbe[int]()
	cur.Store(p)
	st := task.Remote(ctx, c, n)
	p.st.Store(st)
	return p, st
}

// TestStreamWindowBoundsUnread: a producer of 10,000 values far faster than its reader never
// has more than the window yielded and unread, and the reader's buffer never holds more.
// The reader stops every 500 values until the producer has caught up with the window, so the
// bound is met many times; without a window the same producer runs ahead of the reader.
func TestStreamWindowBoundsUnread(t *testing.T) {
	var cur atomic.Pointer[windowProbe[int]]
	task := probedInts("window_ints", &cur)
	c := frameworktest.New(t, task)
	ctx := testCtx(t)

	t.Run("window 64", func(t *testing.T) {
		const total, window = 10000, 64
		windowInts, st := start(ctx, c, task.Options(framework.StreamWindow(window)), &cur, total)
		maxBuffered, pauses := 0, 0
		for i := range total {
			if i%500 == 0 {
				// Held here: the producer goes up to the window, and stops.
				waitFor(t, 20*time.Second, "the producer to reach the window", func() bool {
					return windowInts.unread() >= window-window/4
				})
				pauses++
			}
			maxBuffered = max(maxBuffered, st.Buffered())
			v, err := st.Next(ctx)
			if err != nil || v != i {
				t.Fatalf("value %d = %d, %v", i, v, err)
			}
		}
		if _, err := st.Next(ctx); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last value: %v", err)
		}
		if w := windowInts.worst.Load(); w > window {
			t.Fatalf("the producer had %d values yielded and unread; window %d", w, window)
		}
		if maxBuffered > window {
			t.Fatalf("the reader's buffer held %d values; window %d", maxBuffered, window)
		}
		t.Logf("%d pauses at the window; at most %d unread at a yield, %d buffered", pauses, windowInts.worst.Load(), maxBuffered)
	})

	t.Run("no window runs ahead", func(t *testing.T) {
		const total = 2000
		windowInts, st := start(ctx, c, task, &cur, total)
		recv(t, windowInts.finished, 30*time.Second, "the producer to finish unread")
		waitFor(t, 10*time.Second, "every value in the buffer", func() bool { return st.Buffered() == total })
		if w := windowInts.worst.Load(); w != total {
			t.Fatalf("without a window: at most %d unread at a yield, want %d", w, total)
		}
		if vs, err := collect(ctx, st); err != nil || len(vs) != total {
			t.Fatalf("read %d values, %v", len(vs), err)
		}
	})
}

// TestStreamWindowMemory: a producer of 256 values of 256 KiB each (64 MiB) whose reader has
// read one value: with a window of 4 the process (reader, worker and broker alike) holds
// about 4 of them, and the heap grows by far less than the 64 MiB.
func TestStreamWindowMemory(t *testing.T) {
	const total, window, size = 256, 4, 256 << 10
	probe := newWindowProbe[string]() // one call: the task's probe
	big := framework.NewStreamTask("window_big", func(_ context.Context, n int, yield func(string) error) error {
		return probe.produce(n, func(i int) string { return strings.Repeat(string(rune('a'+i%26)), size) }, yield)
	}, framework.StreamWindow(window))
	c := frameworktest.New(t, big)
	ctx := testCtx(t)

	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	st := big.Remote(ctx, c, total)
	probe.st.Store(st)
	if v, err := st.Next(ctx); err != nil || len(v) != size {
		t.Fatalf("first value: %d bytes, %v", len(v), err)
	}
	waitFor(t, 20*time.Second, "the producer to reach the window", func() bool { return probe.unread() >= window-window/4 })
	during := heap()
	if probe.produced.Load() > 1+window {
		t.Fatalf("%d values produced with 1 read; window %d", probe.produced.Load(), window)
	}
	if st.Buffered() > window {
		t.Fatalf("buffer holds %d values; window %d", st.Buffered(), window)
	}
	const limit = 16 << 20 // the 64 MiB of values would be far above it
	if during > before && during-before > limit {
		t.Fatalf("heap grew by %d MiB while the producer waited; want under %d MiB", (during-before)>>20, limit>>20)
	}
	t.Logf("heap %d MiB -> %d MiB with %d values of %d KiB produced, %d buffered",
		before>>20, during>>20, probe.produced.Load(), size>>10, st.Buffered())
	for n := 1; n < 32; n++ { // the stream goes on as it is read
		if v, err := st.Next(ctx); err != nil || len(v) != size || v[0] != byte('a'+n%26) {
			t.Fatalf("value %d: %d bytes, %v", n, len(v), err)
		}
	}
	if err := framework.Cancel(ctx, c, st); err != nil { // the other 224 values are never made
		t.Fatal(err)
	}
	recv(t, probe.finished, 20*time.Second, "the producer to end after Cancel")
	if n := probe.produced.Load(); n > 32+window {
		t.Fatalf("%d values produced with 32 read; window %d", n, window)
	}
}

// TestStreamWindowEndsWithTheCall: a reader that stops reading leaves the producer waiting
// in yield until the call's ctx ends: Cancel, or the call's Timeout. yield then returns the
// ctx's error.
func TestStreamWindowEndsWithTheCall(t *testing.T) {
	var cur atomic.Pointer[windowProbe[int]]
	task := probedInts("window_stalled", &cur, framework.StreamWindow(8))
	c := frameworktest.New(t, task)
	ctx := testCtx(t)

	t.Run("cancel", func(t *testing.T) {
		probe, st := start(ctx, c, task, &cur, 1000)
		// Three read: the producer, asking for 3 + 8/4 - 2 more reads each time, stops at 3 + 8.
		mustRead(t, ctx, st, 3)
		waitFor(t, 20*time.Second, "the producer to reach the window", func() bool { return probe.produced.Load() == 3+8 })
		if err := framework.Cancel(ctx, c, st); err != nil {
			t.Fatal(err)
		}
		err := recv(t, probe.yieldErr, 20*time.Second, "yield to return after Cancel")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("yield after Cancel: %v, want context.Canceled", err)
		}
		if n := probe.produced.Load(); n != 11 {
			t.Fatalf("%d values produced, want 11", n)
		}
		if vs, err := collect(ctx, st); len(vs) > 8 || !errors.Is(err, framework.ErrCancelled) {
			t.Fatalf("stream after Cancel: %d values, then %v", len(vs), err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		probe, st := start(ctx, c, task.Options(framework.Timeout(time.Second)), &cur, 1000)
		err := recv(t, probe.yieldErr, 20*time.Second, "yield to return at the timeout")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("yield at the timeout: %v, want context.DeadlineExceeded", err)
		}
		vs, err := collect(ctx, st)
		var te *framework.TaskError
		if len(vs) != 8 || !errors.As(err, &te) || te.Kind != framework.KindTimeout {
			t.Fatalf("stream: %d values, then %v; want 8, then a timeout", len(vs), err)
		}
	})
}

// TestStreamWindowReaderGone: a producer waiting for a reader whose client is gone does not
// wait for ever. A closing client answers its held requests, so its producers go on without a
// bound at once; a client that vanished, or is cut off without knowing it, stops answering,
// and its producers go on after WithStreamReaderGrace.
func TestStreamWindowReaderGone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		grace  time.Duration
		leave  func(c *framework.Client, p *tcpproxy.Proxy)
		within time.Duration
	}{
		// A grace far beyond the wait allowed: the closing client's answer freed the producer.
		{"closed", time.Hour, func(c *framework.Client, _ *tcpproxy.Proxy) { _ = c.Close() }, 3 * time.Second},
		// The held request is lost with the connection: the producer's request times out
		// (5 s), the next finds no responders, and the producer goes on.
		{"vanished", 500 * time.Millisecond, func(c *framework.Client, _ *tcpproxy.Proxy) { c.Conn().Close() }, 20 * time.Second},
		// The server still delivers requests to the silent connection: no answer comes back.
		{"cut off", 500 * time.Millisecond, func(_ *framework.Client, p *tcpproxy.Proxy) { p.Blackhole() }, 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cur atomic.Pointer[windowProbe[int]]
			task := probedInts("window_orphan", &cur, framework.StreamWindow(4))
			srv := startServer(t, framework.EmbeddedConfig{})
			runWorker(t, newWorker(t, connect(t, srv.ClientURL()), []framework.WorkerOption{framework.WithStreamReaderGrace(tc.grace)}, task))
			ctx := testCtx(t)
			proxy, err := tcpproxy.Start(strings.TrimPrefix(srv.ClientURL(), "nats://"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = proxy.Close() })
			reader := connect(t, "nats://"+proxy.Addr())
			t.Cleanup(proxy.Restore) // before the reader closes
			probe, _ := start(ctx, reader, task, &cur, 100)
			waitFor(t, 20*time.Second, "the producer to reach the window", func() bool { return probe.produced.Load() == 4 })
			// The producer's short first request timed out; its second is held.
			waitFor(t, 20*time.Second, "a held credit request", func() bool {
				taken, held := framework.CreditRequests(reader)
				return taken >= 2 && held == 1
			})
			left := time.Now()
			tc.leave(reader, proxy)
			recv(t, probe.finished, tc.within, "the producer to finish without its reader")
			if n := probe.produced.Load(); n != 100 {
				t.Fatalf("%d values produced, want 100", n)
			}
			t.Logf("finished %v after the reader left", time.Since(left).Round(time.Millisecond))
		})
	}
}

// TestStreamWindowPausedReader: a reader that reads nothing for longer than the grace is not
// taken as gone: its client answers the held request every 2 s with its read count, so the
// producer keeps waiting at the window.
func TestStreamWindowPausedReader(t *testing.T) {
	var cur atomic.Pointer[windowProbe[int]]
	task := probedInts("window_paused", &cur, framework.StreamWindow(4))
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithStreamReaderGrace(500 * time.Millisecond)}, task)
	ctx := testCtx(t)
	probe, st := start(ctx, env.Client, task, &cur, 50)
	waitFor(t, 20*time.Second, "three answers without reads", func() bool {
		taken, _ := framework.CreditRequests(env.Client)
		return taken >= 5 // the probe, then requests answered after 2 s each
	})
	if n := probe.produced.Load(); n != 4 {
		t.Fatalf("%d values produced with none read; window 4", n)
	}
	if vs, err := collect(ctx, st); err != nil || len(vs) != 50 {
		t.Fatalf("%d values, %v", len(vs), err)
	}
	if w := probe.worst.Load(); w > 4 {
		t.Fatalf("%d values yielded and unread; window 4", w)
	}
}

// TestStreamWindowNestedOneSlot: a task reading a windowed stream produced on the same
// one-slot worker. The producer waiting for its reader lends its slot, as Await does, so
// neither waits for the other for ever.
func TestStreamWindowNestedOneSlot(t *testing.T) {
	inner := framework.NewStreamTask("window_inner", func(_ context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				return err
			}
		}
		return nil
	}, framework.StreamWindow(2))
	outer := framework.NewTask("window_outer", func(ctx context.Context, n int) (int, error) {
		sum := 0
		for v, err := range inner.Remote(ctx, framework.ClientFromContext(ctx), n).All(ctx) {
			if err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	})
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithConcurrency(1)}, inner, outer)
	ctx := testCtx(t)
	if sum, err := outer.Remote(ctx, env.Client, 200).Await(ctx); err != nil || sum != 199*200/2 {
		t.Fatalf("sum = %d, %v", sum, err)
	}
}

// TestStreamWindowRetry: a retried attempt yields again from the start; values already
// delivered are skipped and the window still holds (its first values are refused by the
// broker and pass through the window the reader has already read).
func TestStreamWindowRetry(t *testing.T) {
	var attempts atomic.Int32
	probe := newWindowProbe[int]()
	task := framework.NewStreamTask("window_retry", func(ctx context.Context, n int, yield func(int) error) error {
		first := attempts.Add(1) == 1
		for i := range n {
			if first && i == n/2 {
				return errors.New("first attempt breaks halfway")
			}
			if err := yield(i); err != nil {
				return err
			}
			if !first {
				probe.yielded()
			}
		}
		return nil
	}, framework.StreamWindow(4), framework.MaxRetries(1), framework.RetryErrors(), framework.Backoff(time.Millisecond, time.Millisecond))
	c := frameworktest.New(t, task)
	ctx := testCtx(t)
	st := task.Remote(ctx, c, 40)
	probe.st.Store(st)
	vs, err := collect(ctx, st)
	if err != nil || len(vs) != 40 {
		t.Fatalf("%d values, %v", len(vs), err)
	}
	for i, v := range vs {
		if v != i {
			t.Fatalf("value %d = %d", i, v)
		}
	}
	if attempts.Load() != 2 {
		t.Fatalf("%d attempts", attempts.Load())
	}
	if w := probe.worst.Load(); w > 4 {
		t.Fatalf("second attempt: %d yielded and unread; window 4", w)
	}
}

func collect[T any](ctx context.Context, st *futures.Stream[T]) ([]T, error) {
	var out []T
	for v, err := range st.All(ctx) {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func mustRead[T any](t *testing.T, ctx context.Context, st *futures.Stream[T], n int) {
	t.Helper()
	for range n {
		if _, err := st.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
