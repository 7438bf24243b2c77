package actors

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Purging acked calls: checked every purgeEvery; an actor is purged once purgeMinCalls calls
// were acked since its last purge, or purgeMaxDelay passed.
const (
	purgeEvery    = 5 * time.Second
	purgeMinCalls = 1000
	purgeMaxDelay = 2 * time.Minute
)

// purgeState is what an instance keeps for the purge of its acked calls.
type purgeState struct {
	dirty atomic.Bool // calls since the last purge
	// state of the last purge, used only by the host's maintenance goroutine
	purged, purgedCalls uint64
	purgedAt            time.Time
}

// purge deletes the calls each busy actor has acknowledged (JETRAY_ACTORS keeps messages until
// MaxAge otherwise): one consumer-info and one purge request per actor that had calls.
func (h *host) purge(ctx context.Context) {
	h.mu.Lock()
	var busy []*instance
	for _, inst := range h.actors {
		if inst.dirty.CompareAndSwap(true, false) {
			busy = append(busy, inst)
		}
	}
	h.mu.Unlock()
	if len(busy) == 0 {
		return
	}
	js := h.w.Client().JetStream()
	stream, err := js.Stream(ctx, h.names.ActorsStream())
	if err != nil {
		return
	}
	for _, inst := range busy {
		inst.mu.Lock()
		cons, fenced := inst.cons, inst.fenced
		inst.mu.Unlock()
		if cons == nil || fenced {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := cons.Info(pctx)
		if err == nil && info.AckFloor.Stream > inst.purged {
			// Every purge makes the server recount pending messages of each consumer on the
			// stream, so small backlogs wait for the next round (the stream's MaxAge is the
			// backstop).
			if info.AckFloor.Consumer-inst.purgedCalls < purgeMinCalls && time.Since(inst.purgedAt) < purgeMaxDelay {
				cancel()
				inst.dirty.Store(true)
				continue
			}
			err = stream.Purge(pctx, jetstream.WithPurgeSubject(h.names.ActorFilter(inst.id)), jetstream.WithPurgeSequence(info.AckFloor.Stream+1))
			if err == nil {
				inst.purged, inst.purgedCalls, inst.purgedAt = info.AckFloor.Stream, info.AckFloor.Consumer, time.Now()
			}
		}
		cancel()
		if err != nil {
			inst.dirty.Store(true)
			h.log.Debug().Err(err).Str("actor_id", inst.id).Msg("purge acked calls")
		}
	}
}
