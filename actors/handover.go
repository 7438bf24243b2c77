package actors

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// Hand-over bounds at a graceful stop.
const (
	handoverCallWait = 20 * time.Second // running calls get this long (at most the drain timeout)
	handoverAckWait  = 3 * time.Second  // then their acks get this long to land
)

// shutdown runs when Run's ctx ends. Actors that may restart (MaxRestarts not 0, constructor
// input recorded) are handed over: this host stops pulling their calls, lets running calls
// finish, and sets the record back to PENDING with a Resume note and no owner, then deletes
// its consumer and publishes a new creation call, so another worker serving the class
// rebuilds the actor with its queued calls kept. A hand-over does not count against
// MaxRestarts. Other actors die with their worker as before: record DEAD, queued calls fail
// with ErrActorDied. Finally the host waits for the reaps and kills it started.
func (h *host) shutdown() {
	h.mu.Lock()
	h.closed = true
	all := make([]*instance, 0, len(h.actors))
	for _, inst := range h.actors {
		all = append(all, inst)
	}
	sub := h.ctlSub
	h.mu.Unlock()
	if sub != nil {
		_ = sub.Unsubscribe()
	}
	s, err := storeOf(context.Background(), h.w.Client())
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var lonely sync.Map // classes with no other live worker, logged once each
	for _, inst := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err == nil && h.handover(s, inst, &lonely) {
				return
			}
			h.stop(s, inst)
		}()
	}
	wg.Wait()
	h.bgMu.Lock()
	h.bgClosed = true
	h.bgMu.Unlock()
	done := make(chan struct{})
	go func() { h.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		h.log.Warn().Msg("actor reaps still running at shutdown")
	}
}

// stop ends inst with its worker: record DEAD if this host still owns it, queued calls
// failed with ErrActorDied; running calls are cancelled at once.
func (h *host) stop(s *store, inst *instance) {
	inst.mu.Lock()
	lease, epoch := inst.lease, inst.epoch
	inst.mu.Unlock()
	cause := fmt.Errorf("%w: %s (%s): its worker %s stopped", ErrActorDied, inst.class, inst.id, h.w.Name())
	owned := false
	if s != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.update(ctx, inst.id, func(r *Record) bool {
			if r.terminal() || r.WorkerKey != lease || r.Epoch != epoch {
				return false
			}
			r.State, r.Error = StateDead, "worker "+h.w.Name()+" stopped"
			owned = true
			return true
		})
		cancel()
		if err != nil {
			h.log.Warn().Err(err).Str("actor_id", inst.id).Msg("record actor stopped")
		}
	}
	if !owned {
		h.drop(inst, "worker stopping; the actor is no longer this worker's")
		return
	}
	h.kill(inst, cause, false)
}

// handover hands inst over to another worker; false means it cannot be handed over (no
// restarts allowed, constructor input not recorded, or the record could not be read) and
// the caller stops it instead.
func (h *host) handover(s *store, inst *instance, lonely *sync.Map) bool {
	ctx, cancel := context.WithTimeout(context.Background(), handoverCallWait+handoverAckWait+10*time.Second)
	defer cancel()
	rec, _, err := s.get(ctx, inst.id)
	if err != nil || rec == nil || rec.terminal() || rec.MaxRestarts == 0 || rec.Input == nil {
		return false
	}
	inst.mu.Lock()
	lease, epoch, prior := inst.lease, inst.epoch, inst.resume
	conss := make([]jetstream.Consumer, len(inst.lanes))
	for i, ln := range inst.lanes {
		conss[i] = ln.cons
	}
	inst.mu.Unlock()
	ccs := inst.subs()
	if rec.WorkerKey != lease || rec.Epoch != epoch {
		h.drop(inst, "taken over by another host")
		return true
	}
	for _, cc := range ccs {
		if cc != nil {
			cc.Stop() // no more calls here; those already running finish
		}
	}
	h.waitCalls(inst, min(handoverCallWait, drainTimeout(h.w)))
	// Calls still running past the wait are not counted as run: a drain is not a crash, so
	// the next placement runs them again (at-least-once) and this host drops their answers.
	var resume *Resume
	deadline := time.Now().Add(handoverAckWait)
	for i, ln := range inst.lanes {
		note := handoverNote(ctx, conss[i], ccs[i], inst.startedIn(ln), deadline)
		if note == nil {
			resume = nil // unknown: the next host checks every stored call for a result
			break
		}
		// The consumer's Delivered falls short if it lost its state (memory state, its node
		// restarted): calls this host was delivered, or an earlier placement may have
		// answered, are checked for a stored result all the same.
		note.Check = max(ccs[i].lastDelivered(), laneResume(prior, ln, epoch).bound())
		if i == 0 {
			resume = note
		} else {
			resume.setGroup(ln.group, note)
		}
	}
	var handed bool
	rec, err = s.update(ctx, inst.id, func(r *Record) bool {
		if r.terminal() || r.WorkerKey != lease || r.Epoch != epoch {
			return false
		}
		r.State, r.Error, r.Resume = StatePending, "handed over by worker "+h.w.Name(), resume
		r.Worker, r.WorkerKey, r.Control = "", "", ""
		handed = true
		return true
	})
	if err != nil || !handed {
		if err == nil {
			h.drop(inst, "taken over by another host")
			return true
		}
		h.log.Warn().Err(err).Str("actor_id", inst.id).Msg("hand over actor")
		return false
	}
	h.retireLocal(inst)
	_ = deleteConsumers(ctx, h.w.Client().JetStream(), h.names.ActorsStream(), inst.id, epoch, inst.groupNames(), 10*time.Second)
	h.resubmit(ctx, s, rec)
	h.log.Info().Str("actor_id", inst.id).Str("class", inst.class).Msg("actor handed over")
	if _, seen := lonely.Load(inst.class); !seen && !h.otherWorkerServes(ctx, inst.class) {
		lonely.Store(inst.class, true)
		h.log.Warn().Str("class", inst.class).Msg("no other live worker serves this actor class; its actors wait for one")
	}
	return true
}

// handoverNote reads, until deadline, where the consumer cons of one lane left off once the
// calls the lane was delivered were acked (all but the started ones still running and those
// delivered after cc stopped); nil if it cannot be read. A lane never bound (nil cons) leaves
// an empty note: its calls start from the stream's start, checked only as any first delivery.
func handoverNote(ctx context.Context, cons jetstream.Consumer, cc *pullSub, started int, deadline time.Time) *Resume {
	note := &Resume{}
	if cons == nil {
		return note
	}
	for delay := 5 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
		info, err := cons.Info(ctx)
		if err == nil {
			note.From, note.Upto = info.AckFloor.Stream+1, info.Delivered.Stream
			// Calls a pull request delivered after the stop are left unacked (pull.go).
			if info.NumAckPending <= started+cc.Unserved() || time.Now().After(deadline) {
				return note
			}
		} else if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(delay)
	}
}

// retireLocal forgets inst here after a hand-over: no reap, the record is no longer ours.
func (h *host) retireLocal(inst *instance) {
	inst.dropped.Store(true)
	inst.dead.Store(true)
	if inst.counted.CompareAndSwap(true, false) {
		actorState(h.w, inst.class, StateAlive, "")
	}
	h.remove(inst.id)
	h.fence(inst)
	inst.cancel()
}

// otherWorkerServes reports whether a live worker other than this one serves class.
func (h *host) otherWorkerServes(ctx context.Context, class string) bool {
	live, err := framework.LiveWorkers(ctx, h.w.Client())
	if err != nil {
		return true // unknown: say nothing
	}
	self := h.w.Client().ID()
	for _, wi := range live {
		if wi.Client != self && slices.Contains(wi.Names, wire.ActorCreationName(class)) {
			return true
		}
	}
	return false
}
