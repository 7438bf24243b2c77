package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jetray/jetray/internal/failpoint"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Kill kills the actor h refers to (ray.kill): its record goes DEAD, running calls see their
// ctx cancelled and fail with ErrActorDied, queued calls fail with ErrActorDied, later calls
// fail fast, and its name is freed. Killing a dead actor is a no-op. With AllowRestart an
// actor with restarts left is restarted instead (see AllowRestart).
//
// It returns once the record is DEAD, the name freed, a Durable actor's state deleted and the
// actor's host has stopped the instance (or did not answer within 10 s: a crashed host). The queued calls are answered
// just after, by the host's client or, if the host did not answer, by this client; each waits
// for its reaps when it closes. Errors: ErrNotFound for an unknown ID, ErrNoClient, or a
// broker error.
func Kill(ctx context.Context, h Ref, opts ...KillOption) error {
	var cfg killConfig
	for _, o := range opts {
		o(&cfg)
	}
	d := h.ref()
	c, err := clientFor(ctx, d.client)
	if err != nil {
		return err
	}
	s, err := storeOf(ctx, c)
	if err != nil {
		return err
	}
	if cfg.restart {
		if done, err := killRestart(ctx, c, s, d); done || err != nil {
			return err
		}
	}
	var owned bool
	rec, err := s.update(ctx, d.id, func(r *Record) bool {
		if r.terminal() {
			return false
		}
		owned = r.WorkerKey != "" // placed, or being constructed
		r.State, r.Error = StateDead, "killed"
		return true
	})
	if err != nil {
		return err
	}
	if rec.State != StateDead || rec.Error != "killed" {
		return nil // already dead or failed
	}
	if rec.Name != "" {
		freeName(ctx, c, rec.Name, d.id)
	}
	if rec.Durable {
		// Gone once Kill returns; the reaper purges again, after any write that raced this.
		if err := dropState(ctx, c, d.id); err != nil {
			log := c.Logger()
			log.Warn().Err(err).Str("actor_id", d.id).Msg("kill: delete durable state")
		}
	}
	if owned && rec.Control != "" {
		req, _ := json.Marshal(wire.ControlRequest{Op: wire.ControlKill, ID: d.id, Cause: "killed"})
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := c.Conn().RequestWithContext(rctx, rec.Control, req)
		cancel()
		if err == nil && controlOK(resp.Data) {
			checkReaped(c, d.id, rec.Epoch, rec.groupNames(), rec.Durable, rec.deathError()) // the host reaps, unless it dies first
			return nil
		}
	}
	reap(c, d.id, "", rec.Epoch, rec.groupNames(), rec.Durable, rec.deathError(), true)
	return nil
}

// kill stops inst at once and has its client's reaper answer the queued calls and delete
// what the actor left in the stream.
func (h *host) kill(inst *instance, cause error, grace bool) {
	if j := h.halt(inst, cause, grace); j != nil {
		reaperOf(h.w.Client()).add(j)
	}
}

// halt stops inst at once: no more calls are taken, and running ones see their ctx cancelled
// (and answer ErrActorDied whatever they return). It returns the reaping still to do, or nil
// if inst was dead already.
func (h *host) halt(inst *instance, cause error, grace bool) *reapJob {
	if !inst.dead.CompareAndSwap(false, true) {
		return nil
	}
	inst.cause.Store(cause)
	if inst.counted.CompareAndSwap(true, false) {
		actorState(h.w, inst.class, StateAlive, StateDead)
	}
	h.remove(inst.id)
	h.fence(inst)
	inst.cancel()
	inst.mu.Lock()
	epoch, bound := inst.epoch, inst.bound
	inst.mu.Unlock()
	return &reapJob{id: inst.id, name: inst.name, epoch: epoch, groups: inst.groupNames(), durable: inst.durable != nil,
		cause: cause, grace: grace, seqs: inst.takeAll(), bound: bound}
}

// markFailed records a constructor failure on a record this host claimed (lease, epoch) and
// fails the calls queued for the actor.
func (h *host) markFailed(ctx context.Context, s *store, id, lease string, epoch uint64, cause error) {
	var failed bool
	rec, err := s.update(context.WithoutCancel(ctx), id, func(r *Record) bool {
		if r.terminal() || r.WorkerKey != lease || r.Epoch != epoch {
			return false
		}
		r.State, r.Error, r.Worker = StateFailed, cause.Error(), h.w.Name()
		failed = true
		return true
	})
	if err != nil {
		h.log.Warn().Err(err).Str("actor_id", id).Msg("record constructor failure")
		return
	}
	if failed {
		reap(h.w.Client(), id, rec.Name, epoch, rec.groupNames(), rec.Durable, rec.deathError(), true)
	}
}

// controlKill stops one of this host's actors and answers the kill request; the reaping goes
// on after the answer.
func (h *host) controlKill(m *nats.Msg, req wire.ControlRequest) {
	inst := h.get(req.ID)
	if inst == nil {
		respond(m, wire.ControlReply{Error: "not here"})
		return
	}
	j := h.halt(inst, fmt.Errorf("%w: %s (%s): %s", ErrActorDied, inst.class, inst.id, req.Cause), true)
	respond(m, wire.ControlReply{OK: true})
	if failpoint.Armed("actors.kill-answered") { // tests stop the process here: Kill returned, nothing reaped
		_ = h.w.Client().Conn().Flush()
		failpoint.Hit("actors.kill-answered")
	}
	if j != nil {
		reaperOf(h.w.Client()).add(j)
	}
}

func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrKeyNotFound)
}
