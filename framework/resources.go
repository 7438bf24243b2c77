// Resources: the worker's capacity (WithResources) and what the calls and actors it runs hold
// of it. Owner: the worker; route intake (routes.go) acquires before a call is queued, the
// runner frees when the call's handler returns, an actor keeps its creation call's grant
// until the instance ends here. The counts live in this process only: nothing shared can go
// stale, and a worker that dies takes its counts with it.

package framework

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/jetray/jetray/internal/wire"
)

// resNeed is an amount per resource, in thousandths (wire.MilliUnits), above zero only.
type resNeed map[string]int64

// needOf converts a placement's resources to a resNeed; nil if it needs none.
func needOf(p wire.Placement) resNeed {
	var n resNeed
	for k, v := range p.Resources {
		if m := wire.MilliUnits(v); m > 0 {
			if n == nil {
				n = resNeed{}
			}
			n[k] = m
		}
	}
	return n
}

// resourcePool counts the resources in use on one worker against its capacity. Waiters are
// served strictly by priority, then in arrival order; a waiter that does not fit holds back
// the waiters after it that need any of the same resources (no overtaking, so a big need is
// not starved by small ones), while waiters for other resources go ahead.
type resourcePool struct {
	mu       sync.Mutex
	capacity resNeed
	used     resNeed
	waiters  []*resWaiter  // by priority (high first), then arrival
	changed  chan struct{} // closed and replaced whenever resources are freed
}

type resWaiter struct {
	need  resNeed
	prio  wire.Priority
	ready chan struct{} // closed once granted
}

// grant is what one call holds. free returns it once, however often it is called.
type grant struct {
	pool *resourcePool
	need resNeed
	once sync.Once
	kept atomic.Bool // an actor keeps it past its creation call (keepResources)
}

func (g *grant) free() { g.once.Do(func() { g.pool.free(g.need) }) }

func newResourcePool(capacity map[string]float64) *resourcePool {
	return &resourcePool{capacity: needOf(wire.Placement{Resources: capacity}), used: resNeed{},
		changed: make(chan struct{})}
}

// fits reports whether need fits in what is free. Called with mu held.
func (p *resourcePool) fits(need resNeed) bool {
	for k, v := range need {
		if p.used[k]+v > p.capacity[k] {
			return false
		}
	}
	return true
}

// queuedFor reports whether a waiter needs any resource of need. Called with mu held.
func (p *resourcePool) queuedFor(need resNeed) bool {
	for _, w := range p.waiters {
		for k := range w.need {
			if _, ok := need[k]; ok {
				return true
			}
		}
	}
	return false
}

// dispatch grants waiters in order while they fit, letting a waiter pass one that does not
// fit only if they share no resource. Called with mu held.
func (p *resourcePool) dispatch() {
	var blocked map[string]bool
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		free := true
		for k := range w.need {
			if blocked[k] {
				free = false
				break
			}
		}
		if free && p.fits(w.need) {
			for k, v := range w.need {
				p.used[k] += v
			}
			close(w.ready)
			continue
		}
		if blocked == nil {
			blocked = map[string]bool{}
		}
		for k := range w.need {
			blocked[k] = true
		}
		kept = append(kept, w)
	}
	clear(p.waiters[len(kept):])
	p.waiters = kept
}

// acquire waits until need is granted, served by priority, or until stop closes (false).
func (p *resourcePool) acquire(stop <-chan struct{}, need resNeed, prio wire.Priority) (*grant, bool) {
	w := &resWaiter{need: need, prio: prio, ready: make(chan struct{})}
	p.mu.Lock()
	i := len(p.waiters)
	for i > 0 && p.waiters[i-1].prio < prio {
		i--
	}
	p.waiters = append(p.waiters, nil)
	copy(p.waiters[i+1:], p.waiters[i:])
	p.waiters[i] = w
	p.dispatch()
	p.mu.Unlock()
	g := &grant{pool: p, need: need}
	select {
	case <-w.ready:
		return g, true
	case <-stop:
	}
	p.mu.Lock()
	granted := false
	select {
	case <-w.ready:
		granted = true
	default:
		for j, o := range p.waiters {
			if o == w {
				p.waiters = append(p.waiters[:j], p.waiters[j+1:]...)
				break
			}
		}
		p.dispatch() // it may have held others back
	}
	p.mu.Unlock()
	if granted { // granted meanwhile: give it back
		g.free()
	}
	return nil, false
}

// free returns need to the pool and grants waiters that fit now.
func (p *resourcePool) free(need resNeed) {
	p.mu.Lock()
	for k, v := range need {
		p.used[k] -= v
	}
	p.dispatch()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// waitRoom waits until need fits in what is free and no waiter is queued for any of its
// resources: the moment to take one more call that needs it. It returns false when stop
// closes first.
func (p *resourcePool) waitRoom(stop <-chan struct{}, need resNeed) bool {
	for {
		p.mu.Lock()
		ok := p.fits(need) && !p.queuedFor(need)
		ch := p.changed
		p.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-stop:
			return false
		}
	}
}

// inUse returns the amount of each resource held now, for the worker's lease; nil if none.
func (p *resourcePool) inUse() map[string]float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out map[string]float64
	for k, v := range p.used {
		if v > 0 {
			if out == nil {
				out = map[string]float64{}
			}
			out[k] = float64(v) / 1000
		}
	}
	return out
}

// grantKey is the ctx key of the grant of the call a handler runs.
type grantKey struct{}

// keepResources keeps the resources the call running with ctx holds past the call's return
// and returns the func that frees them (once); a runtime calls it when what the call made
// lives on, as an actor does on its worker. For a call that holds none it returns nil.
func keepResources(ctx context.Context) func() {
	g, _ := ctx.Value(grantKey{}).(*grant)
	if g == nil {
		return nil
	}
	g.kept.Store(true)
	return g.free
}
