package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/internal/lease"
	"github.com/jetray/jetray/internal/wire"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/failpoint"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// host runs the actors placed on one worker: their consumers, calls, kills, hand-overs and
// cleanup. It owns every goroutine it starts: Run's ctx ending stops them and waits for them.
type host struct {
	w     *framework.Worker
	lease *lease.Lease
	names wire.Names // the worker's namespace
	log   zerolog.Logger

	mu     sync.Mutex
	actors map[string]*instance
	ctlSub *nats.Subscription
	ctl    string // control subject of this host
	closed bool
	pulls  *puller // the actors' pull loop: made by the first placement, closed after shutdown

	lost lostQueue // consumers the pull loop reported lost, for the recreation loop (lost.go)

	// changes counts placement changes that checkLease must look at (a placement's lease or
	// epoch set, a fence, a refusal), so that a round with nothing new skips its scan of every
	// instance (lease.go); last* describe the last full scan. Only checkLease reads last*.
	changes   atomic.Uint64
	lastScan  time.Time
	lastKey   string
	lastValid bool
	lastGen   uint64
	lastClean bool

	bgMu     sync.Mutex
	bgClosed bool
	bg       sync.WaitGroup // reaps and kills the host started; joined at shutdown
}

// instance is one live actor object and its current placement.
type instance struct {
	id, class, name string
	maxConc         int // the default group's max_concurrency
	methods         map[string]framework.Handler
	// lanes are the actor's concurrency groups, the default group first; fixed once the
	// instance is built (withGroups), so they are read without a lock.
	lanes []*lane
	ready chan struct{} // closed once placed (ALIVE) or given up
	// durable is the state chain of a Durable actor (durable.go); nil otherwise, and then the
	// call path pays only this nil check.
	durable *durable

	mu      sync.Mutex      // guards the placement below and each lane's consumer fields
	lease   string          // lease key the placement was claimed under
	epoch   uint64          // the placement's epoch: consumers actor-<id>-<epoch>[+<group>]
	resume  *Resume         // what the previous placement left (Groups: per group)
	bound   bool            // every lane's consumer of the placement was made (bind)
	ctx     context.Context // cancelled when the instance dies here: running calls see it
	cancel  context.CancelFunc
	fenced  bool                    // stopped serving: lease lost or placement retired
	rebind  bool                    // a re-claim or a recreation (lost.go) is changing the placement
	running map[string]*runningCall // call ID -> its run on this host

	calls   callCount // deliveries being served; a WaitGroup would race: Add can follow Wait
	dead    atomic.Bool
	dropped atomic.Bool  // dead here because another placement owns the actor (not killed)
	cause   atomic.Value // error
	counted atomic.Bool  // counted ALIVE in the worker's metrics
}

// lane is one concurrency group of an instance (docs/architecture.md, "Concurrency groups"):
// each placement serves it from a consumer of its own whose MaxAckPending is the group's
// limit, so the broker bounds the group's calls, and the host bounds them again with slots.
type lane struct {
	group      string        // "" for the default group
	limit      int           // how many of the group's calls run at once
	window     int           // the consumer's MaxAckPending: limit, or a plain actor's Prefetch window
	slots      chan struct{} // the limit on this host, redeliveries included (limit > 1)
	purgeState               // acked calls to delete (purge.go)

	// Guarded by instance.mu.
	cons    jetstream.Consumer // the placement's consumer of this group; nil until bound
	cc      *pullSub           // its pulls; nil until bound
	crashed crashMark          // which call of a crash range may have run (serial lanes)
}

// serial reports whether the lane runs one call at a time, in stream order (the serial gate).
func (ln *lane) serial() bool { return ln.limit == 1 }

// consumer is the lane's durable consumer of placement epoch of actor id.
func (ln *lane) consumer(id string, epoch uint64) string {
	return wire.Names{}.ActorConsumer(id, epoch, ln.group)
}

// runningCall is a call running on this host; a redelivery of it waits for done.
type runningCall struct {
	ln      *lane // the concurrency group it runs in
	seq     uint64
	done    chan struct{}
	started atomic.Bool // its handler was called
}

type hostKey struct{}

func hostOf(w *framework.Worker) *host {
	return workerExtension(w, hostKey{}, func() any {
		names := namesOf(w.Client())
		h := &host{w: w, lease: workerLease(w), actors: map[string]*instance{}, log: w.Logger(), names: names,
			ctl: names.ActorControlSubject(w.Name(), w.Client().ID())}
		h.lost.wake = make(chan struct{}, 1)
		onRun(w, h.run)
		return h
	}).(*host)
}

// leaseCheckEvery is how often the host compares its actors' placements with its lease.
const leaseCheckEvery = 250 * time.Millisecond

// consumerName is the durable consumer of an actor's placement epoch (consumer names live in
// the namespace's stream, so they carry no namespace). Epoch 0 is the name records without
// epochs used.
func consumerName(id string, epoch uint64) string { return wire.Names{}.ActorConsumer(id, epoch, "") }

// newInstance makes an instance whose default group runs maxConc calls at once from a
// consumer window (MaxAckPending) of window calls (maxConc, or a plain actor's Prefetch), and
// each of groups (name -> limit) runs up to its limit.
func newInstance(id, class, name string, maxConc, window int, groups map[string]int, methods map[string]framework.Handler) *instance {
	inst := &instance{id: id, class: class, name: name, maxConc: maxConc, methods: methods,
		ready: make(chan struct{}), running: map[string]*runningCall{}}
	inst.lanes = append(inst.lanes, newLane("", maxConc, max(window, maxConc)))
	for _, g := range sortedGroups(groups) {
		inst.lanes = append(inst.lanes, newLane(g, groups[g], groups[g]))
	}
	inst.ctx, inst.cancel = context.WithCancel(context.Background())
	return inst
}

func newLane(group string, limit, window int) *lane {
	limit = max(limit, 1)
	return &lane{group: group, limit: limit, window: max(window, 1), slots: make(chan struct{}, limit)}
}

// subs returns the pulls of every lane of the placement (nil entries for unbound lanes).
func (inst *instance) subs() []*pullSub {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	out := make([]*pullSub, len(inst.lanes))
	for i, ln := range inst.lanes {
		out[i] = ln.cc
	}
	return out
}

// groupNames returns the instance's concurrency groups other than the default one.
func (inst *instance) groupNames() []string {
	names := make([]string, 0, len(inst.lanes)-1)
	for _, ln := range inst.lanes[1:] {
		names = append(names, ln.group)
	}
	return names
}

// deleteConsumers deletes the consumers of placement epoch of actor id, one per group (the
// default group's last: while it exists the placement is not gone, see checkReaped), each
// request bounded by wait. A consumer already gone counts as deleted; the first other error
// is returned after every delete was tried.
func deleteConsumers(ctx context.Context, js jetstream.JetStream, stream, id string, epoch uint64, groups []string, wait time.Duration) error {
	var first error
	for i := len(groups); i >= 0; i-- {
		g := ""
		if i > 0 {
			g = groups[i-1]
		}
		dctx, cancel := context.WithTimeout(ctx, wait)
		err := js.DeleteConsumer(dctx, stream, wire.Names{}.ActorConsumer(id, epoch, g))
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && first == nil {
			first = err
		}
	}
	return first
}

func (h *host) get(id string) *instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.actors[id]
}

// spawn runs fn on a goroutine the host owns; after shutdown it runs fn inline.
func (h *host) spawn(fn func()) {
	h.bgMu.Lock()
	if h.bgClosed {
		h.bgMu.Unlock()
		fn()
		return
	}
	h.bg.Add(1)
	h.bgMu.Unlock()
	go func() {
		defer h.bg.Done()
		fn()
	}()
}

// waitLease waits (up to the lease period) until the worker holds a valid lease.
func (h *host) waitLease(ctx context.Context) (string, bool) {
	deadline := time.Now().Add(h.lease.TTL())
	for delay := 5 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
		if h.lease.Valid() {
			if k := h.lease.Key(); k != "" {
				return k, true
			}
		}
		if time.Now().After(deadline) {
			return "", false
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-time.After(delay):
		}
	}
}

// owns reports whether this host may still serve inst's placement epoch: the actor is not
// dead here, the placement is not fenced, and the lease it was claimed under is the worker's
// current, valid lease.
func (h *host) owns(inst *instance, epoch uint64) bool {
	key, valid := h.lease.Held()
	if inst.dead.Load() || !valid {
		return false
	}
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return !inst.fenced && inst.epoch == epoch && inst.lease == key
}

// retire reads what the consumers of placement epoch left, one note per concurrency group
// (the default group's in the Resume itself, groups' in Resume.Groups): calls below a
// consumer's ack floor were answered, calls up to its last delivery may have run. crash says
// whether unanswered ones count as run. Every stored call up to the stream's last sequence is
// checked for a result first (Resume.Check: a consumer with memory state may have been
// recreated empty). Without a group's consumer (gone with its server, or no answer within
// retireLookup: its node is lost), none of that group's calls counts as run. nil: the stream
// could not be read.
func (h *host) retire(ctx context.Context, id string, epoch uint64, groups []string, crash bool) *Resume {
	js := h.w.Client().JetStream()
	stream, err := js.Stream(ctx, h.names.ActorsStream())
	if err != nil {
		return nil
	}
	var rs *Resume
	for i := 0; i <= len(groups); i++ {
		g := ""
		if i > 0 {
			g = groups[i-1]
		}
		cctx, cancel := context.WithTimeout(ctx, retireLookup)
		cons, err := stream.Consumer(cctx, wire.Names{}.ActorConsumer(id, epoch, g))
		cancel()
		var note *Resume
		if err == nil {
			info := cons.CachedInfo()
			note = &Resume{From: info.AckFloor.Stream + 1, Upto: info.Delivered.Stream, Crash: crash,
				Check: stream.CachedInfo().State.LastSeq}
		} else {
			info, err := stream.Info(ctx)
			if err != nil {
				return nil
			}
			note = &Resume{Upto: info.State.LastSeq}
		}
		if g == "" {
			rs = note
		} else {
			rs.setGroup(g, note)
		}
	}
	return rs
}

// laneResume is the note lane ln serves placement epoch with: rs's note of its group, or,
// where a later placement (epoch > 1) has none, one that checks every call for a stored
// result and counts none as run.
func laneResume(rs *Resume, ln *lane, epoch uint64) *Resume {
	if note := rs.group(ln.group); note != nil || epoch <= 1 {
		return note
	}
	return &Resume{Upto: math.MaxUint64}
}

// place binds a constructed actor whose record this host claimed (lease, epoch): it deletes
// the previous placement's consumer (the broker-side fence), creates its own, starts
// consuming and marks the record ALIVE. If the actor was killed meanwhile it is torn down.
func (h *host) place(ctx context.Context, s *store, inst *instance, lease string, epoch uint64, resume *Resume) error {
	defer close(inst.ready)
	if err := h.ensureControl(); err != nil {
		return err
	}
	if resume == nil && epoch > 1 {
		if resume = h.retire(ctx, inst.id, epoch-1, inst.groupNames(), true); resume == nil {
			resume = &Resume{Upto: math.MaxUint64} // unknown: every call is checked first
		}
	}
	inst.mu.Lock() // checkLease must see the placement's lease from the start
	inst.lease, inst.epoch = lease, epoch
	inst.mu.Unlock()
	h.changes.Add(1)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errWorkerStopping
	}
	h.actors[inst.id] = inst
	h.mu.Unlock()
	if err := h.bind(ctx, inst, lease, epoch, resume); err != nil {
		h.remove(inst.id)
		return err
	}
	rec, err := s.update(ctx, inst.id, func(r *Record) bool {
		if r.terminal() || r.WorkerKey != lease || r.Epoch != epoch {
			return false
		}
		r.State, r.Worker, r.Control, r.MaxConcurrency = StateAlive, h.w.Name(), h.ctl, inst.maxConc
		r.Error, r.Resume = "", nil
		return true
	})
	if err != nil {
		h.kill(inst, fmt.Errorf("%w: %v", ErrActorDied, err), true)
		return err
	}
	if rec.State != StateAlive || rec.WorkerKey != lease || rec.Epoch != epoch {
		if rec.terminal() {
			h.kill(inst, rec.deathError(), true)
			return framework.NewCallError(KindDied, rec.deathError())
		}
		h.drop(inst, "placement taken over while starting")
		return errNotOwner
	}
	if inst.counted.CompareAndSwap(false, true) { // kill uncounts it; a kill that raced counts DEAD here
		actorState(h.w, inst.class, "", StateAlive)
		if inst.dead.Load() && inst.counted.CompareAndSwap(true, false) {
			actorState(h.w, inst.class, StateAlive, StateDead)
		}
	}
	h.log.Debug().Str("actor_id", inst.id).Str("class", inst.class).Uint64("epoch", epoch).Int("max_concurrency", inst.maxConc).Msg("actor alive")
	return nil
}

// bind serves inst's placement epoch, one consumer per concurrency group: the consumers of
// epoch-1 are deleted first, so an owner that lost the actor (stalled, cut off) can no longer
// pull its calls.
func (h *host) bind(ctx context.Context, inst *instance, lease string, epoch uint64, resume *Resume) error {
	js := h.w.Client().JetStream()
	if epoch > 0 {
		for _, ln := range inst.lanes {
			err := retryTimeouts(ctx, func(ctx context.Context) error {
				err := js.DeleteConsumer(ctx, h.names.ActorsStream(), ln.consumer(inst.id, epoch-1))
				if errors.Is(err, jetstream.ErrConsumerNotFound) {
					return nil
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("jetray: fence actor's previous consumer: %w", err)
			}
		}
	}
	conss := make([]jetstream.Consumer, len(inst.lanes))
	for i, ln := range inst.lanes {
		desc := "jetray actor " + inst.class + " " + inst.id
		if ln.group != "" {
			desc += " group " + ln.group
		}
		cfg := jetstream.ConsumerConfig{
			Durable:       ln.consumer(inst.id, epoch),
			Description:   desc,
			FilterSubject: h.names.ActorGroupFilter(inst.id, ln.group),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       h.w.AckWait(),
			MaxAckPending: ln.window,
			MaxDeliver:    -1,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			// Memory state, one replica (allowed on a limits stream): created 2-3x faster on
			// one server and 10x or more on an R3 cluster; a server restart or the loss of its
			// node loses it, and the host serves the actor from a new one (lost.go).
			MemoryStorage: true,
			Replicas:      1,
		}
		if note := laneResume(resume, ln, epoch); note != nil && note.From > 1 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, note.From
		}
		err := retryTimeouts(ctx, func(ctx context.Context) (err error) {
			conss[i], err = js.CreateOrUpdateConsumer(ctx, h.names.ActorsStream(), cfg)
			return err
		})
		if err != nil {
			return fmt.Errorf("jetray: actor consumer: %w", err)
		}
	}
	inst.mu.Lock()
	inst.lease, inst.epoch, inst.resume, inst.fenced, inst.bound = lease, epoch, resume, false, true
	for i, ln := range inst.lanes {
		ln.cons = conss[i]
	}
	inst.mu.Unlock()
	h.changes.Add(1)
	pulls, err := h.puller()
	ccs := make([]*pullSub, len(inst.lanes))
	for i, ln := range inst.lanes {
		if err != nil {
			break
		}
		// Batches of at least 64, so a busy plain actor is not pulled for every call;
		// MaxAckPending (the window) still bounds what is delivered. A serial lane's calls
		// are served one at a time, in stream order (pull.go: the serial gate).
		ccs[i], err = pulls.add(ln.consumer(inst.id, epoch), max(min(ln.window, 1024), 64), ln.serial(),
			func(m jetstream.Msg) { h.receive(inst, ln, epoch, m) })
	}
	if err != nil {
		inst.mu.Lock()
		inst.fenced = true
		inst.mu.Unlock()
		h.changes.Add(1)
		for _, cc := range ccs {
			if cc != nil {
				cc.Stop()
			}
		}
		return fmt.Errorf("jetray: actor consume: %w", err)
	}
	inst.mu.Lock()
	for i, ln := range inst.lanes {
		ln.cc = ccs[i]
	}
	stop := inst.dead.Load() || inst.fenced
	inst.mu.Unlock()
	if stop { // killed or fenced while its consumers were starting
		for _, cc := range ccs {
			cc.Stop()
		}
	}
	return nil
}

// bindTries bounds the attempts of each consumer request of bind, 10 s each: a broker that
// times out under load (thousands of consumers deleted and created at once, as in a
// hand-over) gets more chances before the placement, and with it the actor, fails.
const bindTries = 3

// retryTimeouts runs req (an idempotent broker request) until it succeeds, fails otherwise
// than by timing out, bindTries attempts are used, or ctx ends.
func retryTimeouts(ctx context.Context, req func(context.Context) error) error {
	var err error
	for range bindTries {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = req(rctx)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
	}
	return err
}

// receive takes one delivery of lane ln of placement epoch: for a serial lane on the
// goroutine the puller hands the consumer's calls over on, one at a time and in order; on its
// own goroutine otherwise.
func (h *host) receive(inst *instance, ln *lane, epoch uint64, m jetstream.Msg) {
	var seq uint64
	var redelivered bool
	if meta, err := m.Metadata(); err == nil {
		seq, redelivered = meta.Sequence.Stream, meta.NumDelivered > 1
	}
	ln.delivered(seq)
	inst.calls.add()
	if ln.serial() {
		defer inst.calls.done()
		h.serve(inst, ln, epoch, m, seq, redelivered)
		return
	}
	go func() {
		defer inst.calls.done()
		h.serve(inst, ln, epoch, m, seq, redelivered)
	}()
}

// serve runs one delivery of lane ln. A redelivery of a call still running here waits for
// that run, and at most the lane's limit of calls run at once, whatever the broker redelivers
// after a stall: the broker's MaxAckPending bounds only what it believes is outstanding. A
// redelivery, like a call the previous placement left unanswered, first looks for a stored
// result.
func (h *host) serve(inst *instance, ln *lane, epoch uint64, m jetstream.Msg, seq uint64, redelivered bool) {
	hdr := m.Headers()
	callID := hdr.Get(wire.HeaderID)
	subj := m.Subject()
	method := subj[strings.LastIndexByte(subj, '.')+1:]
	inst.mu.Lock()
	resume := laneResume(inst.resume, ln, inst.epoch)
	prev := inst.running[callID]
	rc := &runningCall{ln: ln, seq: seq, done: make(chan struct{})}
	if callID != "" {
		inst.running[callID] = rc
	}
	inst.mu.Unlock()
	defer func() {
		inst.mu.Lock()
		if inst.running[callID] == rc {
			delete(inst.running, callID)
		}
		inst.mu.Unlock()
		close(rc.done)
	}()
	if prev != nil {
		h.holdUntil(m, prev.done, nil)
	}
	if !ln.serial() {
		h.holdUntil(m, nil, ln.slots)
		defer func() { <-ln.slots }()
	}
	c := h.w.Client()
	check := prev != nil || redelivered || resume.checks(seq)
	ran := resume.ran(seq)
	hd, ok := inst.methods[method]
	if !ok {
		hd = func(context.Context, *framework.Call) ([]byte, error) {
			return nil, framework.NewCallError(framework.KindBadCall, fmt.Errorf("actor %s has no method %q", inst.class, method))
		}
	}
	run := func(ctx context.Context, call *framework.Call) ([]byte, error) {
		// A call delivered between bind and the ALIVE record waits for the placement to
		// finish: a Kill in that window (the record went DEAD first) must fail it, not run it.
		select {
		case <-inst.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := h.servable(inst, epoch); err != nil {
			return nil, err
		}
		if d := inst.durable; d != nil {
			// Already in the snapshot: answered from it, never applied twice.
			if a, found := d.answered(call.ID); found {
				if ran {
					// It ran on the previous placement: the crash mark of its serial lane is
					// its own, so the calls after it, which cannot have started, count none.
					inst.mayHaveRun(ln, resume, seq, true)
				}
				if a == nil {
					return nil, framework.ErrAlreadyAnswered // a later call ran after its result was stored
				}
				return replay(a)
			}
		}
		known := false // the check said the call has no result
		if check {
			stored, err := resultStored(c, ctx, call.ID)
			if err == nil && stored {
				return nil, framework.ErrAlreadyAnswered
			}
			known = err == nil
		}
		if ran && inst.mayHaveRun(ln, resume, seq, known) {
			opts, err := wire.DecodeCallOptions(call.Header)
			if err == nil && opts.MaxRetries >= 0 && call.Attempt+1 > opts.MaxRetries+1 {
				return nil, framework.NewCallError(KindDied,
					fmt.Errorf("%w: %s (%s): its worker was lost while the call ran", ErrActorDied, inst.class, inst.id))
			}
		}
		rc.started.Store(true)
		ctx, cancel := context.WithCancel(withSelf(ctx, h, inst, ln, epoch))
		stop := context.AfterFunc(inst.ctx, cancel)
		out, err := hd(ctx, call)
		stop()
		cancel()
		if err := h.answerable(inst, epoch); err != nil {
			return nil, err // killed: actor_died; no longer the owner: the new placement answers
		}
		if inst.durable != nil {
			// The snapshot that includes the call is stored before its answer is released.
			if out, err = h.commit(ctx, inst, call.ID, out, err); errors.Is(err, errNotOwner) {
				return nil, err
			}
		}
		failpoint.Hit("actors.before-publish") // tests stop the process here (SIGSTOP)
		return out, err
	}
	serve(h.w, m, inst.class+"."+method, run, ErrDied)
}

// errWorkerStopping: the actor could not be placed because its worker is stopping.
var errWorkerStopping = errors.New("jetray: worker stopping")

// servable says whether a call of placement epoch may run or be answered here: nil, an
// actor_died error if the actor was killed, or errNotOwner if another placement owns
// the actor now (the call is left to it).
func (h *host) servable(inst *instance, epoch uint64) error {
	if inst.dropped.Load() {
		return errNotOwner
	}
	if inst.dead.Load() {
		return framework.NewCallError(KindDied, inst.deathErr())
	}
	if !h.owns(inst, epoch) {
		h.refused(inst, epoch)
		return errNotOwner
	}
	return nil
}

// answerable says whether a call of placement epoch that has run may store its answer: as
// servable, except that while the placement is fenced it waits (up to two lease periods) for
// the host to re-claim the actor, and a call of an earlier placement of this same object may
// answer once the host owns the actor again (nobody else ran it meanwhile; its redelivery in
// the new placement finds the answer stored).
func (h *host) answerable(inst *instance, epoch uint64) error {
	deadline := time.Now().Add(2 * h.lease.TTL())
	for {
		if inst.dropped.Load() {
			return errNotOwner
		}
		if inst.dead.Load() {
			return framework.NewCallError(KindDied, inst.deathErr())
		}
		key, valid := h.lease.Held()
		inst.mu.Lock()
		ok := valid && !inst.fenced && inst.lease == key && inst.epoch >= epoch
		inst.mu.Unlock()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errNotOwner
		}
		<-time.After(50 * time.Millisecond)
	}
}

// crashMark is, for a serial lane (a plain actor, or a concurrency group of limit 1) placed
// after its host was judged dead, the one call of the crash range [From, Upto] that may have
// run there. That host ran the lane's calls one at a time in stream order and started each
// only once every earlier one it held had its result stored (pull.go, the serial gate), so of
// the calls it left unanswered only the first can have started: this host, serving the range
// in order, marks the first call it finds with no stored result, and only that one counts an
// attempt. Guarded by instance.mu.
type crashMark struct {
	of  *Resume // the resume note the mark belongs to (a re-claim replaces the note)
	seq uint64  // the marked call; 0 until one is found
}

// mayHaveRun reports whether the call at seq of lane ln, which has no stored result (known:
// the check said so; false if the check failed), may have run on the previous placement.
// rs.ran says so for every unanswered call of a crash range; for a serial lane only the first
// of them counts. A call whose check failed counts without taking the mark (it may be an
// answered one), which only ever counts more calls than ran, never fewer.
func (inst *instance) mayHaveRun(ln *lane, rs *Resume, seq uint64, known bool) bool {
	if !rs.ran(seq) {
		return false
	}
	if !rs.Crash || !ln.serial() || slices.Contains(rs.Started, seq) {
		return true
	}
	inst.mu.Lock()
	defer inst.mu.Unlock()
	m := &ln.crashed
	if m.of != rs {
		*m = crashMark{of: rs}
	}
	if m.seq != 0 {
		return seq <= m.seq // the marked call again (a redelivery), or one before it
	}
	if known {
		m.seq = seq
	}
	return true
}

// startedSeqs returns the stream sequences of the calls whose handlers ran or run here and
// have not returned.
func (inst *instance) startedSeqs() []uint64 {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	var seqs []uint64
	for _, rc := range inst.running {
		if rc.started.Load() {
			seqs = append(seqs, rc.seq)
		}
	}
	slices.Sort(seqs)
	return seqs
}

// startedIn counts the calls of lane ln whose handlers ran or run here and have not returned.
func (inst *instance) startedIn(ln *lane) int {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	n := 0
	for _, rc := range inst.running {
		if rc.ln == ln && rc.started.Load() {
			n++
		}
	}
	return n
}

// holdUntil keeps a delivery alive (progress reports every AckWait/3) until done closes or a
// token can be put into slots.
func (h *host) holdUntil(m jetstream.Msg, done <-chan struct{}, slots chan struct{}) {
	if slots != nil {
		select {
		case slots <- struct{}{}:
			return
		default:
		}
	}
	t := time.NewTicker(h.w.AckWait() / 3)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case slots <- struct{}{}:
			return
		case <-t.C:
			_ = m.InProgress()
		}
	}
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

// fence stops serving inst's current placement at once: no more pulls, no new calls, and
// running calls store no answer until the host owns the actor again (answerable). The record
// is not touched.
func (h *host) fence(inst *instance) {
	inst.mu.Lock()
	if inst.fenced {
		inst.mu.Unlock()
		return
	}
	inst.fenced = true
	inst.mu.Unlock()
	h.changes.Add(1)
	for _, cc := range inst.subs() {
		if cc != nil {
			cc.Stop()
		}
	}
}

// drop forgets inst on this host without touching its record or its calls: another host
// owns the actor now.
func (h *host) drop(inst *instance, why string) {
	inst.dropped.Store(true)
	if !inst.dead.CompareAndSwap(false, true) {
		return
	}
	inst.cause.Store(fmt.Errorf("%w: %s (%s): %s", ErrActorDied, inst.class, inst.id, why))
	h.log.Warn().Str("actor_id", inst.id).Str("class", inst.class).Str("why", why).Msg("actor instance dropped")
	if inst.counted.CompareAndSwap(true, false) {
		actorState(h.w, inst.class, StateAlive, "")
	}
	h.remove(inst.id)
	h.fence(inst)
	inst.cancel()
}

// callCount counts running deliveries; idle is closed whenever none runs. Unlike a
// WaitGroup, a delivery may start while someone waits for the count to reach zero.
type callCount struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to 0; nil while n is 0
}

func (c *callCount) add() {
	c.mu.Lock()
	if c.n == 0 {
		c.zero = make(chan struct{})
	}
	c.n++
	c.mu.Unlock()
}

func (c *callCount) done() {
	c.mu.Lock()
	c.n--
	if c.n == 0 {
		close(c.zero)
		c.zero = nil
	}
	c.mu.Unlock()
}

// idle returns a channel closed once no delivery runs (already closed if none runs now).
func (c *callCount) idle() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.zero
}

// waitCalls waits up to d for inst's running calls to return.
func (h *host) waitCalls(inst *instance, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-inst.calls.idle():
		return true
	case <-t.C:
		h.log.Warn().Str("actor_id", inst.id).Msg("actor calls ignore cancellation; going on without them")
		return false
	}
}

// ensureControl subscribes to this host's control subject (kill and ping requests) once.
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

func (h *host) control(m *nats.Msg) {
	var req wire.ControlRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		respond(m, wire.ControlReply{Error: "bad control message"})
		return
	}
	switch req.Op {
	case wire.ControlPing:
		// A judge asks before taking actors over: the lease it saw lapse is still ours?
		if h.lease.Valid() && (req.Lease == "" || req.Lease == h.lease.Key()) {
			respond(m, wire.ControlReply{OK: true})
		} else {
			respond(m, wire.ControlReply{Error: "lease lost"})
		}
	case wire.ControlKill:
		h.controlKill(m, req)
	case wire.ControlRestart:
		h.controlRestart(m, req)
	default:
		respond(m, wire.ControlReply{Error: "bad control message"})
	}
}

// respond answers a control request.
func respond(m *nats.Msg, r wire.ControlReply) {
	b, _ := json.Marshal(r)
	_ = m.Respond(b)
}

// controlOK reports whether a control reply says the request was done.
func controlOK(data []byte) bool {
	var r wire.ControlReply
	return json.Unmarshal(data, &r) == nil && r.OK
}

// run is the host's part of Worker.Run: it keeps placements in step with the worker's lease,
// purges acked calls, judges other hosts' actors, and, when ctx ends, hands its actors over.
func (h *host) run(ctx context.Context) error {
	var wg sync.WaitGroup
	// The lease check has its own loop: judging other hosts (probes of up to 2 s) or a slow
	// purge must never delay fencing this host's own placements.
	wg.Go(func() { h.every(ctx, leaseCheckEvery, h.checkLease) })
	wg.Go(func() { h.every(ctx, 2*time.Second, h.checkLiveness) })
	wg.Go(func() { h.every(ctx, purgeEvery, h.purge) })
	wg.Go(func() { h.recreateLost(ctx) })
	wg.Wait()
	h.shutdown()
	h.mu.Lock()
	pulls := h.pulls
	h.mu.Unlock()
	if pulls != nil { // every actor is handed over, stopped or dropped by now
		pulls.close()
	}
	return nil
}

// puller returns the host's pull loop, starting it on first use.
func (h *host) puller() (*puller, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pulls != nil {
		return h.pulls, nil
	}
	if h.closed {
		return nil, errWorkerStopping
	}
	// Actor consumers are created with the worker's AckWait: calls waiting in a plain actor's
	// window get progress reports three times per AckWait, as held calls do.
	p, err := newPuller(h.w.Client().Conn(), h.names.ActorsStream(), h.w.AckWait()/3, h.log)
	if err != nil {
		return nil, err
	}
	p.onLost(h.consumerLost)
	h.pulls = p
	return p, nil
}

// every runs fn every d until ctx ends.
func (h *host) every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
