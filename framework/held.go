// Held calls and heartbeats: every message the worker holds, from receipt to its ack, nak or
// term, is in the held set, and the heartbeat tells the broker it is in progress every third
// of the smallest AckWait. Owner: Worker.Run starts the heartbeat with the runners and stops
// it last, after every held call was settled (waitHeld).

package framework

import (
	"time"
)

func (w *Worker) hold(d *delivery) {
	w.heldMu.Lock()
	w.held[d] = struct{}{}
	w.heldMu.Unlock()
}

func (w *Worker) release(d *delivery) {
	w.heldMu.Lock()
	delete(w.held, d)
	w.heldMu.Unlock()
}

// heartbeat tells the broker every AckWait/3 (hbPeriod: the smallest AckWait of the worker
// and its task consumers) that held calls are still being worked on.
func (w *Worker) heartbeat(done <-chan struct{}) {
	period := time.Duration(w.hbPeriod.Load())
	t := time.NewTimer(period)
	defer t.Stop()
	last := time.Now()
	var batch []*delivery
	for {
		select {
		case <-done:
			return
		case <-w.hbReset: // the period shrank: the next beat may be due already
			period = time.Duration(w.hbPeriod.Load())
			if wait := period - time.Since(last); wait > 0 {
				t.Reset(wait)
				continue
			}
		case <-t.C:
		}
		period = time.Duration(w.hbPeriod.Load())
		last = time.Now()
		t.Reset(period)
		batch = batch[:0]
		w.heldMu.Lock()
		for d := range w.held {
			batch = append(batch, d)
		}
		w.heldMu.Unlock()
		for _, d := range batch {
			_ = d.msg.InProgress()
		}
	}
}

// waitHeld waits until every held call was acked, termed or handed back, or until timeout.
func (w *Worker) waitHeld(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; time.Now().Before(deadline); delay = min(delay*2, 50*time.Millisecond) {
		w.heldMu.Lock()
		n := len(w.held)
		w.heldMu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(delay)
	}
	w.log.Warn().Msg("results still unacknowledged at shutdown; the broker will redeliver them")
}
