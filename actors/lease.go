package actors

import (
	"context"
	"time"
)

// checkLease keeps this host's placements in step with the worker's lease. A placement
// claimed under a lease that is no longer the worker's valid lease is fenced at once (no
// pulls, running calls store no result). Once the worker holds a valid lease again, each
// fenced placement is re-claimed by compare-and-swap on its record: if the record still names
// the old lease and epoch nobody took the actor over, so the same object goes on serving under
// a new epoch (its old consumer deleted first); otherwise the object is dropped here. The same
// holds when the lease came back under the same key (it lapsed by the worker's clock, and a
// late renewal found the key still stored): a fenced placement that has pulled calls never
// pulls its consumer again (see reclaim).
// leaseScanEvery bounds how long checkLease goes without looking at every placement.
const leaseScanEvery = 5 * time.Second

func (h *host) checkLease(ctx context.Context) {
	key, valid := h.lease.Key(), h.lease.Valid()
	// Skip the scan when nothing it looks at changed since a scan that found every placement
	// current: the same valid lease, no placement change (h.changes); at least one full scan
	// every leaseScanEvery all the same.
	gen, now := h.changes.Load(), time.Now()
	if valid && h.lastClean && h.lastValid && key == h.lastKey && gen == h.lastGen && now.Sub(h.lastScan) < leaseScanEvery {
		return
	}
	h.lastScan, h.lastKey, h.lastValid, h.lastGen = now, key, valid, gen
	h.mu.Lock()
	var stale []*instance
	for _, inst := range h.actors {
		inst.mu.Lock()
		if inst.lease != key || !valid || inst.fenced {
			stale = append(stale, inst)
		}
		inst.mu.Unlock()
	}
	h.mu.Unlock()
	h.lastClean = len(stale) == 0
	for _, inst := range stale {
		h.fence(inst)
	}
	if !valid || key == "" {
		return
	}
	for _, inst := range stale {
		if ctx.Err() != nil {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		h.reclaim(rctx, inst, key)
		cancel()
	}
}

// reclaim re-claims the fenced placement of inst under lease key, or drops inst if another
// host took the actor over (or it died). A broker error leaves inst fenced for the next try.
func (h *host) reclaim(ctx context.Context, inst *instance, key string) {
	if inst.dead.Load() || !inst.beginRebind() {
		return // dead, or a recreation (lost.go) is at work on it: the next check comes back
	}
	defer inst.endRebind()
	s, err := storeOf(ctx, h.w.Client())
	if err != nil {
		return
	}
	inst.mu.Lock()
	oldLease, oldEpoch := inst.lease, inst.epoch
	inst.mu.Unlock()
	rec, _, err := s.get(ctx, inst.id)
	if err != nil {
		return
	}
	switch {
	case rec == nil || rec.terminal():
		h.drop(inst, "its record is gone or terminal")
		return
	case rec.WorkerKey == key && rec.Epoch == oldEpoch && oldLease == key && !inst.pulled(oldEpoch):
		// Claimed under this lease already and its consumer never pulled (an earlier bind
		// failed): bind again.
	case rec.WorkerKey == oldLease && rec.Epoch == oldEpoch:
		// Under a new lease, or under the same one after it lapsed: a new epoch either way. A
		// consumer that has delivered is never pulled again, so every delivery that reached
		// this host is counted (arrivals.go) and none that it left unrun (refused while the
		// lease had lapsed, or after the fence) counts an attempt: the next consumer delivers
		// those afresh. This host knows which calls of the old placement it started: only
		// those count as run.
		resume := h.retire(ctx, inst.id, oldEpoch, inst.groupNames(), false)
		if resume == nil {
			return // the stream could not be read: without a note no call would be checked
		}
		resume.withStarted(inst.startedSeqs())
		// A consumer its server recreated empty (memory state) reports too little delivered:
		// the calls this host was delivered, started ones included, are within Upto all the same.
		for i, cc := range inst.subs() {
			if note := resume.group(inst.lanes[i].group); note != nil {
				note.Upto = max(note.Upto, cc.lastDelivered())
			}
		}
		var claimed bool
		rec, err = s.update(ctx, inst.id, func(r *Record) bool {
			if r.terminal() || r.WorkerKey != oldLease || r.Epoch != oldEpoch {
				return false
			}
			r.WorkerKey, r.Epoch, r.Resume, r.Control, r.Worker = key, oldEpoch+1, resume, h.ctl, h.w.Name()
			claimed = true
			return true
		})
		if err != nil {
			return
		}
		if !claimed {
			h.drop(inst, "taken over by another host")
			return
		}
		inst.mu.Lock()
		inst.lease, inst.epoch, inst.resume = key, rec.Epoch, resume
		inst.mu.Unlock()
		h.changes.Add(1)
		h.log.Info().Str("actor_id", inst.id).Uint64("epoch", rec.Epoch).Str("lease", key).Msg("actor re-claimed")
	default:
		h.drop(inst, "taken over by another host")
		return
	}
	inst.mu.Lock()
	epoch, resume := inst.epoch, inst.resume
	inst.mu.Unlock()
	if err := h.bind(ctx, inst, key, epoch, resume); err != nil {
		h.log.Warn().Err(err).Str("actor_id", inst.id).Msg("re-bind actor; retrying")
	}
}

// pulled reports whether inst's placement epoch was bound: its consumer has been pulled by
// this host (a failed bind leaves each lane's pulls on an earlier consumer, or nil).
func (inst *instance) pulled(epoch uint64) bool {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	for _, ln := range inst.lanes {
		if ln.cc != nil && ln.cc.consumer == ln.consumer(inst.id, epoch) {
			return true
		}
	}
	return false
}

// refused fences inst's placement epoch, if it is still the current one, after the host
// refused one of its calls without running it (servable: the lease lapsed or changed, or the
// placement was fenced). The refused delivery stays unacked on the placement's consumer and
// counts as delivered there: served from that consumer again (the lease renewed under the same
// key before checkLease fenced), its redelivery would count an attempt that never ran. Fenced,
// the placement is re-claimed under a new epoch, whose consumer delivers the call afresh.
func (h *host) refused(inst *instance, epoch uint64) {
	inst.mu.Lock()
	if inst.fenced || inst.epoch != epoch {
		inst.mu.Unlock()
		return
	}
	inst.fenced = true // as fence, but only the refused placement: a re-claim may have moved on
	h.changes.Add(1)
	ccs := make([]*pullSub, 0, len(inst.lanes))
	for _, ln := range inst.lanes {
		ccs = append(ccs, ln.cc)
	}
	inst.mu.Unlock()
	for _, cc := range ccs {
		if cc != nil {
			cc.Stop()
		}
	}
}
