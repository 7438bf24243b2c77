package futures

import (
	"sync"
	"sync/atomic"
)

// event is the one-shot completion signal shared by Future and Stream.
//
// Besides the done channel (closed when the event fires), it keeps a list of
// registered waiters, so that Wait and Gather can watch many events at once
// without starting a goroutine per event. A waiter registered on an event
// receives the index it registered with exactly once, when the event fires.
type event struct {
	done  chan struct{}
	fired atomic.Bool // set, under mu, just before done is closed

	mu      sync.Mutex
	waiters []waitEntry
}

// waitEntry is one registration of a waiter on an event.
type waitEntry struct {
	w   *waiter
	idx int
}

// waiter collects the indices of the events it watches as they fire. Its
// channel is buffered with room for every registration, so firing an event
// never blocks, even after the waiter has stopped listening.
type waiter struct {
	ch chan int
}

// newWaiter returns a waiter with room for n registrations.
func newWaiter(n int) *waiter {
	return &waiter{ch: make(chan int, n)}
}

// completer is implemented by the types of this package that carry an event
// (Future and Stream). Wait uses it to avoid a goroutine per entry. A nil
// receiver returns nil.
type completer interface {
	completion() *event
}

// closedChan is shared by futures created already resolved.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// initPending prepares e to fire later.
func (e *event) initPending() {
	e.done = make(chan struct{})
}

// initFired marks e as already fired.
func (e *event) initFired() {
	e.done = closedChan
	e.fired.Store(true)
}

// valid reports whether e was initialised (false for zero values).
func (e *event) valid() bool {
	return e != nil && e.done != nil
}

// isFired reports whether e has fired, without blocking.
func (e *event) isFired() bool {
	return e.fired.Load()
}

// fire closes the done channel and notifies the registered waiters. It
// returns false if e had already fired.
func (e *event) fire() bool {
	e.mu.Lock()
	if e.fired.Load() {
		e.mu.Unlock()
		return false
	}
	e.fired.Store(true)
	close(e.done)
	ws := e.waiters
	e.waiters = nil
	e.mu.Unlock()
	for _, we := range ws {
		we.w.ch <- we.idx // never blocks: one slot per registration
	}
	return true
}

// register arranges for idx to be sent to w when e fires. It returns false,
// without registering, if e has already fired.
func (e *event) register(w *waiter, idx int) bool {
	if e.fired.Load() {
		return false
	}
	e.mu.Lock()
	if e.fired.Load() {
		e.mu.Unlock()
		return false
	}
	e.waiters = append(e.waiters, waitEntry{w: w, idx: idx})
	e.mu.Unlock()
	return true
}

// unregister removes every registration of w from e. It is a no-op if e has
// fired (firing drops all registrations).
func (e *event) unregister(w *waiter) {
	if e.fired.Load() {
		return
	}
	e.mu.Lock()
	for i := 0; i < len(e.waiters); {
		if e.waiters[i].w != w {
			i++
			continue
		}
		last := len(e.waiters) - 1
		e.waiters[i] = e.waiters[last]
		e.waiters[last] = waitEntry{}
		e.waiters = e.waiters[:last]
	}
	e.mu.Unlock()
}
