package futures

import (
	"runtime"
	"sync/atomic"
)

// unhandledHook is the function OnUnhandledError set, or nil.
var unhandledHook atomic.Pointer[func(id string, err error)]

// OnUnhandledError sets fn to be called with the ID and error of every future that failed and
// became unreachable without its error having been read, as Ray logs "Unhandled error" for an
// object reference holding an error that nobody got. Reading the error means [Future.Await],
// [Future.Err], [Gather] (which reads every failed entry it meets), or passing the future to
// another call as a reference (its JSON form); [Wait] and Done do not read it.
//
// fn runs on the Go runtime's cleanup goroutine after a garbage collection found the future
// unreachable: some time after it is dropped, never before, and not at all if the program
// exits first. It must return quickly (start a goroutine for slow work) and must not block.
// OnUnhandledError returns the handler it replaces; nil (the default) disables the check.
//
// Cost: none for futures that succeed or that failed while no handler was set; one
// runtime.AddCleanup (about a hundred nanoseconds and a small allocation) for each future that
// fails while a handler is set.
func OnUnhandledError(fn func(id string, err error)) (previous func(id string, err error)) {
	var old *func(string, error)
	if fn == nil {
		old = unhandledHook.Swap(nil)
	} else {
		old = unhandledHook.Swap(&fn)
	}
	if old == nil {
		return nil
	}
	return *old
}

// unhandled is what a failed future's cleanup needs; it must not point to the future.
type unhandled struct {
	id   string
	err  error
	read *atomic.Bool
}

// watchUnhandled arranges for the handler, if one is set, to hear of f's error unless it is
// read before f is collected. Called once, before f's completion is published.
func (f *Future[T]) watchUnhandled(err error) {
	if err == nil || unhandledHook.Load() == nil {
		return
	}
	read := new(atomic.Bool)
	if !f.read.CompareAndSwap(nil, read) {
		return // handed on as a reference before it failed: its reader handles it
	}
	runtime.AddCleanup(f, reportUnhandled, unhandled{id: f.id, err: err, read: read})
}

// markRead records that f's outcome was read by its user. It does not allocate.
func (f *Future[T]) markRead() {
	if r := f.read.Load(); r != nil {
		r.Store(true)
	}
}

// markShared records that f was handed on (as a reference), at any time: its outcome is then
// someone else's to read.
func (f *Future[T]) markShared() {
	read := new(atomic.Bool)
	read.Store(true)
	if !f.read.CompareAndSwap(nil, read) {
		f.read.Load().Store(true)
	}
}

func reportUnhandled(u unhandled) {
	if u.read.Load() {
		return
	}
	if fn := unhandledHook.Load(); fn != nil {
		(*fn)(u.id, u.err)
	}
}
