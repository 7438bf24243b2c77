package futures_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/jetray/jetray/futures"
)

// notified records the calls of a NotifyRead callback.
type notified struct {
	mu    sync.Mutex
	calls []notifyCall
}

type notifyCall struct {
	read uint64
	end  error
}

func (n *notified) fn(read uint64, end error) {
	n.mu.Lock()
	n.calls = append(n.calls, notifyCall{read, end})
	n.mu.Unlock()
}

func (n *notified) get() []notifyCall {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]notifyCall(nil), n.calls...)
}

func TestStreamReadCountAndBuffered(t *testing.T) {
	s, w := futures.NewStream[int]("s")
	for i := range 5 {
		w.Send(i)
	}
	if s.ReadCount() != 0 || s.Buffered() != 5 {
		t.Fatalf("before reading: read %d, buffered %d", s.ReadCount(), s.Buffered())
	}
	for range 3 {
		if _, err := s.Next(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if s.ReadCount() != 3 || w.ReadCount() != 3 || s.Buffered() != 2 || w.Len() != 2 {
		t.Fatalf("after 3 reads: read %d, buffered %d, Len %d", s.ReadCount(), s.Buffered(), w.Len())
	}
	w.Close(nil)
	if _, err := drain(t, s); err != io.EOF {
		t.Fatal(err)
	}
	if s.ReadCount() != 5 {
		t.Fatalf("read %d, want 5 (the end is not a value)", s.ReadCount())
	}
}

func TestStreamNotifyRead(t *testing.T) {
	errProducer := errors.New("producer failed")
	tests := []struct {
		name string
		run  func(t *testing.T, s *futures.Stream[int], w *futures.StreamWriter[int], n *notified)
		want []notifyCall
	}{
		{"already read: at once", func(t *testing.T, s *futures.Stream[int], w *futures.StreamWriter[int], n *notified) {
			w.Send(1)
			w.Send(2)
			mustNext(t, s, 2)
			w.NotifyRead(2, n.fn)
		}, []notifyCall{{2, nil}}},
		{"fires on the read that reaches n, once", func(t *testing.T, s *futures.Stream[int], w *futures.StreamWriter[int], n *notified) {
			for i := range 4 {
				w.Send(i)
			}
			w.NotifyRead(3, n.fn)
			mustNext(t, s, 2)
			if len(n.get()) != 0 {
				t.Fatal("fired before n values were read")
			}
			mustNext(t, s, 2)
		}, []notifyCall{{3, nil}}},
		{"a later notify replaces an earlier one", func(t *testing.T, s *futures.Stream[int], w *futures.StreamWriter[int], n *notified) {
			var old notified
			w.Send(1)
			w.Send(2)
			w.NotifyRead(1, old.fn)
			if len(old.get()) != 0 {
				t.Fatal("fired with nothing read")
			}
			w.NotifyRead(2, n.fn)
			mustNext(t, s, 2)
			if len(old.get()) != 0 {
				t.Fatal("the replaced notify fired")
			}
		}, []notifyCall{{2, nil}}},
		{"close fires with the end", func(t *testing.T, s *futures.Stream[int], w *futures.StreamWriter[int], n *notified) {
			w.Send(1)
			w.NotifyRead(5, n.fn)
			mustNext(t, s, 1)
			w.Close(errProducer)
			w.Close(nil) // no second call
		}, []notifyCall{{1, errProducer}}},
		{"closed already: at once with the end", func(t *testing.T, s *futures.Stream[int], w *futures.StreamWriter[int], n *notified) {
			w.Close(nil)
			w.NotifyRead(1, n.fn)
		}, []notifyCall{{0, io.EOF}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, w := futures.NewStream[int]("s")
			var n notified
			tt.run(t, s, w, &n)
			got := n.get()
			if len(got) != len(tt.want) {
				t.Fatalf("calls %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i].read != tt.want[i].read || got[i].end != tt.want[i].end {
					t.Fatalf("calls %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestStreamNotifyReadMayUseTheStream: the callback runs without the stream's lock, so it
// can look at the stream (a runtime answering its producer does).
func TestStreamNotifyReadMayUseTheStream(t *testing.T) {
	s, w := futures.NewStream[int]("s")
	w.Send(1)
	got := make(chan int, 1)
	w.NotifyRead(1, func(uint64, error) { got <- s.Buffered() + w.Len() + int(s.ReadCount()) })
	mustNext(t, s, 1)
	if v := <-got; v != 1 {
		t.Fatalf("callback saw %d", v)
	}
}

func TestBlocking(t *testing.T) {
	futures.Blocking(t.Context())() // no hook: a no-op
	var began, ended int
	ctx := futures.WithBlockHook(t.Context(), func() func() { began++; return func() { ended++ } })
	done := futures.Blocking(ctx)
	if began != 1 || ended != 0 {
		t.Fatalf("hook: began %d, ended %d", began, ended)
	}
	done()
	if ended != 1 {
		t.Fatalf("done: ended %d", ended)
	}
}

func mustNext(t *testing.T, s *futures.Stream[int], n int) {
	t.Helper()
	for range n {
		if _, err := s.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
