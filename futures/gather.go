package futures

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// maxParallelLoads bounds the lazy values Gather loads at the same time.
const maxParallelLoads = 16

// Gather is ray.get on a list, or asyncio.gather: it waits for every future
// and returns their values in input order. The same future may be listed
// more than once.
//
// As soon as any future fails, Gather returns a nil slice and that error,
// even if futures listed before it are still pending: the first failure in
// time wins (among futures that have already failed when Gather is called,
// the first in input order). The error is wrapped with the future's ID, so
// [errors.Is] and [errors.As] still see the cause.
//
// Lazily resolved futures ([Promise.ResolveLazy]) are loaded once all futures
// are resolved, up to 16 at a time; the first load failure cancels the other
// loads and is returned wrapped like any other failure.
//
// Future references (decoded from a value) are resolved through the
// [Resolver] in ctx, each in a goroutine that Gather stops when it returns; a
// reference left pending by an early return stays pending.
//
// If ctx ends first, Gather returns a nil slice and ctx.Err() (not wrapped);
// the futures are not affected. An entry that is nil or a zero-value Future
// yields an error wrapping [ErrNilFuture]. Gather with no futures returns an
// empty, non-nil slice.
func Gather[T any](ctx context.Context, fs ...*Future[T]) ([]T, error) {
	pending := 0
	for i, f := range fs {
		if !f.completion().valid() {
			return nil, fmt.Errorf("%w: index %d", ErrNilFuture, i)
		}
		if !f.ev.isFired() {
			pending++
		} else if err := f.Err(); err != nil {
			return nil, gatherError(f, err)
		}
	}
	if pending > 0 {
		// References are resolved in goroutines (Track) that end when Gather returns, even
		// when it returns early on a failure or the end of ctx.
		tctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for _, f := range fs {
			Track(tctx, f)
		}
		if done := blocking(ctx); done != nil {
			defer done()
		}
		if err := gatherWait(ctx, fs, pending); err != nil {
			return nil, err
		}
	}

	out := make([]T, len(fs))
	var lazy []int
	for i, f := range fs {
		if f.lazy == nil {
			out[i] = f.val
			continue
		}
		if f.lazy.loaded.Load() {
			if f.lazy.err != nil {
				return nil, gatherError(f, f.lazy.err)
			}
			out[i] = f.lazy.val
			continue
		}
		lazy = append(lazy, i)
	}
	if len(lazy) > 0 {
		if err := gatherLoad(ctx, fs, lazy, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// gatherWait blocks until every future in fs is resolved, one of them fails,
// or ctx ends. pending bounds the number of unresolved entries.
func gatherWait[T any](ctx context.Context, fs []*Future[T], pending int) error {
	w := newWaiter(pending)
	defer func() {
		for _, f := range fs {
			f.ev.unregister(w)
		}
	}()
	remaining := 0
	var failed *Future[T]
	for i, f := range fs {
		if f.ev.register(w, i) {
			remaining++
		} else if failed == nil && f.Err() != nil {
			failed = f
		}
	}
	for failed == nil && remaining > 0 {
		select {
		case i := <-w.ch:
			remaining--
			if fs[i].Err() != nil {
				failed = fs[i]
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if failed != nil {
		return gatherError(failed, failed.Err())
	}
	return nil
}

// gatherLoad loads the lazy values fs[i] for i in idx into out, in parallel.
func gatherLoad[T any](ctx context.Context, fs []*Future[T], idx []int, out []T) error {
	if len(idx) == 1 {
		i := idx[0]
		v, err := fs[i].lazy.get(ctx)
		if err != nil {
			return loadError(ctx, fs[i], err)
		}
		out[i] = v
		return nil
	}

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(len(idx), maxParallelLoads) {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(idx) {
					return
				}
				i := idx[k]
				v, err := fs[i].lazy.get(lctx)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = loadError(ctx, fs[i], err)
						cancel()
					}
					mu.Unlock()
					return
				}
				out[i] = v
			}
		})
	}
	wg.Wait()
	return firstErr
}

// loadError returns ctx.Err() if err is due to the end of ctx, and err
// wrapped with the future's ID otherwise.
func loadError[T any](ctx context.Context, f *Future[T], err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return cerr
	}
	return gatherError(f, err)
}

// gatherError wraps the failure of f.
func gatherError[T any](f *Future[T], err error) error {
	return fmt.Errorf("futures: gather: future %q: %w", f.id, err)
}
