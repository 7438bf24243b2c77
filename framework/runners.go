// Runners: the goroutines that run queued calls, one per slot of WithConcurrency, and the
// slot lending that lets a call blocked awaiting other work give its slot to another call.
// Owner: Worker.Run starts them after the intake and waits for them after the intake stops.

package framework

import (
	"sync"
)

// runCalls is a runner: it takes a slot token, then runs calls from the queue one at a time
// until the queue closes or stop closes (a lent runner; nil for the regular ones). It keeps
// its token between calls, but gives it to a call that stops waiting (unblock) while it is
// idle, then takes another before it takes the next call. A call that blocks gives up the
// token it runs with and takes one back before it continues (block), so a runner holds a
// token whenever it runs a call that is not blocked.
func (w *Worker) runCalls(stop <-chan struct{}) {
	for {
		select {
		case w.slots <- struct{}{}:
		case <-stop:
			return
		}
	idle:
		for {
			select {
			case d, ok := <-w.queue:
				if !ok {
					<-w.slots
					return
				}
				d.slot = true
				w.execute(d)
				d.settle(w)
				select {
				case <-stop:
					<-w.slots
					return
				default:
				}
			case w.handoff <- struct{}{}: // the token now belongs to an unblocked call
				break idle
			case <-stop:
				<-w.slots
				return
			}
		}
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
