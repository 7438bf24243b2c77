package futures_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jetray/jetray/futures"
)

// drain reads s with Next until it returns an error.
func drain(t *testing.T, s *futures.Stream[int]) ([]int, error) {
	t.Helper()
	var got []int
	for {
		v, err := s.Next(t.Context())
		if err != nil {
			return got, err
		}
		got = append(got, v)
	}
}

func TestStreamEnd(t *testing.T) {
	errProducer := errors.New("producer crashed")
	tests := []struct {
		name    string
		send    []int
		closeBy error
		wantErr error
	}{
		{name: "eof", send: []int{1, 2, 3}, closeBy: nil, wantErr: io.EOF},
		{name: "explicit eof", send: []int{1}, closeBy: io.EOF, wantErr: io.EOF},
		{name: "empty", send: nil, closeBy: nil, wantErr: io.EOF},
		{name: "error after values", send: []int{1, 2}, closeBy: errProducer, wantErr: errProducer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, w := futures.NewStream[int]("s")
			if s.ID() != "s" {
				t.Fatalf("ID() = %q", s.ID())
			}
			go func() {
				for _, v := range tt.send {
					w.Send(v)
				}
				w.Close(tt.closeBy)
			}()
			got, err := drain(t, s)
			if err != tt.wantErr {
				t.Fatalf("final error = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.send) {
				t.Fatalf("values = %v, want %v", got, tt.send)
			}
			if _, err := s.Next(t.Context()); err != tt.wantErr {
				t.Fatalf("Next() after end = %v, want %v again", err, tt.wantErr)
			}
			if !isClosed(s.Done()) {
				t.Fatal("Done not closed after Close")
			}
		})
	}
}

func TestStreamWriterAfterClose(t *testing.T) {
	s, w := futures.NewStream[string]("s")
	if !w.Send("a") {
		t.Fatal("Send on open stream returned false")
	}
	if isClosed(s.Done()) {
		t.Fatal("Done closed before Close")
	}
	if !w.Close(nil) {
		t.Fatal("first Close returned false")
	}
	if !isClosed(s.Done()) {
		t.Fatal("Done not closed by Close")
	}
	if w.Close(errors.New("late")) {
		t.Fatal("second Close returned true")
	}
	if w.Send("b") {
		t.Fatal("Send after Close returned true")
	}
	if n := w.Len(); n != 1 {
		t.Fatalf("Len() = %d, want 1", n)
	}
	if v, err := s.Next(t.Context()); v != "a" || err != nil {
		t.Fatalf("Next() = %q, %v", v, err)
	}
	if _, err := s.Next(t.Context()); err != io.EOF {
		t.Fatalf("Next() = %v, want io.EOF (second Close is a no-op)", err)
	}
}

func TestStreamLen(t *testing.T) {
	s, w := futures.NewStream[int]("s")
	for i := range 200 { // enough to exercise buffer compaction
		w.Send(i)
	}
	for i := range 150 {
		if v, _ := s.Next(t.Context()); v != i {
			t.Fatalf("Next() = %d, want %d", v, i)
		}
		if got, want := w.Len(), 200-i-1; got != want {
			t.Fatalf("Len() = %d, want %d", got, want)
		}
	}
	for i := 200; i < 300; i++ {
		w.Send(i)
	}
	w.Close(nil)
	got, err := drain(t, s)
	if err != io.EOF || len(got) != 150 || got[0] != 150 || got[149] != 299 {
		t.Fatalf("rest = %d values [%d..%d], %v", len(got), got[0], got[len(got)-1], err)
	}
	if w.Len() != 0 {
		t.Fatalf("Len() = %d after draining", w.Len())
	}
}

func TestStreamNextContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, w := futures.NewStream[int]("s")
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := s.Next(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Next() error = %v, want context.DeadlineExceeded", err)
		}
		w.Send(7)
		if v, err := s.Next(ctx); v != 7 || err != nil {
			t.Fatalf("Next() with buffered value and ended ctx = %d, %v; want 7, nil", v, err)
		}
	})
}

func TestStreamNextWakesOnSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, w := futures.NewStream[int]("s")
		got := make(chan int, 1)
		go func() {
			v, _ := s.Next(t.Context())
			got <- v
		}()
		synctest.Wait()
		if _, ok := tryReceive(got); ok {
			t.Fatal("Next returned on an empty stream")
		}
		w.Send(5)
		if v := <-got; v != 5 {
			t.Fatalf("Next() = %d, want 5", v)
		}
	})
}

func TestStreamConcurrentReaders(t *testing.T) {
	const n, readers = 2000, 4
	s, w := futures.NewStream[int]("s")
	var (
		mu  sync.Mutex
		got []int
		wg  sync.WaitGroup
	)
	for range readers {
		wg.Go(func() {
			for v, err := range s.All(context.Background()) {
				if err != nil {
					t.Errorf("All() error = %v", err)
					return
				}
				mu.Lock()
				got = append(got, v)
				mu.Unlock()
			}
		})
	}
	var sendWG sync.WaitGroup
	for p := range 2 {
		sendWG.Go(func() {
			for i := p; i < n; i += 2 {
				w.Send(i)
			}
		})
	}
	sendWG.Wait()
	w.Close(nil)
	wg.Wait()
	slices.Sort(got)
	if len(got) != n || got[0] != 0 || got[n-1] != n-1 || len(slices.Compact(got)) != n {
		t.Fatalf("readers got %d distinct values, want each of %d exactly once", len(slices.Compact(got)), n)
	}
}

func TestStreamAll(t *testing.T) {
	errProducer := errors.New("producer crashed")
	tests := []struct {
		name       string
		closeBy    error
		breakAfter int // 0: read everything
		wantVals   []int
		wantErrs   []error
	}{
		{name: "eof", wantVals: []int{1, 2, 3}},
		{name: "error yielded once", closeBy: errProducer, wantVals: []int{1, 2, 3, 0}, wantErrs: []error{nil, nil, nil, errProducer}},
		{name: "break", breakAfter: 2, wantVals: []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, w := futures.NewStream[int]("s")
			for _, v := range []int{1, 2, 3} {
				w.Send(v)
			}
			w.Close(tt.closeBy)
			var vals []int
			var errs []error
			for v, err := range s.All(t.Context()) {
				vals = append(vals, v)
				errs = append(errs, err)
				if len(vals) == tt.breakAfter {
					break
				}
			}
			if !slices.Equal(vals, tt.wantVals) {
				t.Fatalf("values = %v, want %v", vals, tt.wantVals)
			}
			if tt.wantErrs == nil {
				tt.wantErrs = make([]error, len(tt.wantVals))
			}
			if !slices.Equal(errs, tt.wantErrs) {
				t.Fatalf("errors = %v, want %v", errs, tt.wantErrs)
			}
			if tt.breakAfter > 0 {
				if v, err := s.Next(t.Context()); v != 3 || err != nil {
					t.Fatalf("Next() after break = %d, %v; want the unread 3", v, err)
				}
			}
		})
	}
}

func TestStreamAllContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, w := futures.NewStream[int]("s")
		w.Send(1)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		var errs []error
		for _, err := range s.All(ctx) {
			errs = append(errs, err)
		}
		if !slices.Equal(errs, []error{nil, context.DeadlineExceeded}) {
			t.Fatalf("errors = %v, want [nil, DeadlineExceeded]", errs)
		}
	})
}
