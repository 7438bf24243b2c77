package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Kill kills the actor h refers to (ray.kill): its record goes DEAD, running calls see their
// ctx cancelled and fail with ErrActorDied, queued calls fail with ErrActorDied, later calls
// fail fast, and its name is freed. Killing a dead actor is a no-op. It returns once the
// actor's host has stopped it, or, if the host is gone, once this client has failed the
// queued calls itself. Errors: ErrNotFound for an unknown ID, ErrNoClient, or a
// broker error.
func Kill(ctx context.Context, h Ref) error {
	d := h.ref()
	c, err := clientFor(ctx, d.client)
	if err != nil {
		return err
	}
	s, err := storeOf(ctx, c)
	if err != nil {
		return err
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
	if owned && rec.Control != "" {
		req, _ := json.Marshal(wire.ControlRequest{Op: wire.ControlKill, ID: d.id, Cause: "killed"})
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := c.Conn().RequestWithContext(rctx, rec.Control, req)
		cancel()
		if err == nil && controlOK(resp.Data) {
			return nil
		}
	}
	reap(c, c.Logger(), d.id, rec.Epoch, rec.deathError(), true)
	return nil
}

// reap answers every call still stored for the dead actor id with cause, frees its name,
// and deletes the consumer of its last placement (epoch) and its calls. A result already
// stored for a call wins: results are first-writer-wins, so a call that was answered keeps
// its answer however late the reaper comes.
func reap(c *framework.Client, log zerolog.Logger, id string, epoch uint64, cause error, grace bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := c.JetStream()
	stream, err := js.Stream(ctx, namesOf(c).ActorsStream())
	if err != nil {
		log.Warn().Err(err).Str("actor_id", id).Msg("reap: actors stream")
		return
	}
	var floor uint64
	if cons, err := stream.Consumer(ctx, consumerName(id, epoch)); err == nil {
		if info, err := cons.Info(ctx); err == nil {
			floor = info.AckFloor.Stream
		}
		_ = stream.DeleteConsumer(ctx, consumerName(id, epoch))
	}
	if epoch > 0 { // a placement whose start was cut short may have left the one before
		_ = stream.DeleteConsumer(ctx, consumerName(id, epoch-1))
	}
	next := floor + 1
	rounds := 1
	if grace {
		rounds = 2
	}
	for round := 0; round < rounds; round++ {
		if round > 0 {
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		next = failStored(ctx, c, stream, id, next, cause, log)
	}
	_ = stream.Purge(ctx, jetstream.WithPurgeSubject(namesOf(c).ActorFilter(id)))
	if s, err := storeOf(ctx, c); err == nil {
		if rec, _, err := s.get(ctx, id); err == nil && rec != nil && rec.Name != "" {
			if e, err := s.kv.Get(ctx, nameKey(rec.Name)); err == nil && string(e.Value()) == id {
				_ = s.kv.Delete(ctx, nameKey(rec.Name), jetstream.LastRevision(e.Revision()))
			}
		}
	}
}

// failStored answers the stored calls of id from sequence start on; it returns the sequence
// after the last one seen.
func failStored(ctx context.Context, c *framework.Client, stream jetstream.Stream, id string, start uint64, cause error, log zerolog.Logger) uint64 {
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{namesOf(c).ActorFilter(id)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
	})
	if err != nil {
		log.Warn().Err(err).Str("actor_id", id).Msg("reap: consumer")
		return start
	}
	defer func() { // an ordered consumer would otherwise linger for its 5-minute inactivity threshold
		if info := cons.CachedInfo(); info != nil {
			_ = stream.DeleteConsumer(context.WithoutCancel(ctx), info.Name)
		}
	}()
	next := start
	for {
		batch, err := cons.FetchNoWait(256)
		if err != nil {
			return next
		}
		n := 0
		for m := range batch.Messages() {
			n++
			if meta, err := m.Metadata(); err == nil {
				next = meta.Sequence.Stream + 1
			}
			callID := m.Headers().Get(wire.HeaderID)
			if callID == "" {
				continue
			}
			te := &framework.TaskError{Task: m.Headers().Get(wire.HeaderTask), TaskID: callID,
				Kind: KindDied, Message: cause.Error()}
			if err := publishFailure(c, ctx, te); err != nil {
				log.Warn().Err(err).Str("task_id", callID).Msg("reap: publish failure")
			}
		}
		if n == 0 || errors.Is(batch.Error(), context.DeadlineExceeded) {
			return next
		}
	}
}

// kill stops inst: it stops taking calls, cancels running ones, and fails what is queued.
func (h *host) kill(inst *instance, cause error, grace bool) {
	if !inst.dead.CompareAndSwap(false, true) {
		return
	}
	inst.cause.Store(cause)
	if inst.counted.CompareAndSwap(true, false) {
		actorState(h.w, inst.class, StateAlive, StateDead)
	}
	h.remove(inst.id)
	h.fence(inst)
	inst.cancel()
	h.waitCalls(inst, 5*time.Second)
	inst.mu.Lock()
	epoch := inst.epoch
	inst.mu.Unlock()
	reap(h.w.Client(), h.log, inst.id, epoch, cause, grace)
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
		h.spawn(func() { reap(h.w.Client(), h.log, id, epoch, rec.deathError(), true) })
	}
}

// controlKill answers a kill request for one of this host's actors once it has stopped it.
func (h *host) controlKill(m *nats.Msg, req wire.ControlRequest) {
	inst := h.get(req.ID)
	if inst == nil {
		respond(m, wire.ControlReply{Error: "not here"})
		return
	}
	h.spawn(func() {
		h.kill(inst, fmt.Errorf("%w: %s (%s): %s", ErrActorDied, inst.class, inst.id, req.Cause), true)
		respond(m, wire.ControlReply{OK: true})
	})
}

func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrKeyNotFound)
}
