package actors

import (
	"context"
	"strings"
	"time"

	"github.com/jetray/jetray/framework"
)

// Actor lifetimes (Ray's owners). An owned actor's record names its owner (Record.Owner): a
// client ID, or the ID of the actor that created it. The host serving an owned actor is its
// judge: every judge round it checks the owners of the actors it serves, and kills (as Kill
// does) those whose owner is gone. Invariants:
//   - Owner is written once, in the record Class.Remote creates, and never changed.
//   - Only the host whose lease and epoch the record names kills an actor for its owner, by a
//     compare-and-swap naming that lease, epoch and owner: one judge acts, and a host that
//     lost its lease (a stale judge) changes nothing.
//   - A client owner is gone only when framework's judgement says so (its liveness key gone
//     while this host has been connected for a full client TTL, and no answer to a probe):
//     a slow client or a broker restart is never taken for a dead one. An actor owner is gone
//     once its record is DEAD or FAILED (terminal, never left).

// ownerOf returns the owner of an actor created with ctx by client cl: the owner of the call
// tree ctx runs in (the actor it runs in, or the client at its root), else cl itself.
func ownerOf(ctx context.Context, cl *framework.Client) string {
	if o := treeOwner(ctx); o != "" {
		return o
	}
	return cl.ID()
}

// ownerIsActor reports whether owner is an actor ID (a call ID: <client id>.<seq>) rather
// than a client ID (which has no dot).
func ownerIsActor(owner string) bool { return strings.Contains(owner, ".") }

// checkOwners kills the actors this host serves whose owner is gone. It runs in the judge
// round (checkLiveness), only while the worker's lease is valid.
func (h *host) checkOwners(ctx context.Context) {
	key, valid := h.lease.Held()
	if !valid {
		return
	}
	c := h.w.Client()
	s, err := storeOf(ctx, c)
	if err != nil {
		return
	}
	owners := s.ownersOn(key)
	if len(owners) == 0 {
		return
	}
	var clients []string
	for _, o := range owners {
		if !ownerIsActor(o) {
			clients = append(clients, o)
		}
	}
	jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var gone map[string]bool
	if len(clients) > 0 {
		gone = clientsGone(c, jctx, clients)
	}
	for _, owner := range owners {
		var why string
		switch {
		case ownerIsActor(owner):
			if s.deadErr(owner) == nil {
				continue
			}
			why = "owner actor " + owner + " died"
		case gone[owner]:
			why = "owner client " + owner + " is gone"
		default:
			continue
		}
		for id, a := range s.ownedBy(key, owner) {
			h.ownerGone(jctx, s, id, key, a, why)
		}
	}
}

// ownerGone kills actor id, served here under lease key and placement a.epoch, because its
// owner a.owner is gone: a compare-and-swap on its record naming this placement and owner
// sets it DEAD, then its name is freed and the instance halted and reaped, as Kill does.
func (h *host) ownerGone(ctx context.Context, s *store, id, key string, a aliveRef, why string) {
	inst := h.get(id)
	if inst == nil || !h.owns(inst, a.epoch) {
		return // not served here now: its next placement's host judges it
	}
	var killed bool
	rec, err := s.update(ctx, id, func(r *Record) bool {
		if r.terminal() || r.Owner != a.owner || r.WorkerKey != key || r.Epoch != a.epoch {
			return false
		}
		r.State, r.Error = StateDead, why
		killed = true
		return true
	})
	if err != nil || !killed {
		return
	}
	if rec.Name != "" {
		freeName(ctx, h.w.Client(), rec.Name, id)
	}
	h.log.Info().Str("actor_id", id).Str("class", rec.Class).Str("owner", a.owner).Msg("actor killed: its owner is gone")
	h.kill(inst, rec.deathError(), true)
}
