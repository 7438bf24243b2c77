package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// host runs the actors placed on one worker: their consumers, calls, kills and cleanup.
type host struct {
	w   *framework.Worker
	log zerolog.Logger

	mu     sync.Mutex
	actors map[string]*instance
	ctlSub *nats.Subscription
	ctl    string // control subject of this host
	closed bool
}

// instance is one live actor.
type instance struct {
	id, class, name string
	maxConc         int
	methods         map[string]framework.Handler
	ccMu            sync.Mutex
	cc              jetstream.ConsumeContext // set once its consumer runs; guarded by ccMu
	cons            jetstream.Consumer
	ctx             context.Context // cancelled on kill: running calls see it
	cancel          context.CancelFunc
	calls           sync.WaitGroup
	dead            atomic.Bool
	cause           atomic.Value // error
	dirty           atomic.Bool  // calls since the last purge
	// state of the last purge, used only by the host's maintenance goroutine
	purged, purgedCalls uint64
	purgedAt            time.Time
	counted             atomic.Bool // counted ALIVE in the worker's metrics
}

type hostKey struct{}

func hostOf(w *framework.Worker) *host {
	return w.Extension(hostKey{}, func() any {
		h := &host{w: w, actors: map[string]*instance{}, log: w.Logger(),
			ctl: "jetray.ctl.actors." + strings.NewReplacer(".", "_", "*", "_", ">", "_", " ", "_").Replace(w.Name()) + "." + w.Client().ID()}
		w.OnRun(h.run)
		return h
	}).(*host)
}

// Purging acked calls: checked every purgeEvery; an actor is purged once purgeMinCalls calls
// were acked since its last purge, or purgeMaxDelay passed.
const (
	purgeEvery    = 5 * time.Second
	purgeMinCalls = 1000
	purgeMaxDelay = 2 * time.Minute
)

func consumerName(id string) string { return "actor-" + strings.ReplaceAll(id, ".", "-") }
func actorSubject(id string) string { return framework.ActorSubjectPrefix + id + ".>" }

func (h *host) has(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.actors[id]
	return ok
}

// start binds a constructed actor: its consumer (MaxAckPending = max_concurrency), then its
// record goes ALIVE. If the actor was killed meanwhile it is torn down again.
func (h *host) start(ctx context.Context, s *store, id, class, name string, maxConc int, methods map[string]framework.Handler) error {
	if err := h.ensureControl(); err != nil {
		return err
	}
	c := h.w.Client()
	inst := &instance{id: id, class: class, name: name, maxConc: maxConc, methods: methods, purgedAt: time.Now()}
	inst.ctx, inst.cancel = context.WithCancel(context.Background())
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := c.JetStream().CreateOrUpdateConsumer(cctx, framework.ActorsStream, jetstream.ConsumerConfig{
		Durable:       consumerName(id),
		Description:   "jetray actor " + class + " " + id,
		FilterSubject: actorSubject(id),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       h.w.AckWait(),
		MaxAckPending: maxConc,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("jetray: actor consumer: %w", err)
	}
	inst.cons = cons
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errors.New("jetray: worker stopping")
	}
	h.actors[id] = inst
	h.mu.Unlock()
	cc, err := cons.Consume(func(m jetstream.Msg) { h.receive(inst, m) },
		// At least 64: with a one-message pull at MaxAckPending 1 the consume loop could stall
		// until the pull expired (30 s) now and then; MaxAckPending still bounds deliveries.
		jetstream.PullMaxMessages(max(min(maxConc, 1024), 64)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			h.log.Debug().Err(err).Str("actor_id", id).Msg("actor consume")
		}))
	if err != nil {
		h.remove(id)
		return fmt.Errorf("jetray: actor consume: %w", err)
	}
	inst.ccMu.Lock()
	inst.cc = cc
	killed := inst.dead.Load()
	inst.ccMu.Unlock()
	if killed { // killed while its consumer was starting
		cc.Stop()
	}
	rec, err := s.update(ctx, id, func(r *Record) bool {
		if r.terminal() {
			return false
		}
		r.State, r.Worker, r.Control, r.MaxConcurrency = StateAlive, h.w.Name(), h.ctl, maxConc
		r.WorkerKey, r.Error = h.w.LivenessKey(), ""
		return true
	})
	if err != nil {
		h.kill(inst, fmt.Errorf("%w: %v", ErrActorDied, err), true)
		return err
	}
	if rec.State != StateAlive {
		h.kill(inst, rec.deathError(), true)
		return framework.NewCallError(framework.KindDied, rec.deathError())
	}
	if inst.counted.CompareAndSwap(false, true) { // kill uncounts it; a kill that raced counts DEAD here
		h.w.Metrics().ActorState(class, "", StateAlive)
		if inst.dead.Load() && inst.counted.CompareAndSwap(true, false) {
			h.w.Metrics().ActorState(class, StateAlive, StateDead)
		}
	}
	h.log.Debug().Str("actor_id", id).Str("class", class).Int("max_concurrency", maxConc).Msg("actor alive")
	return nil
}

// receive dispatches one call: inline for max_concurrency 1 (in order), on its own goroutine
// otherwise; the broker's MaxAckPending bounds how many run.
func (h *host) receive(inst *instance, m jetstream.Msg) {
	subj := m.Subject()
	method := subj[strings.LastIndexByte(subj, '.')+1:]
	hd, ok := inst.methods[method]
	if !ok {
		hd = func(context.Context, *framework.Call) ([]byte, error) {
			return nil, framework.NewCallError(framework.KindBadCall, fmt.Errorf("actor %s has no method %q", inst.class, method))
		}
	}
	name := inst.class + "." + method
	run := func(ctx context.Context, call *framework.Call) ([]byte, error) {
		if inst.dead.Load() {
			return nil, framework.NewCallError(framework.KindDied, inst.deathErr())
		}
		ctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(inst.ctx, cancel)
		out, err := hd(ctx, call)
		stop()
		cancel()
		if inst.dead.Load() {
			return nil, framework.NewCallError(framework.KindDied, inst.deathErr())
		}
		return out, err
	}
	inst.dirty.Store(true)
	if inst.maxConc == 1 {
		h.w.Serve(m, name, run)
		return
	}
	inst.calls.Add(1)
	go func() {
		defer inst.calls.Done()
		h.w.Serve(m, name, run)
	}()
}

func (inst *instance) deathErr() error {
	if err, ok := inst.cause.Load().(error); ok {
		return err
	}
	return fmt.Errorf("%w: %s (%s)", ErrActorDied, inst.class, inst.id)
}

func (h *host) remove(id string) *instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	inst := h.actors[id]
	delete(h.actors, id)
	return inst
}

// kill stops inst: it stops taking calls, cancels running ones, and fails what is queued.
func (h *host) kill(inst *instance, cause error, grace bool) {
	if !inst.dead.CompareAndSwap(false, true) {
		return
	}
	inst.cause.Store(cause)
	if inst.counted.CompareAndSwap(true, false) {
		h.w.Metrics().ActorState(inst.class, StateAlive, StateDead)
	}
	h.remove(inst.id)
	inst.ccMu.Lock()
	cc := inst.cc
	inst.ccMu.Unlock()
	if cc != nil {
		cc.Stop()
	}
	inst.cancel()
	done := make(chan struct{})
	go func() { inst.calls.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		h.log.Warn().Str("actor_id", inst.id).Msg("actor calls ignore cancellation; failing them anyway")
	}
	h.reap(inst.id, cause, grace)
}

// markFailed records a constructor failure and fails the calls queued for the actor.
func (h *host) markFailed(ctx context.Context, s *store, id string, cause error) {
	rec, err := s.update(context.WithoutCancel(ctx), id, func(r *Record) bool {
		if r.terminal() {
			return false
		}
		r.State, r.Error, r.Worker = StateFailed, cause.Error(), h.w.Name()
		return true
	})
	if err != nil {
		h.log.Warn().Err(err).Str("actor_id", id).Msg("record constructor failure")
		return
	}
	go h.reap(id, rec.deathError(), true)
}

// reap fails every call queued for a dead actor, frees its name and removes its consumer and
// calls. With grace it looks once more after a short wait, for calls sent as it died.
func (h *host) reap(id string, cause error, grace bool) {
	reap(h.w.Client(), h.log, id, cause, grace)
}

// ensureControl subscribes to this host's control subject (kill requests) once.
func (h *host) ensureControl() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctlSub != nil {
		return nil
	}
	sub, err := h.w.Client().Conn().Subscribe(h.ctl, h.control)
	if err != nil {
		return fmt.Errorf("jetray: actor control: %w", err)
	}
	h.ctlSub = sub
	return nil
}

type controlMsg struct {
	Op    string `json:"op"`
	ID    string `json:"id"`
	Cause string `json:"cause,omitempty"`
}

func (h *host) control(m *nats.Msg) {
	var req controlMsg
	if err := json.Unmarshal(m.Data, &req); err == nil && req.Op == "ping" {
		_ = m.Respond([]byte(`{"ok":true}`)) // liveness double-check before burying (restart.go)
		return
	}
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Op != "kill" {
		_ = m.Respond([]byte(`{"error":"bad control message"}`))
		return
	}
	h.mu.Lock()
	inst := h.actors[req.ID]
	h.mu.Unlock()
	if inst == nil {
		_ = m.Respond([]byte(`{"error":"not here"}`))
		return
	}
	go func() {
		h.kill(inst, fmt.Errorf("%w: %s (%s): %s", ErrActorDied, inst.class, inst.id, req.Cause), true)
		_ = m.Respond([]byte(`{"ok":true}`))
	}()
}

// run is the host's part of Worker.Run: it purges acked calls every few seconds and, when ctx
// ends, stops every actor (their records go DEAD, queued calls fail with ErrActorDied).
func (h *host) run(ctx context.Context) error {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	live := time.NewTicker(2 * time.Second)
	defer live.Stop()
	for {
		select {
		case <-ctx.Done():
			h.shutdown()
			return nil
		case <-t.C:
			h.purge(ctx)
		case <-live.C:
			h.checkLiveness(ctx)
		}
	}
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
	stream, err := js.Stream(ctx, framework.ActorsStream)
	if err != nil {
		return
	}
	for _, inst := range busy {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := inst.cons.Info(pctx)
		if err == nil && info.AckFloor.Stream > inst.purged {
			// Every purge makes the server recount pending messages of each consumer on the
			// stream, so small backlogs wait for the next round (the stream's MaxAge is the
			// backstop).
			if info.AckFloor.Consumer-inst.purgedCalls < purgeMinCalls && time.Since(inst.purgedAt) < purgeMaxDelay {
				cancel()
				inst.dirty.Store(true)
				continue
			}
			err = stream.Purge(pctx, jetstream.WithPurgeSubject(actorSubject(inst.id)), jetstream.WithPurgeSequence(info.AckFloor.Stream+1))
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
	for _, inst := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cause := fmt.Errorf("%w: %s (%s): its worker %s stopped", ErrActorDied, inst.class, inst.id, h.w.Name())
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, _ = s.update(ctx, inst.id, func(r *Record) bool {
					if r.terminal() {
						return false
					}
					r.State, r.Error = StateDead, "worker "+h.w.Name()+" stopped"
					return true
				})
				cancel()
			}
			h.kill(inst, cause, false)
		}()
	}
	wg.Wait()
}
