package futures

import (
	"context"
	"sync"
	"sync/atomic"
)

// lazyValue produces the value of a lazily resolved future on first use and
// caches it (see Promise.ResolveLazy).
type lazyValue[T any] struct {
	loaded atomic.Bool // val and err are final

	mu   sync.Mutex
	load func(context.Context) (T, error) // nil once loaded
	call chan struct{}                    // non-nil while a load runs; closed when it ends
	val  T
	err  error
}

// get returns the cached outcome, waits for a load in progress, or runs the
// load itself.
func (l *lazyValue[T]) get(ctx context.Context) (T, error) {
	var zero T
	for {
		if l.loaded.Load() {
			return l.val, l.err
		}
		l.mu.Lock()
		if l.loaded.Load() {
			l.mu.Unlock()
			continue
		}
		if c := l.call; c != nil {
			l.mu.Unlock()
			select {
			case <-c:
				continue // loaded, or failed on its context: look again
			case <-ctx.Done():
				return zero, ctx.Err()
			}
		}
		if err := ctx.Err(); err != nil {
			l.mu.Unlock()
			return zero, err
		}
		c := make(chan struct{})
		l.call = c
		load := l.load
		l.mu.Unlock()
		return l.run(ctx, load, c)
	}
}

// run calls load and publishes its outcome. On a panic or a failure caused by
// the end of ctx nothing is cached, so the next get loads again.
func (l *lazyValue[T]) run(ctx context.Context, load func(context.Context) (T, error), c chan struct{}) (v T, err error) {
	keep := false
	defer func() {
		l.mu.Lock()
		if keep {
			l.val, l.err = v, err
			l.load = nil
			l.loaded.Store(true)
		}
		l.call = nil
		close(c)
		l.mu.Unlock()
	}()
	v, err = load(ctx)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			var zero T
			return zero, cerr
		}
	}
	keep = true
	return v, err
}

// loadedErr returns the cached load error, or nil if no load has finished.
func (l *lazyValue[T]) loadedErr() error {
	if l.loaded.Load() {
		return l.err
	}
	return nil
}
