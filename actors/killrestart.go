package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// KillOption changes what Kill does; the default is ray.kill(actor, no_restart=True).
type KillOption func(*killConfig)

type killConfig struct{ restart bool }

// AllowRestart makes Kill restart the actor if it may restart (ray.kill(actor,
// no_restart=False)): with restarts left under MaxRestarts and its constructor input recorded,
// the instance is stopped and a new one is constructed, counting one restart, as after a crash.
// Calls running on the killed instance fail with ErrDied (or run again on the new instance
// within MaxTaskRetries); calls queued for it are kept and run on the new instance, in order.
// Without restarts left it is an ordinary Kill.
func AllowRestart() KillOption { return func(c *killConfig) { c.restart = true } }

// restartRunWait bounds how long a host waits for the running calls of an instance killed for a
// restart to return before the new instance is constructed.
const restartRunWait = 10 * time.Second

// mayRestart says whether rec may be restarted by a kill.
func (r *Record) mayRestart() bool {
	return !r.terminal() && (r.MaxRestarts < 0 || r.Restarts < r.MaxRestarts) && r.Input != nil
}

// killRestart restarts the actor of d, or returns done false if it cannot (no restarts left,
// or it died meanwhile): the caller then kills it for good.
func killRestart(ctx context.Context, c *framework.Client, s *store, d *handleData) (done bool, err error) {
	rec, _, err := s.get(ctx, d.id)
	if err != nil {
		return false, err
	}
	if rec == nil {
		return false, fmt.Errorf("%w: %s", ErrNotFound, d.id)
	}
	if !rec.mayRestart() {
		return false, nil
	}
	if rec.State == StateAlive && rec.Control != "" {
		req, _ := json.Marshal(wire.ControlRequest{Op: wire.ControlRestart, ID: d.id, Cause: "killed"})
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, rerr := c.Conn().RequestWithContext(rctx, rec.Control, req)
		cancel()
		if rerr == nil && controlOK(resp.Data) {
			return true, nil
		}
	}
	// No live host answered (crashed, stalled, an older build, or still constructing): restart
	// it from here, as a judge restarts the actor of a dead host. The record's compare-and-swap
	// names the placement read above, so only one of several killers or judges wins, and the
	// old placement's consumer is deleted before the new creation call, so a stalled owner that
	// wakes up cannot take another call.
	epoch, owner := rec.Epoch, rec.WorkerKey
	restarted := false
	rec, err = s.update(ctx, d.id, func(r *Record) bool {
		restarted = false
		if !r.mayRestart() || r.WorkerKey != owner || r.Epoch != epoch {
			return false
		}
		r.State, r.Restarts, r.Error = StatePending, r.Restarts+1, "restarting: killed"
		r.Worker, r.WorkerKey, r.Control = "", "", ""
		restarted = true
		return true
	})
	if err != nil || !restarted {
		return false, err
	}
	if owner != "" {
		_ = deleteConsumers(ctx, c.JetStream(), namesOf(c).ActorsStream(), d.id, epoch, rec.groupNames(), 5*time.Second)
	}
	resubmitCreation(ctx, c, s, rec)
	return true, nil
}

// controlRestart stops one of this host's actors for a restart and answers; the new creation
// call goes out once the instance's running calls have returned.
func (h *host) controlRestart(m *nats.Msg, req wire.ControlRequest) {
	inst := h.get(req.ID)
	if inst == nil {
		respond(m, wire.ControlReply{Error: "not here"})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := storeOf(ctx, h.w.Client())
	if err != nil {
		respond(m, wire.ControlReply{Error: err.Error()})
		return
	}
	inst.mu.Lock()
	lease, epoch := inst.lease, inst.epoch
	inst.mu.Unlock()
	restarted := false
	rec, err := s.update(ctx, inst.id, func(r *Record) bool {
		restarted = false
		if !r.mayRestart() || r.WorkerKey != lease || r.Epoch != epoch {
			return false
		}
		r.State, r.Restarts, r.Error = StatePending, r.Restarts+1, "restarting: "+req.Cause
		r.Worker, r.WorkerKey, r.Control, r.Resume = "", "", "", nil
		restarted = true
		return true
	})
	if err != nil || !restarted {
		respond(m, wire.ControlReply{Error: "not restarted"})
		return
	}
	// The record is no longer this placement's: stop the instance without reaping (its queued
	// calls are the next instance's). Running calls see their ctx cancelled and answer
	// actor_died; the next placement starts after this one's ack floor and deletes its
	// consumer.
	h.halt(inst, fmt.Errorf("%w: %s (%s): killed (restarting)", ErrActorDied, inst.class, inst.id), false)
	respond(m, wire.ControlReply{OK: true})
	h.spawn(func() { // not on the control subscription: other requests go on meanwhile
		ctx, cancel := context.WithTimeout(context.Background(), restartRunWait+10*time.Second)
		defer cancel()
		h.waitCalls(inst, restartRunWait)
		// Only the calls that started here count as run: calls delivered to the stopped
		// instance and not started (a pull in flight) run on the next one without using an
		// attempt. The record is still PENDING without an owner (no creation call is out), so
		// this compare-and-swap on the same epoch cannot race a placement.
		if resume := h.retire(ctx, inst.id, epoch, inst.groupNames(), false); resume != nil {
			resume.withStarted(inst.startedSeqs())
			if r, err := s.update(ctx, inst.id, func(r *Record) bool {
				if r.State != StatePending || r.WorkerKey != "" || r.Epoch != epoch {
					return false
				}
				r.Resume = resume
				return true
			}); err == nil && r != nil {
				rec = r
			}
		}
		resubmitCreation(ctx, h.w.Client(), s, rec)
		h.log.Info().Str("actor_id", inst.id).Str("class", inst.class).Int("restart", rec.Restarts).Msg("actor killed for a restart")
	})
}
