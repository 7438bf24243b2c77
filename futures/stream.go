package futures

import (
	"context"
	"io"
	"iter"
	"sync"
)

// compactAt is the number of consumed slots after which a stream buffer that
// is at least half consumed is compacted.
const compactAt = 64

// Stream is the read side of an ordered sequence of values produced remotely,
// like a Ray streaming generator or an async iterator. Values are buffered as
// they arrive and read with Next or All; the buffer itself has no bound, and a
// runtime that bounds it (a stream window) learns the reader's progress
// through [StreamWriter.NotifyRead]. Create one with [NewStream]; the zero
// value is not usable.
//
// A Stream implements [Awaitable]: Done is closed once the producer has
// finished, so Wait can wait for whole streams. Next and All may be called
// concurrently; each value is delivered to exactly one caller.
type Stream[T any] struct {
	id string
	ev event // fires when the writer closes the stream

	mu     sync.Mutex
	buf    []T // unread values are buf[head:]
	head   int
	closed bool
	end    error         // io.EOF or the producer's error, once closed
	wake   chan struct{} // non-nil while a reader waits; closed on Send and Close

	read     uint64                       // values returned by Next
	notifyAt uint64                       // notify fires once read reaches it
	notify   func(read uint64, end error) // set by NotifyRead until it fires
}

// StreamWriter is the write side of a [Stream], used by the runtime. Its
// methods are safe for concurrent use.
type StreamWriter[T any] struct {
	s *Stream[T]
}

var (
	_ Awaitable = (*Stream[int])(nil)
	_ completer = (*Stream[int])(nil)
)

// NewStream returns an open stream with the given ID and its writer.
func NewStream[T any](id string) (*Stream[T], *StreamWriter[T]) {
	s := &Stream[T]{id: id}
	s.ev.initPending()
	return s, &StreamWriter[T]{s: s}
}

// ID returns the identifier the stream was created with.
func (s *Stream[T]) ID() string {
	return s.id
}

// Done returns a channel that is closed once the producer has closed the
// stream, that is when every value has been delivered into the buffer or the
// producer failed. Values may still be waiting to be read.
func (s *Stream[T]) Done() <-chan struct{} {
	return s.ev.done
}

// Next returns the next value. After the last value it returns io.EOF if the
// producer closed the stream normally, or the producer's error otherwise, on
// this and every later call. Next blocks until a value or the end is
// available or ctx ends; in the last case it returns ctx.Err() and the stream
// is unaffected. A buffered value is returned even if ctx has ended.
func (s *Stream[T]) Next(ctx context.Context) (T, error) {
	var zero T
	var unblock func()
	defer func() {
		if unblock != nil {
			unblock()
		}
	}()
	for {
		s.mu.Lock()
		if s.head < len(s.buf) {
			v := s.buf[s.head]
			s.buf[s.head] = zero
			s.head++
			s.read++
			switch {
			case s.head == len(s.buf):
				s.buf, s.head = s.buf[:0], 0
			case s.head >= compactAt && 2*s.head >= len(s.buf):
				n := copy(s.buf, s.buf[s.head:])
				clear(s.buf[n:])
				s.buf, s.head = s.buf[:n], 0
			}
			var fire func(uint64, error)
			if s.notify != nil && s.read >= s.notifyAt {
				fire, s.notify = s.notify, nil
			}
			read := s.read
			s.mu.Unlock()
			if fire != nil {
				fire(read, nil)
			}
			return v, nil
		}
		if s.closed {
			err := s.end
			s.mu.Unlock()
			return zero, err
		}
		if s.wake == nil {
			s.wake = make(chan struct{})
		}
		wake := s.wake
		s.mu.Unlock()
		if unblock == nil {
			if unblock = blocking(ctx); unblock == nil {
				unblock = func() {}
			}
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
}

// All returns an iterator over the remaining values, for use with range. It
// yields each value with a nil error and stops after the last one. If the
// stream ends with an error other than io.EOF, or ctx ends, it yields the
// zero value and that error once, then stops. Breaking out of the loop leaves
// the unread values in the stream.
func (s *Stream[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			v, err := s.Next(ctx)
			if err != nil {
				if err != io.EOF {
					yield(v, err)
				}
				return
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}

// ReadCount returns the number of values Next (and All) have returned so far.
func (s *Stream[T]) ReadCount() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read
}

// Buffered returns the number of values received and not yet read.
func (s *Stream[T]) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf) - s.head
}

// completion implements completer.
func (s *Stream[T]) completion() *event {
	if s == nil {
		return nil
	}
	return &s.ev
}

// wakeLocked wakes the waiting readers; s.mu must be held.
func (s *Stream[T]) wakeLocked() {
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
}

// Send appends v to the stream. It never blocks on readers (the buffer is
// unbounded; flow control is up to the caller) and returns false, dropping
// v, if the stream is closed.
func (w *StreamWriter[T]) Send(v T) bool {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.buf = append(s.buf, v)
	s.wakeLocked()
	return true
}

// Close ends the stream: once the buffered values are read, Next returns
// io.EOF if err is nil, and err otherwise. Close closes the stream's Done
// channel. Only the first call has an effect; later ones return false.
func (w *StreamWriter[T]) Close(err error) bool {
	if err == nil {
		err = io.EOF
	}
	s := w.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.closed = true
	s.end = err
	s.wakeLocked()
	s.ev.fire()
	fire, read := s.notify, s.read
	s.notify = nil
	s.mu.Unlock()
	if fire != nil {
		fire(read, err)
	}
	return true
}

// ReadCount returns the number of values Next (and All) have returned so far, as
// [Stream.ReadCount].
func (w *StreamWriter[T]) ReadCount() uint64 { return w.s.ReadCount() }

// NotifyRead calls fn once, with the number of values read so far, as soon as Next has
// returned at least n values in all (end nil), or the stream is closed (end is io.EOF or the
// producer's error; read may then be below n). If either holds already, fn runs at once on
// the calling goroutine; otherwise it runs on the goroutine of the Next or Close that meets
// it. A later NotifyRead replaces an earlier one that has not fired yet, which is then never
// called. fn runs without the stream's lock held and must not block: a runtime bounding the
// values produced and not yet read uses it to tell the producer when to go on.
func (w *StreamWriter[T]) NotifyRead(n uint64, fn func(read uint64, end error)) {
	s := w.s
	s.mu.Lock()
	if s.closed || s.read >= n {
		read, end := s.read, error(nil)
		if s.closed {
			end = s.end
		}
		s.notify = nil
		s.mu.Unlock()
		fn(read, end)
		return
	}
	s.notify, s.notifyAt = fn, n
	s.mu.Unlock()
}

// Len returns the number of values sent and not yet read by Next.
func (w *StreamWriter[T]) Len() int {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf) - s.head
}
