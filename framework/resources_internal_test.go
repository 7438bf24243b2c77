package framework

import (
	"testing"
	"time"

	"github.com/jetray/jetray/internal/wire"
)

// acquireAsync starts an acquire and returns the channel its grant arrives on.
func acquireAsync(p *resourcePool, stop <-chan struct{}, need resNeed, prio wire.Priority) <-chan *grant {
	ch := make(chan *grant, 1)
	go func() {
		g, _ := p.acquire(stop, need, prio)
		ch <- g
	}()
	return ch
}

// waitQueued waits until the pool has n waiters.
func waitQueued(t *testing.T, p *resourcePool, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		got := len(p.waiters)
		p.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", got, n)
		}
		time.Sleep(time.Millisecond) // poll interval of a deadline loop (no testsupport here: import cycle)
	}
}

// mustGrant waits for a grant on ch.
func mustGrant(t *testing.T, ch <-chan *grant, what string) {
	t.Helper()
	select {
	case g := <-ch:
		if g == nil {
			t.Fatalf("%s: no grant", what)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still waiting", what)
	}
}

func granted(ch <-chan *grant) bool {
	select {
	case g := <-ch:
		return g != nil
	default:
		return false
	}
}

// TestResourcePoolOrder: grants never exceed capacity; waiters are served by priority, then
// in arrival order; a waiter that does not fit holds back later ones for the same resource
// (no overtaking) but not those for another resource; a stopped waiter leaves the queue.
func TestResourcePoolOrder(t *testing.T) {
	p := newResourcePool(map[string]float64{"gpu": 4, "mem": 1})
	stop := make(chan struct{})
	g1, ok := p.acquire(stop, resNeed{"gpu": 3000}, wire.PriorityNormal)
	if !ok {
		t.Fatal("first acquire")
	}
	big := acquireAsync(p, stop, resNeed{"gpu": 2000}, wire.PriorityNormal)
	waitQueued(t, p, 1)
	small := acquireAsync(p, stop, resNeed{"gpu": 1000}, wire.PriorityNormal)
	waitQueued(t, p, 2) // one GPU is free, but big came first
	if granted(small) {
		t.Fatal("a small need overtook a bigger one of the same priority")
	}
	// mem is free and nobody waits for it: granted past the GPU waiters.
	mustGrant(t, acquireAsync(p, stop, resNeed{"mem": 1000}, wire.PriorityLow), "a need for another resource")
	// A high need goes before both, and the free GPU is its.
	mustGrant(t, acquireAsync(p, stop, resNeed{"gpu": 1000}, wire.PriorityHigh), "high")
	if got := p.inUse(); got["gpu"] != 4 || got["mem"] != 1 {
		t.Fatalf("in use %v", got)
	}
	low := acquireAsync(p, stop, resNeed{"gpu": 1000}, wire.PriorityLow)
	waitQueued(t, p, 3)
	g1.free() // 3 GPUs free: big (2), then small (1); low waits
	mustGrant(t, big, "big")
	mustGrant(t, small, "small")
	waitQueued(t, p, 1)
	if granted(low) {
		t.Fatal("low granted past the capacity")
	}
	g1.free() // freeing twice returns nothing more
	if got := p.inUse(); got["gpu"] != 4 {
		t.Fatalf("in use after a double free %v", got)
	}
	stopLate := make(chan struct{})
	late := acquireAsync(p, stopLate, resNeed{"gpu": 1000}, wire.PriorityLow)
	waitQueued(t, p, 2)
	close(stopLate)
	if g := <-late; g != nil {
		t.Fatal("a stopped acquire returned a grant")
	}
	waitQueued(t, p, 1)
	close(stop)
	if g := <-low; g != nil {
		t.Fatal("a stopped acquire returned a grant")
	}
	waitQueued(t, p, 0)
}

// TestResourcePoolWaitRoom: waitRoom returns once a need fits and nobody waits for its
// resources, and false when stopped.
func TestResourcePoolWaitRoom(t *testing.T) {
	p := newResourcePool(map[string]float64{"gpu": 1})
	never := make(chan struct{})
	g, _ := p.acquire(never, resNeed{"gpu": 1000}, wire.PriorityNormal)
	done := make(chan bool, 1)
	go func() { done <- p.waitRoom(never, resNeed{"gpu": 1000}) }()
	select {
	case <-done:
		t.Fatal("room while the GPU is held")
	case <-time.After(50 * time.Millisecond):
	}
	g.free()
	if !<-done {
		t.Fatal("waitRoom returned false")
	}
	stop := make(chan struct{})
	close(stop)
	if p.waitRoom(stop, resNeed{"gpu": 2000}) {
		t.Fatal("room for more than the capacity")
	}
}
