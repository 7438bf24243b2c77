package framework

import (
	"sync"
	"time"
)

// background is a set of short-lived goroutines that belong to one owner (a Client or a
// Worker): the owner stops it when it closes and waits, with a deadline, for the goroutines
// still running. After stop, Go refuses new work.
type background struct {
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// Go runs fn on a goroutine of the set; it returns false (and runs nothing) once the set is
// stopped.
func (b *background) Go(fn func()) bool {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return false
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		fn()
	}()
	return true
}

// stop refuses new goroutines and waits up to d for the running ones; false if some were
// still running at the deadline.
func (b *background) stop(d time.Duration) bool {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// reopen lets the set take goroutines again (a Worker that runs again).
func (b *background) reopen() {
	b.mu.Lock()
	b.stopped = false
	b.mu.Unlock()
}
