// Runners: the goroutines that run queued calls, one per slot of WithConcurrency, and the
// slot lending that lets a call blocked awaiting other work give its slot to another call.
// Owner: Worker.Run starts them after the intake and waits for them after the intake stops.

package framework

import (
	"sync"
)

// runCalls is a runner: it takes a slot token, then runs calls from the queues one at a time
// until the queues close or stop closes (a lent runner; nil for the regular ones). It keeps
// its token between calls, but gives it to a call that stops waiting (unblock) while it is
// idle, then takes another before it takes the next call. A call that blocks gives up the
// token it runs with and takes one back before it continues (block), so a runner holds a
// token whenever it runs a call that is not blocked.
//
// Priorities are strict: a runner that looks for its next call takes a queued high call if
// there is one, else a normal one, else a low one; only when all three are empty does it wait
// for whichever comes first. Once the queues are closed (shutdown) it takes what is left in
// each, which execute hands back, and returns when all three are empty.
func (w *Worker) runCalls(stop <-chan struct{}) {
	qs := runQueues{w.queueHigh, w.queue, w.queueLow}
	for {
		select {
		case w.slots <- struct{}{}:
		case <-stop:
			return
		}
	idle:
		for {
			d, ok := qs.poll()
			if !ok {
				if qs.done() {
					<-w.slots
					return
				}
				select {
				case d, ok = <-qs[0]:
					qs.closed(0, ok)
				case d, ok = <-qs[1]:
					qs.closed(1, ok)
				case d, ok = <-qs[2]:
					qs.closed(2, ok)
				case w.handoff <- struct{}{}: // the token now belongs to an unblocked call
					break idle
				case <-stop:
					<-w.slots
					return
				}
			}
			if !ok {
				continue // a queue closed: look again
			}
			d.slot = true
			w.execute(d)
			d.settle(w)
			d.freeGrant()
			select {
			case <-stop:
				<-w.slots
				return
			default:
			}
		}
	}
}

// runQueues are a runner's view of the worker's run queues, highest priority first; a queue
// found closed and empty is set to nil, which a select never takes.
type runQueues [3]chan *delivery

// poll takes a queued call without waiting, highest priority first: ok is false when none is
// queued or a queue was found closed (then it is nil from now on).
func (qs *runQueues) poll() (*delivery, bool) {
	for i, q := range qs {
		if q == nil {
			continue
		}
		select {
		case d, ok := <-q:
			qs.closed(i, ok)
			return d, ok
		default:
		}
	}
	return nil, false
}

// closed forgets queue i if a receive from it said it is closed (ok false).
func (qs *runQueues) closed(i int, ok bool) {
	if !ok {
		qs[i] = nil
	}
}

// done reports whether every queue is closed and empty.
func (qs *runQueues) done() bool { return qs[0] == nil && qs[1] == nil && qs[2] == nil }

// freeGrant frees the resources the call holds, unless an actor it made keeps them.
func (d *delivery) freeGrant() {
	if d.grant != nil && !d.grant.kept.Load() {
		d.grant.free()
	}
}

// acquire takes a slot token for a call that stopped waiting: a free one, or one an idle
// runner hands over; it waits while every token is held by a running call.
func (w *Worker) acquire() {
	select {
	case w.slots <- struct{}{}:
	case <-w.handoff:
	}
}

// block is the block hook (futures.WithBlockHook) of a call run in a task slot: called when
// the call starts to wait on other work, it gives the call's slot token up and starts a lent
// runner, which runs calls from the queue with a token (so tasks waiting on tasks cannot take
// every slot). The func it returns, called when the wait ends, stops the lent runner (after
// the call it is running, if any) and takes a token back, waiting while every token is held
// by a running call: a call that stopped waiting continues only with a slot. So the calls
// running, not counting those blocked, never exceed WithConcurrency, and a call blocked any
// number of times, or from several goroutines at once, has at most one lent runner at a time.
func (d *delivery) block(w *Worker) func() {
	d.blockMu.Lock()
	if d.finished { // a goroutine of the call outlived it: no slot to lend
		d.blockMu.Unlock()
		return func() {}
	}
	d.blocked++
	if d.blocked == 1 {
		<-w.slots // the call's token
		d.lendStop = make(chan struct{})
		w.runners.Add(1) // the blocked call's runner is counted, so the count is above zero
		go func(stop <-chan struct{}) {
			defer w.runners.Done()
			w.runCalls(stop)
		}(d.lendStop)
	}
	d.blockMu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { d.unblock(w) }) }
}

func (d *delivery) unblock(w *Worker) {
	d.blockMu.Lock()
	defer d.blockMu.Unlock() // held while waiting for a token: a new block of this call waits
	if d.finished || d.blocked == 0 {
		return
	}
	d.blocked--
	if d.blocked == 0 {
		close(d.lendStop)
		w.acquire()
	}
}

// settle ends slot lending for a call that returned: if a goroutine of it is still blocked,
// its lent runner is stopped and the runner takes a token back for its next call.
func (d *delivery) settle(w *Worker) {
	d.blockMu.Lock()
	d.finished = true
	blocked := d.blocked > 0
	if blocked {
		d.blocked = 0
		close(d.lendStop)
	}
	d.blockMu.Unlock()
	if blocked {
		w.acquire()
	}
}
