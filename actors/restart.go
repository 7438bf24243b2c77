package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// checkLiveness judges the owners of other hosts' actors: an actor whose owner's lease key is
// gone from jetray_workers, while this host has been connected for a full lease period (a
// reconnect or a broker restart is no evidence) and the owner does not answer a probe on its
// control subject, is taken over by a compare-and-swap on its record naming that lease and
// epoch, so one judge wins. It is restarted (MaxRestarts) or declared dead. Every worker that
// serves actors runs it every 2 s, after judging the owners of its own actors (checkOwners).
func (h *host) checkLiveness(ctx context.Context) {
	h.checkOwners(ctx)
	c := h.w.Client()
	if !h.lease.Valid() || connectedFor(c) < h.lease.TTL() {
		return
	}
	s, err := storeOf(ctx, c)
	if err != nil {
		return
	}
	leases := s.leasesElsewhere(h.lease.Key())
	if len(leases) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	live, err := framework.LiveWorkers(lctx, c)
	cancel()
	if err != nil {
		return
	}
	// A round starts recoveries for up to recoverRound, recoverParallel at a time; the actors
	// it leaves are still recorded on the dead lease and are taken up by the next round. Each
	// recovery has a deadline of its own (recoverTimeout), never the round's: a round that
	// runs out must not fail a restart, which would bury the actor.
	until := time.Now().Add(recoverRound)
	sem := make(chan struct{}, recoverParallel)
	var wg sync.WaitGroup
	defer wg.Wait()
	for lease, someID := range leases {
		if _, ok := live[lease]; ok {
			continue
		}
		if h.hostAnswers(ctx, s, someID, lease) {
			continue // its key lapsed (a slow broker), but the host still holds the lease
		}
		for id, a := range s.aliveOn(lease) {
			if ctx.Err() != nil {
				return
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				rctx, rcancel := context.WithTimeout(ctx, recoverTimeout)
				defer rcancel()
				h.recoverActor(rctx, s, id, a)
			}()
			if time.Now().After(until) {
				return
			}
		}
	}
}

// Recovery of the actors of a dead host, per liveness round.
const (
	recoverParallel = 8           // recoveries at once
	recoverTimeout  = time.Minute // one recovery: record, consumers, the creation call
)

// recoverRound: a round starts recoveries for this long (at least one). A variable for tests,
// set before any host starts.
var recoverRound = 10 * time.Second

// hostAnswers asks the control subject of the host recorded for actor id whether it still
// holds lease: a key can lapse under load while its worker runs.
func (h *host) hostAnswers(ctx context.Context, s *store, id, lease string) bool {
	rec, _, err := s.get(ctx, id)
	if err != nil || rec == nil || rec.Control == "" {
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := json.Marshal(wire.ControlRequest{Op: wire.ControlPing, Lease: lease})
	resp, err := h.w.Client().Conn().RequestWithContext(pctx, rec.Control, req)
	return err == nil && controlOK(resp.Data)
}

// recoverActor restarts or buries actor id, whose owner (a.workerKey, a.epoch) is gone. The
// owner's consumer is deleted once the record no longer names it, so a stalled owner that
// wakes up cannot pull another call.
func (h *host) recoverActor(ctx context.Context, s *store, id string, a aliveRef) {
	prior, _, err := s.get(ctx, id)
	if err != nil || prior == nil {
		return
	}
	resume := h.retire(ctx, id, a.epoch, prior.groupNames(), true)
	var restart, buried bool
	rec, err := s.update(ctx, id, func(r *Record) bool {
		if r.terminal() || r.WorkerKey != a.workerKey || r.Epoch != a.epoch {
			return false // handled by someone else meanwhile
		}
		lost := "worker " + r.Worker + " died"
		if (r.MaxRestarts < 0 || r.Restarts < r.MaxRestarts) && r.Input != nil {
			restart = true
			r.State, r.Restarts, r.Error = StatePending, r.Restarts+1, "restarting: "+lost
		} else {
			buried = true
			r.State, r.Error = StateDead, lost
		}
		r.Worker, r.WorkerKey, r.Control, r.Resume = "", "", "", resume
		return true
	})
	if err != nil || rec == nil || (!restart && !buried) {
		return
	}
	if buried {
		h.log.Warn().Str("actor_id", id).Str("class", rec.Class).Msg("actor's worker died; no restarts left")
		reap(h.w.Client(), id, rec.Name, a.epoch, rec.groupNames(), rec.Durable, rec.deathError(), false)
		return
	}
	_ = deleteConsumers(ctx, h.w.Client().JetStream(), h.names.ActorsStream(), id, a.epoch, rec.groupNames(), 5*time.Second)
	h.log.Warn().Str("actor_id", id).Str("class", rec.Class).Int("restart", rec.Restarts).Msg("restarting actor whose worker died")
	h.resubmit(ctx, s, rec)
}

// resubmit publishes a creation call for rec, a PENDING record without an owner, so that a
// worker serving its class places it again. If the call cannot be submitted the actor dies.
func (h *host) resubmit(ctx context.Context, s *store, rec *Record) {
	resubmitCreation(ctx, h.w.Client(), s, rec)
}

// resubmitCreation publishes, with c, a creation call for rec, a PENDING record without an
// owner. If the call cannot be submitted the actor dies (record DEAD, its calls reaped).
func resubmitCreation(ctx context.Context, c *framework.Client, s *store, rec *Record) {
	hdr := nats.Header{
		wire.HeaderActor:          []string{rec.ID},
		wire.HeaderMaxConcurrency: []string{strconv.Itoa(rec.MaxConcurrency)},
		wire.HeaderActorEpoch:     []string{strconv.FormatUint(rec.Epoch, 10)},
	}
	if rec.Name != "" {
		hdr[wire.HeaderActorName] = []string{rec.Name}
	}
	f := framework.Submit[struct{}](ctx, c, framework.Request{Name: wire.ActorCreationName(rec.Class), Header: hdr,
		Options: placementOptions(rec.Labels, rec.Resources)}, json.RawMessage(rec.Input))
	if err := f.Err(); err != nil {
		id, epoch := rec.ID, rec.Epoch
		_, _ = s.update(context.WithoutCancel(ctx), id, func(r *Record) bool {
			if r.terminal() || r.WorkerKey != "" || r.Epoch != epoch {
				return false
			}
			r.State, r.Error = StateDead, fmt.Sprintf("restart failed: %v", err)
			return true
		})
		cause := fmt.Errorf("%w: %s (%s): restart failed: %v", ErrActorDied, rec.Class, id, err)
		reap(c, id, rec.Name, epoch, rec.groupNames(), rec.Durable, cause, false)
	}
}
