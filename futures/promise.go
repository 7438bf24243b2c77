package futures

import (
	"context"
	"errors"
)

// Promise is the write side of a [Future]: the runtime that performs the
// work keeps the Promise and hands out its Future. The first call among
// Resolve, Reject and ResolveLazy wins; later calls return false and have no
// effect. All methods are safe for concurrent use and never panic.
type Promise[T any] struct {
	f Future[T]
}

// NewPromise returns a pending promise whose future has the given ID.
func NewPromise[T any](id string) *Promise[T] {
	p := &Promise[T]{}
	p.f.id = id
	p.f.ev.initPending()
	return p
}

// Future returns the read side of p. Every call returns the same *Future.
func (p *Promise[T]) Future() *Future[T] {
	return &p.f
}

// Resolve resolves the future with v. It returns false if the future was
// already resolved.
func (p *Promise[T]) Resolve(v T) bool {
	return p.f.complete(v, nil, nil)
}

// Reject fails the future with err, which Await then returns unchanged. A
// nil err is replaced by a non-nil "futures: nil error". Reject returns false
// if the future was already resolved.
func (p *Promise[T]) Reject(err error) bool {
	if err == nil {
		err = errNilError
	}
	var zero T
	return p.f.complete(zero, err, nil)
}

// errNilLoad is the error of a future resolved with a nil load function.
var errNilLoad = errors.New("futures: nil load function")

// ResolveLazy resolves the future as done but defers producing its value to
// load, which is typically a download from a remote object store: Done is
// closed and Wait counts the future as ready without calling load.
//
// The first Await calls load with Await's context; concurrent Awaits share
// that call, and its outcome (value or error) is cached for every later
// Await. If load returns an error while its context has ended, the outcome is
// not cached and a later Await calls load again. If load panics, the panic
// propagates to the Await that called it and nothing is cached. A nil load
// makes every Await fail.
//
// ResolveLazy returns false if the future was already resolved.
func (p *Promise[T]) ResolveLazy(load func(ctx context.Context) (T, error)) bool {
	var zero T
	if load == nil {
		return p.f.complete(zero, errNilLoad, nil)
	}
	return p.f.complete(zero, nil, &lazyValue[T]{load: load})
}

// Ready returns a future with the given ID that is already resolved with v.
func Ready[T any](id string, v T) *Future[T] {
	f := &Future[T]{id: id, val: v}
	f.claimed.Store(true)
	f.ev.initFired()
	return f
}

// Failed returns a future with the given ID that has already failed with
// err. A nil err is replaced by a non-nil "futures: nil error".
func Failed[T any](id string, err error) *Future[T] {
	if err == nil {
		err = errNilError
	}
	f := &Future[T]{id: id, err: err}
	f.claimed.Store(true)
	f.watchUnhandled(err)
	f.ev.initFired()
	return f
}
