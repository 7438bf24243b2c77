package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/nats-io/nats.go"
)

// checkLiveness finds ALIVE actors whose host stopped refreshing its key in jetray_workers and
// restarts them (MaxRestarts) or declares them dead, failing their queued calls. Every worker
// that serves actors runs it every 2 s; a compare-and-swap on the record makes one of them
// win for each actor.
func (h *host) checkLiveness(ctx context.Context) {
	c := h.w.Client()
	s, err := storeOf(ctx, c)
	if err != nil {
		return
	}
	candidates := s.aliveElsewhere(h.w.LivenessKey())
	if len(candidates) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	live, err := framework.LiveWorkers(lctx, c)
	if err != nil {
		return
	}
	for id, a := range candidates {
		if _, ok := live[a.workerKey]; ok || time.Since(a.updated) < framework.LivenessTTL {
			continue
		}
		if h.hostAnswers(lctx, s, id) {
			continue // its key lapsed (a slow broker), but the host is alive
		}
		h.recoverActor(lctx, s, id, a.workerKey, live)
	}
}

// hostAnswers asks the control subject of the host recorded for actor id whether it is still
// there: a liveness key can lapse under load while its worker runs, and burying a live
// actor would fail its calls.
func (h *host) hostAnswers(ctx context.Context, s *store, id string) bool {
	rec, _, err := s.get(ctx, id)
	if err != nil || rec == nil || rec.Control == "" {
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = h.w.Client().Conn().RequestWithContext(pctx, rec.Control, []byte(`{"op":"ping"}`))
	return err == nil
}

// recoverActor restarts or buries actor id, whose host (workerKey) is gone.
func (h *host) recoverActor(ctx context.Context, s *store, id, workerKey string, live map[string]framework.WorkerInfo) {
	var restart, buried bool
	rec, err := s.update(ctx, id, func(r *Record) bool {
		if r.State != StateAlive || r.WorkerKey != workerKey {
			return false // handled by someone else meanwhile
		}
		if _, ok := live[r.WorkerKey]; ok {
			return false
		}
		lost := "worker " + r.Worker + " died"
		if (r.MaxRestarts < 0 || r.Restarts < r.MaxRestarts) && r.Input != nil {
			restart = true
			r.State, r.Restarts, r.Error = StatePending, r.Restarts+1, "restarting: "+lost
			r.Worker, r.WorkerKey, r.Control = "", "", ""
		} else {
			buried = true
			r.State, r.Error = StateDead, lost
		}
		return true
	})
	if err != nil || rec == nil {
		return
	}
	if buried {
		h.log.Warn().Str("actor_id", id).Str("class", rec.Class).Msg("actor's worker died; no restarts left")
		go h.reap(id, rec.deathError(), false)
		return
	}
	if !restart {
		return
	}
	h.log.Warn().Str("actor_id", id).Str("class", rec.Class).Int("restart", rec.Restarts).Msg("restarting actor whose worker died")
	hdr := nats.Header{
		HeaderActor:          []string{id},
		HeaderMaxConcurrency: []string{strconv.Itoa(rec.MaxConcurrency)},
	}
	if rec.Name != "" {
		hdr[HeaderName] = []string{rec.Name}
	}
	f := framework.Submit[struct{}](ctx, h.w.Client(), framework.Request{Name: createName(rec.Class), Header: hdr},
		json.RawMessage(rec.Input))
	if err := f.Err(); err != nil {
		_, _ = s.update(context.WithoutCancel(ctx), id, func(r *Record) bool {
			r.State, r.Error = StateDead, fmt.Sprintf("restart failed: %v", err)
			return true
		})
		go h.reap(id, fmt.Errorf("%w: %s (%s): restart failed: %v", ErrActorDied, rec.Class, id, err), false)
	}
}
