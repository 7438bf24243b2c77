package futures

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/bits"
	"reflect"
	"slices"
	"sync"
)

// Wait is ray.wait: it blocks until numReturns of fs are done (their Done
// channel is closed) or ctx ends, and splits fs into ready and notReady.
// It never reads values, so lazily resolved futures are not loaded.
//
// On success ready holds exactly numReturns entries (the first done entries
// in input order), notReady holds the others, both keep the input order, and
// err is nil. Entries that are already done when Wait is called are counted
// without blocking.
//
// If ctx ends before numReturns entries are done, Wait returns the entries
// done so far as ready (fewer than numReturns), the rest as notReady, and
// ctx.Err(). The underlying work is not affected. As long as numReturns
// entries are done, Wait succeeds even if ctx has ended.
//
// An empty fs is not an error, as in Ray (ray.wait([]) returns two empty
// lists): Wait returns two empty, non-nil slices and a nil error at once,
// whatever numReturns and ctx are.
//
// Wait returns at once, with nil slices, an error wrapping
// [ErrInvalidNumReturns] if numReturns < 1 or numReturns > len(fs), one
// wrapping [ErrDuplicateFuture] if two entries have the same ID, and one
// wrapping [ErrNilFuture] if an entry is nil or a zero-value Future or
// Stream.
//
// The returned slices share one new backing array; fs is not modified.
// Futures and Streams of this package are watched without extra goroutines;
// other Awaitable implementations cost one goroutine each while Wait blocks,
// all of which have exited when Wait returns.
func Wait[F Awaitable](ctx context.Context, fs []F, numReturns int) (ready, notReady []F, err error) {
	n := len(fs)
	if n == 0 {
		return []F{}, []F{}, nil
	}
	if numReturns < 1 || numReturns > n {
		return nil, nil, fmt.Errorf("%w: %d with %d futures", ErrInvalidNumReturns, numReturns, n)
	}
	done := 0
	for i, f := range fs {
		if err := checkAwaitable(f); err != nil {
			return nil, nil, fmt.Errorf("%w: index %d", err, i)
		}
		if isDone(f) {
			done++
		}
	}
	if err := checkDuplicates(fs); err != nil {
		return nil, nil, err
	}
	if done < numReturns && ctx.Err() == nil {
		waitBlocking(ctx, fs, numReturns, n-done)
	}

	// Partition in one pass: ready entries grow from the front of buf,
	// not-ready ones from the back (reversed afterwards).
	buf := make([]F, n)
	r, back := 0, n
	for _, f := range fs {
		if r < numReturns && isDone(f) {
			buf[r] = f
			r++
		} else {
			back--
			buf[back] = f
		}
	}
	notReady = buf[r:]
	slices.Reverse(notReady)
	ready = buf[:r:r]
	if r < numReturns {
		// Only reachable when ctx has ended: done is monotonic and the
		// blocking phase returns early only on ctx.
		err = ctx.Err()
	}
	return ready, notReady, err
}

// waitBlocking blocks until numReturns entries of fs are done or ctx ends.
// maxPending bounds the number of entries that are not yet done.
func waitBlocking[F Awaitable](ctx context.Context, fs []F, numReturns, maxPending int) {
	w := newWaiter(maxPending)
	var (
		stop chan struct{}
		wg   sync.WaitGroup
	)
	have := 0
	for i, f := range fs {
		if c, ok := any(f).(completer); ok {
			if !c.completion().register(w, i) {
				have++
			}
			continue
		}
		d := f.Done()
		select {
		case <-d:
			have++
			continue
		default:
		}
		if stop == nil {
			stop = make(chan struct{})
		}
		wg.Go(func() {
			select {
			case <-d:
				w.ch <- i // never blocks: one slot per pending entry
			case <-stop:
			}
		})
	}
	if have < numReturns {
		if done := blocking(ctx); done != nil {
			defer done()
		}
	}
loop:
	for have < numReturns {
		select {
		case <-w.ch:
			have++
		case <-ctx.Done():
			break loop
		}
	}
	for _, f := range fs {
		if c, ok := any(f).(completer); ok {
			c.completion().unregister(w)
		}
	}
	if stop != nil {
		close(stop)
		wg.Wait()
	}
}

// isDone reports, without blocking, whether f is done.
func isDone[F Awaitable](f F) bool {
	if c, ok := any(f).(completer); ok {
		return c.completion().isFired()
	}
	select {
	case <-f.Done():
		return true
	default:
		return false
	}
}

// checkAwaitable rejects nil entries and zero-value futures and streams.
func checkAwaitable[F Awaitable](f F) error {
	a := any(f)
	if c, ok := a.(completer); ok {
		if !c.completion().valid() {
			return ErrNilFuture
		}
		return nil
	}
	if a == nil {
		return ErrNilFuture
	}
	switch v := reflect.ValueOf(a); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		if v.IsNil() {
			return ErrNilFuture
		}
	}
	if f.Done() == nil {
		return ErrNilFuture
	}
	return nil
}

// smallDupCheck is the largest input checked for duplicates pairwise.
const smallDupCheck = 16

// checkDuplicates returns an error wrapping ErrDuplicateFuture if two entries
// of fs have the same ID.
func checkDuplicates[F Awaitable](fs []F) error {
	if len(fs) <= smallDupCheck {
		for i := 1; i < len(fs); i++ {
			id := fs[i].ID()
			for j := range i {
				if fs[j].ID() == id {
					return fmt.Errorf("%w: %q at indexes %d and %d", ErrDuplicateFuture, id, j, i)
				}
			}
		}
		return nil
	}
	t := newIDTable(len(fs))
	defer t.release()
	for i, f := range fs {
		id := f.ID()
		if j, dup := insert(t, fs, id, i); dup {
			return fmt.Errorf("%w: %q at indexes %d and %d", ErrDuplicateFuture, id, j, i)
		}
	}
	return nil
}

// idTable is an open-addressing hash set of the IDs of a slice of
// Awaitables, recycled through idTablePool. It is faster than a map for the
// one-shot duplicate check of Wait.
type idTable struct {
	seed  maphash.Seed
	slots []idSlot // len is a power of two
}

// idSlot records the hash of an ID and the index of its entry plus one
// (0 marks an empty slot).
type idSlot struct {
	hash uint64
	idx  int
}

// maxPooledSlots bounds the tables kept for reuse.
const maxPooledSlots = 1 << 16

var idTablePool = sync.Pool{New: func() any { return &idTable{seed: maphash.MakeSeed()} }}

// newIDTable returns an empty table with room for n IDs.
func newIDTable(n int) *idTable {
	t := idTablePool.Get().(*idTable)
	size := 1 << bits.Len(uint(2*n-1)) // load factor at most 1/2
	if cap(t.slots) < size {
		t.slots = make([]idSlot, size)
	} else {
		t.slots = t.slots[:size]
		clear(t.slots)
	}
	return t
}

// release returns t to the pool.
func (t *idTable) release() {
	if cap(t.slots) <= maxPooledSlots {
		idTablePool.Put(t)
	}
}

// insert adds id, the ID of fs[i]. If an earlier entry has the same ID it
// returns that entry's index and true instead.
func insert[F Awaitable](t *idTable, fs []F, id string, i int) (int, bool) {
	h := maphash.String(t.seed, id)
	mask := uint64(len(t.slots) - 1)
	for j := h & mask; ; j = (j + 1) & mask {
		s := &t.slots[j]
		if s.idx == 0 {
			*s = idSlot{hash: h, idx: i + 1}
			return 0, false
		}
		if s.hash == h && fs[s.idx-1].ID() == id {
			return s.idx - 1, true
		}
	}
}
