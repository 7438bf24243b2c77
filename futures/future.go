package futures

import (
	"context"
	"sync/atomic"
)

// Awaitable is anything [Wait] can wait on: an identified result with a
// channel that is closed once it completes. [*Future] and [*Stream]
// implement it.
type Awaitable interface {
	// ID identifies the result; Wait rejects two entries with the same ID.
	ID() string
	// Done returns a channel that is closed once the result is complete.
	Done() <-chan struct{}
}

// Future is a typed result that resolves exactly once, with a value or an
// error. It is the read side of a [Promise]; see also [Ready] and [Failed].
//
// A Future is safe for concurrent use. The zero value is not usable: obtain
// futures from [NewPromise], [Ready] or [Failed].
type Future[T any] struct {
	id      string
	ev      event
	claimed atomic.Bool // set by the first resolution

	// Written once before ev fires, read only after it has fired.
	val  T
	err  error
	lazy *lazyValue[T]
	ref  bool                        // decoded from a reference; resolved through a Resolver (ref.go)
	read atomic.Pointer[atomic.Bool] // true once the outcome was read or handed on; see OnUnhandledError
}

var (
	_ Awaitable = (*Future[int])(nil)
	_ completer = (*Future[int])(nil)
)

// ID returns the identifier the future was created with (possibly "").
func (f *Future[T]) ID() string {
	return f.id
}

// Done returns a channel that is closed once the future is resolved, with a
// value, an error, or a lazy value (see [Promise.ResolveLazy]). It never
// blocks and is intended for select statements. A future created by [Ready]
// or [Failed] returns an already-closed channel.
func (f *Future[T]) Done() <-chan struct{} {
	return f.ev.done
}

// Await blocks until the future is resolved or ctx ends, and returns the
// value or the error the future was resolved with (not wrapped).
//
// If ctx ends first, Await returns the zero value and ctx.Err(); the work
// that will resolve the future is not affected and the future can be awaited
// again. A future that is already resolved is returned without looking at ctx
// and without allocating.
//
// For a lazily resolved future ([Promise.ResolveLazy]) the first Await runs
// the load function with its ctx; concurrent Awaits share that call and later
// ones get the cached outcome. If the load fails while its ctx has ended,
// Await returns ctx.Err(), nothing is cached, and a later Await loads again.
//
// ctx must not be nil.
func (f *Future[T]) Await(ctx context.Context) (T, error) {
	if !f.ev.isFired() {
		if done := blocking(ctx); done != nil {
			defer done()
		}
		if f.ref {
			f.resolveRef(ctx)
		}
		select {
		case <-f.ev.done:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	if f.lazy != nil {
		return f.lazy.get(ctx)
	}
	f.markRead()
	return f.val, f.err
}

// Err returns the error the future failed with, without blocking. It returns
// nil while the future is pending and when it succeeded. For a lazily
// resolved future it returns nil until a load has finished with an error
// that was not caused by the end of its context.
func (f *Future[T]) Err() error {
	if !f.ev.isFired() {
		return nil
	}
	if f.lazy != nil {
		return f.lazy.loadedErr()
	}
	f.markRead()
	return f.err
}

// Resolved reports, without blocking, whether the future has been resolved
// (with a value, an error or a lazy value). It is equivalent to checking
// whether Done is closed.
func (f *Future[T]) Resolved() bool {
	return f.ev.isFired()
}

// completion implements completer.
func (f *Future[T]) completion() *event {
	if f == nil {
		return nil
	}
	return &f.ev
}

// complete resolves f once; it reports whether this call won.
func (f *Future[T]) complete(v T, err error, lazy *lazyValue[T]) bool {
	if !f.claimed.CompareAndSwap(false, true) {
		return false
	}
	f.val, f.err, f.lazy = v, err, lazy
	f.watchUnhandled(err)
	f.ev.fire()
	return true
}
