// Package lease holds a worker's lease on what it owns, as the worker's liveness loop (package
// framework) writes it and the runtimes built on the worker (the actor host) read it on every
// call.
//
// Invariant: only the liveness loop of the worker that made a Lease calls Set, Clear and
// SetTTL; anyone may read it concurrently, lock-free.
package lease

import (
	"sync/atomic"
	"time"
)

// Lease is a worker's lease: a key in the workers bucket that the worker renews by
// compare-and-swap while it runs, and the monotonic instant until which the worker may still
// act on it. The zero value holds no lease and reports the default TTL.
type Lease struct {
	cur        atomic.Pointer[state]
	ttl        atomic.Int64 // bucket TTL in nanoseconds; 0 until read
	defaultTTL time.Duration
}

type state struct {
	key   string
	until time.Time // monotonic: the lease is valid before this instant
}

// New returns an empty lease whose TTL reads as defaultTTL until SetTTL is called.
func New(defaultTTL time.Duration) *Lease { return &Lease{defaultTTL: defaultTTL} }

// Set records that key was renewed and may be acted on until until (a monotonic instant:
// the renewal's send time plus the TTL minus a safety margin).
func (l *Lease) Set(key string, until time.Time) { l.cur.Store(&state{key: key, until: until}) }

// Clear records that the worker holds no lease (it expired or the worker stopped).
func (l *Lease) Clear() { l.cur.Store(nil) }

// SetTTL records the TTL of the bucket the lease lives in.
func (l *Lease) SetTTL(d time.Duration) { l.ttl.Store(int64(d)) }

// Key returns the current lease key, "" while the worker holds none.
func (l *Lease) Key() string {
	if s := l.cur.Load(); s != nil {
		return s.key
	}
	return ""
}

// Valid reports whether the current lease was renewed less than TTL minus a safety margin
// ago, by the worker's monotonic clock: the broker expires the key no earlier than that, so a
// worker that stops acting when Valid turns false stops before anyone may judge it dead.
func (l *Lease) Valid() bool {
	_, ok := l.Held()
	return ok
}

// Held returns the current key and whether it is valid, read together.
func (l *Lease) Held() (key string, valid bool) {
	s := l.cur.Load()
	if s == nil {
		return "", false
	}
	return s.key, s.key != "" && time.Now().Before(s.until)
}

// TTL returns the lease period: the TTL of the lease's bucket once SetTTL was called, the
// default given to New before that.
func (l *Lease) TTL() time.Duration {
	if d := time.Duration(l.ttl.Load()); d > 0 {
		return d
	}
	return l.defaultTTL
}
