package actors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/jetray/jetray/futures"
)

// ErrPoolEmpty is returned by Pool.GetNext and Pool.GetNextUnordered when the pool has no call
// in flight and none queued (Ray's ActorPool raises StopIteration).
var ErrPoolEmpty = errors.New("jetray: actor pool has no results to get")

// ErrPoolMember is returned by Pool.Push for an actor that already belongs to the pool.
var ErrPoolMember = errors.New("jetray: actor already belongs to the pool")

// Pool is Ray's ray.util.ActorPool: it spreads calls over a fixed set of actors, each actor
// running at most one of the pool's calls at a time, and hands results back in submission
// order (GetNext, Map) or as they finish (GetNextUnordered, MapUnordered).
//
// An actor is busy from the moment a call is sent to it until its result is taken with
// GetNext or GetNextUnordered, as in Ray: results not taken keep their actors busy. Submit
// with no idle actor queues the call in the pool (in memory, unbounded, as Ray's
// pending_submits) and sends it when a result is taken; Map and MapUnordered never queue: they
// submit the next value only when an actor is free, so at most Size() calls are in flight and
// at most Size() results are held, whatever the length of the input (backpressure).
//
// A Pool is safe for concurrent use; results are handed out once each. The zero Pool is not
// usable: make one with NewPool.
type Pool[A, In, Out any] struct {
	call func(context.Context, *Handle[A], In) *futures.Future[Out]

	getMu sync.Mutex // serialises GetNext and GetNextUnordered

	mu      sync.Mutex
	idle    []*Handle[A]
	members map[*Handle[A]]bool
	queued  []queuedCall[In]
	flight  []poolCall[A, Out] // in submission order
	next    uint64             // index of the next submission
}

// queuedCall is a Submit waiting for an idle actor.
type queuedCall[In any] struct {
	ctx context.Context
	in  In
	idx uint64
}

// poolCall is a call sent to one of the pool's actors whose result was not taken yet.
type poolCall[A, Out any] struct {
	idx   uint64
	actor *Handle[A]
	f     *futures.Future[Out]
}

// NewPool returns a pool over handles that makes each call with call, usually a method's
// Remote (NewPool(Double.Remote, a, b, c)) or a closure choosing the method. Handles are used
// in the order given; a handle given twice is used once. Every handle starts idle.
func NewPool[A, In, Out any](call func(context.Context, *Handle[A], In) *futures.Future[Out], handles ...*Handle[A]) *Pool[A, In, Out] {
	p := &Pool[A, In, Out]{call: call, members: make(map[*Handle[A]]bool, len(handles))}
	for _, h := range handles {
		if h != nil && !p.members[h] {
			p.members[h] = true
			p.idle = append(p.idle, h)
		}
	}
	return p
}

// Size returns the number of actors in the pool, busy or idle.
func (p *Pool[A, In, Out]) Size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.members)
}

// Submit sends in to an idle actor with the pool's call, or queues it until a result is taken
// if every actor is busy (Ray's ActorPool.submit). ctx is the submission's context: a call
// sent later from the queue is submitted with it.
func (p *Pool[A, In, Out]) Submit(ctx context.Context, in In) {
	p.mu.Lock()
	defer p.mu.Unlock()
	idx := p.next
	p.next++
	if len(p.idle) == 0 {
		p.queued = append(p.queued, queuedCall[In]{ctx: ctx, in: in, idx: idx})
		return
	}
	h := p.idle[0]
	p.idle = p.idle[1:]
	p.send(ctx, h, in, idx)
}

// send makes call idx on h and records it in flight, in submission order. Called with p.mu
// held, so that no one sees an actor neither idle nor in flight (Remote returns at once: it
// only waits when the client's pending publishes are at their limit).
func (p *Pool[A, In, Out]) send(ctx context.Context, h *Handle[A], in In, idx uint64) {
	p.flight = append(p.flight, poolCall[A, Out]{idx: idx, actor: h, f: p.call(ctx, h, in)})
	slices.SortStableFunc(p.flight, func(a, b poolCall[A, Out]) int { return cmp.Compare(a.idx, b.idx) })
}

// HasNext reports whether a result can be taken: a call is in flight or queued (Ray's
// has_next).
func (p *Pool[A, In, Out]) HasNext() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.flight)+len(p.queued) > 0
}

// HasFree reports whether an actor is idle and no call is queued, so that Submit sends at once
// (Ray's has_free).
func (p *Pool[A, In, Out]) HasFree() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle) > 0 && len(p.queued) == 0
}

// GetNext waits for the result of the oldest call whose result was not taken yet and returns
// it (Ray's get_next): its value, or the call's error. Either way the actor becomes idle and
// takes the next queued call. If ctx ends first it returns ctx's error and the result stays to
// be taken later. With nothing in flight or queued it returns ErrPoolEmpty.
func (p *Pool[A, In, Out]) GetNext(ctx context.Context) (Out, error) {
	p.getMu.Lock()
	defer p.getMu.Unlock()
	var zero Out
	p.mu.Lock()
	if len(p.flight) == 0 {
		empty := len(p.queued) == 0
		p.mu.Unlock()
		if empty {
			return zero, ErrPoolEmpty
		}
		return zero, fmt.Errorf("jetray: actor pool has calls queued and no actor: %w", ErrPoolEmpty)
	}
	pc := p.flight[0]
	p.mu.Unlock()
	select {
	case <-pc.f.Done():
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	p.take(pc.idx)
	return pc.f.Await(ctx)
}

// GetNextUnordered waits for any call in flight to finish and returns its result, the one
// finished first in submission order when several are (Ray's get_next_unordered). Otherwise
// as GetNext.
func (p *Pool[A, In, Out]) GetNextUnordered(ctx context.Context) (Out, error) {
	p.getMu.Lock()
	defer p.getMu.Unlock()
	var zero Out
	p.mu.Lock()
	fs := make([]*futures.Future[Out], len(p.flight))
	idx := make(map[*futures.Future[Out]]uint64, len(p.flight))
	for i, pc := range p.flight {
		fs[i], idx[pc.f] = pc.f, pc.idx
	}
	empty := len(p.queued) == 0
	p.mu.Unlock()
	if len(fs) == 0 {
		if empty {
			return zero, ErrPoolEmpty
		}
		return zero, fmt.Errorf("jetray: actor pool has calls queued and no actor: %w", ErrPoolEmpty)
	}
	ready, _, err := futures.Wait(ctx, fs, 1)
	if err != nil {
		return zero, err
	}
	f := ready[0]
	p.take(idx[f])
	return f.Await(ctx)
}

// take removes call idx from the calls in flight and makes its actor idle, which sends the
// oldest queued call, if any, to it.
func (p *Pool[A, In, Out]) take(idx uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var h *Handle[A]
	for i, pc := range p.flight {
		if pc.idx == idx {
			h = pc.actor
			p.flight = slices.Delete(p.flight, i, i+1)
			break
		}
	}
	if h != nil && p.members[h] {
		p.release(h)
	}
}

// release makes h idle, or sends it the oldest queued call. Called with p.mu held.
func (p *Pool[A, In, Out]) release(h *Handle[A]) {
	if len(p.queued) == 0 {
		p.idle = append(p.idle, h)
		return
	}
	q := p.queued[0]
	p.queued = p.queued[1:]
	p.send(q.ctx, h, q.in, q.idx)
}

// Push adds an actor to the pool, idle (it takes a queued call at once if there is one). It
// returns ErrPoolMember if the actor already belongs to the pool, busy or idle (Ray raises
// ValueError).
func (p *Pool[A, In, Out]) Push(h *Handle[A]) error {
	if h == nil {
		return errors.New("jetray: actor pool: nil handle")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.members[h] {
		return fmt.Errorf("%w: %s", ErrPoolMember, h.ID())
	}
	p.members[h] = true
	p.release(h)
	return nil
}

// PopIdle removes an idle actor from the pool and returns it, or nil if none is idle or a call
// is queued (Ray's pop_idle). The actor is not killed.
func (p *Pool[A, In, Out]) PopIdle() *Handle[A] {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) == 0 || len(p.queued) > 0 {
		return nil
	}
	h := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	delete(p.members, h)
	return h
}

// Map calls the pool's function on every value of ins and yields the results in the order of
// ins (Ray's ActorPool.map). It first takes every result still pending from earlier Submits
// and drops them, as Ray does. It submits a value only when an actor is free, so at most
// Size() calls are in flight at once, and it stops reading ins when the loop breaks or ctx
// ends. A call's error is yielded with its zero value and the loop goes on; ctx's error ends
// it.
func (p *Pool[A, In, Out]) Map(ctx context.Context, ins iter.Seq[In]) iter.Seq2[Out, error] {
	return p.mapWith(ctx, ins, p.GetNext)
}

// MapUnordered is Map yielding each result as soon as it is ready instead of in input order
// (Ray's map_unordered).
func (p *Pool[A, In, Out]) MapUnordered(ctx context.Context, ins iter.Seq[In]) iter.Seq2[Out, error] {
	return p.mapWith(ctx, ins, p.GetNextUnordered)
}

func (p *Pool[A, In, Out]) mapWith(ctx context.Context, ins iter.Seq[In], get func(context.Context) (Out, error)) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) {
		for p.HasNext() {
			if _, err := p.GetNextUnordered(ctx); ctx.Err() != nil || errors.Is(err, ErrPoolEmpty) {
				if ctx.Err() != nil {
					var zero Out
					yield(zero, ctx.Err())
				}
				return
			}
		}
		if p.Size() == 0 {
			var zero Out
			yield(zero, errors.New("jetray: actor pool has no actors"))
			return
		}
		for in := range ins {
			for !p.HasFree() {
				v, err := get(ctx)
				if ctx.Err() != nil || errors.Is(err, ErrPoolEmpty) { // ended, or every actor popped
					var zero Out
					yield(zero, cmp.Or(ctx.Err(), err))
					return
				}
				if !yield(v, err) {
					return
				}
			}
			p.Submit(ctx, in)
		}
		for p.HasNext() {
			v, err := get(ctx)
			if ctx.Err() != nil || errors.Is(err, ErrPoolEmpty) {
				var zero Out
				yield(zero, cmp.Or(ctx.Err(), err))
				return
			}
			if !yield(v, err) {
				return
			}
		}
	}
}
