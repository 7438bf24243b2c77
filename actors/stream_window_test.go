package actors_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
)

// countProbe watches one call of CountWindowed from the actor's side.
type countProbe struct {
	st       atomic.Pointer[futures.Stream[int]]
	produced atomic.Uint64
	worst    atomic.Int64 // the most values yielded and unread seen after a yield
}

var windowCall atomic.Pointer[countProbe]

// CountWindowed is Count with a window of 8 values yielded and not yet read.
var CountWindowed = actors.StreamMethod(Counter, "count_windowed", func(c *counter, ctx context.Context, n int, yield func(int) error) error {
	p := windowCall.Load()
	for range n {
		c.n++
		if err := yield(c.n); err != nil {
			return err
		}
		produced := p.produced.Add(1)
		var read uint64
		if st := p.st.Load(); st != nil {
			read = st.ReadCount()
		}
		d := int64(produced) - int64(read)
		for w := p.worst.Load(); d > w && !p.worst.CompareAndSwap(w, d); w = p.worst.Load() {
		}
	}
	return nil
}, framework.StreamWindow(8))

// TestStreamMethodWindow: an actor's streaming method with a window (set on the method, and
// per call with Options) never has more values yielded and unread than the window, while its
// reader stops again and again until the actor has caught up with it.
func TestStreamMethodWindow(t *testing.T) {
	c := frameworktest.New(t, Counter)
	ctx := testCtx(t)
	h := Counter.Remote(ctx, c, 0)
	next := 1
	for _, tc := range []struct {
		name   string
		m      *actors.StreamMethodDef[counter, int, int]
		window int64
		n      int
	}{
		{"method window", CountWindowed, 8, 2000},
		{"per call", CountWindowed.Options(framework.StreamWindow(2)), 2, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &countProbe{}
			windowCall.Store(p)
			st := tc.m.Remote(ctx, h, tc.n)
			p.st.Store(st)
			for i := range tc.n {
				if i%100 == 0 {
					deadline := time.Now().Add(20 * time.Second)
					for int64(p.produced.Load())-int64(st.ReadCount()) < tc.window-tc.window/4 {
						if time.Now().After(deadline) {
							t.Fatalf("the actor did not reach the window: %d produced, %d read", p.produced.Load(), st.ReadCount())
						}
						time.Sleep(5 * time.Millisecond) // poll interval of the deadline loop above
					}
				}
				if b := st.Buffered(); int64(b) > tc.window {
					t.Fatalf("buffer holds %d values; window %d", b, tc.window)
				}
				v, err := st.Next(ctx)
				if err != nil || v != next {
					t.Fatalf("value %d = %d, %v; want %d", i, v, err, next)
				}
				next++
			}
			if w := p.worst.Load(); w > tc.window {
				t.Fatalf("%d values yielded and unread; window %d", w, tc.window)
			}
		})
	}
}
