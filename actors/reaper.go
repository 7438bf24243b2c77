package actors

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Reaping: a dead actor's calls above its consumer's ack floor are answered with the cause of
// its death, and every call it left in the actors stream is deleted by sequence. Kill, the
// actor host and judges hand the work to their client's reaper and return at once.
const (
	reapWorkers      = 4                      // goroutines per client at most
	reapGrace        = 500 * time.Millisecond // a second read after this, for calls sent as the actor died
	reapRoundTimeout = 30 * time.Second       // one read-answer-delete round
	reapCloseWait    = 30 * time.Second       // how long Client.Close waits for queued reaps
	// reapCheckAfter: a killer checks this long after its Kill that the host has reaped (the
	// consumer of the placement is gone) and reaps itself if not (the host died meanwhile).
	reapCheckAfter = 10 * time.Second
)

// reapJob is the reaping of one dead actor.
type reapJob struct {
	id    string
	name  string // the actor's name, freed if it still points to id ("" for none)
	epoch uint64 // the placement whose consumers hold the ack floors
	// groups are the actor's concurrency groups other than the default one: each has a
	// consumer of its own per placement.
	groups []string
	cause  error
	grace  bool // read the actor's calls once more reapGrace after the first round
	// seqs are stream sequences of the actor's calls its host saw delivered and had not
	// deleted: those at or below the floor are deleted without being read.
	seqs []uint64
	// bound: the placement's host deleted the previous epoch's consumer when it started.
	bound bool
	// check: reap only if the placement's consumer still exists when the job falls due (its
	// host said it would reap, and deletes the consumer once it has answered the calls).
	check bool
	// durable: the actor keeps Durable state, which the reap purges once the record says DEAD
	// (the record is read only for these).
	durable bool

	floor uint64    // the consumer's ack floor: calls at or below it were answered
	next  uint64    // where the second round reads from
	due   time.Time // when the second round may run; zero for the first
}

// reaper runs the reap jobs of one client on at most reapWorkers goroutines, started when
// jobs are queued and ended when none is left. Client.Close stops it and waits for them.
type reaper struct {
	c      *framework.Client
	log    zerolog.Logger
	ctx    context.Context // ends when Close stops waiting: rounds give up
	cancel context.CancelFunc

	mu      sync.Mutex
	ready   []*reapJob // first rounds, oldest first
	later   []*reapJob // second rounds, in the order they fall due
	workers int
	closed  bool
	closing chan struct{} // closed by close: waiting workers run what is left at once
	wake    chan struct{} // a ready job for a worker waiting on a second round
	wg      sync.WaitGroup
	stream  jetstream.Stream // the actors stream, looked up once
}

type reaperKey struct{}

// reaperOf returns the client's reaper, made on first use; Client.Close stops it.
func reaperOf(c *framework.Client) *reaper {
	v, err := clientExtension(c, reaperKey{}, func() (any, error) {
		r := &reaper{c: c, log: c.Logger(), wake: make(chan struct{}, 1), closing: make(chan struct{})}
		r.ctx, r.cancel = context.WithCancel(context.Background())
		onClose(c, func() { r.close(reapCloseWait) })
		return r, nil
	})
	if err != nil { // init never fails
		panic(err)
	}
	return v.(*reaper)
}

// reap has c's reaper answer the calls stored for the dead actor id (placement epoch, name
// name, concurrency groups groups besides the default one) with cause, delete them, free its
// name and, for a Durable actor (durable) that the record says is DEAD, purge its state. It
// returns at once. With grace the calls are read once more after reapGrace, for calls sent as
// the actor died.
func reap(c *framework.Client, id, name string, epoch uint64, groups []string, durable bool, cause error, grace bool) {
	reaperOf(c).add(&reapJob{id: id, name: name, epoch: epoch, groups: groups, durable: durable, cause: cause, grace: grace})
}

// checkReaped has c's reaper make sure, reapCheckAfter from now, that the host of actor id
// (placement epoch) reaped it as it said it would, and reap it otherwise.
func checkReaped(c *framework.Client, id string, epoch uint64, groups []string, durable bool, cause error) {
	reaperOf(c).add(&reapJob{id: id, epoch: epoch, groups: groups, durable: durable, cause: cause, grace: true, check: true,
		due: time.Now().Add(reapCheckAfter)})
}

// add queues j: a first round at once, or a check when it falls due. After Close it is
// dropped: the connection is closing.
func (r *reaper) add(j *reapJob) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.log.Debug().Str("actor_id", j.id).Msg("reap after Close: dropped")
		return
	}
	if j.check {
		r.schedule(j)
	} else {
		r.ready = append(r.ready, j)
	}
	start := r.workers < reapWorkers
	if start {
		r.workers++
		r.wg.Add(1)
	}
	r.mu.Unlock()
	if start {
		go r.work()
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// work runs queued rounds until none is left.
func (r *reaper) work() {
	defer r.wg.Done()
	for {
		j, wait, ok := r.take()
		if !ok {
			return
		}
		if j == nil {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.wake:
			case <-r.closing:
			}
			t.Stop()
			continue
		}
		r.round(j)
		if j.grace && j.due.IsZero() {
			j.due = time.Now().Add(reapGrace)
			r.mu.Lock()
			r.schedule(j)
			r.mu.Unlock()
		}
	}
}

// schedule queues j's next round for j.due, keeping later in due order. r.mu is held.
func (r *reaper) schedule(j *reapJob) {
	i, _ := slices.BinarySearchFunc(r.later, j.due, func(e *reapJob, due time.Time) int { return e.due.Compare(due) })
	for i < len(r.later) && !r.later[i].due.After(j.due) {
		i++
	}
	r.later = slices.Insert(r.later, i, j)
}

// take returns the next round to run, or how long until the next second round falls due; ok
// is false when the worker should end (nothing left, or Close gave up).
func (r *reaper) take() (j *reapJob, wait time.Duration, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.ctx.Err() != nil:
	case len(r.ready) > 0:
		j, r.ready = r.ready[0], r.ready[1:]
		return j, 0, true
	case len(r.later) > 0:
		if wait = time.Until(r.later[0].due); wait <= 0 || r.closed {
			j, r.later = r.later[0], r.later[1:]
			return j, 0, true
		}
		return nil, wait, true
	}
	r.workers--
	return nil, 0, false
}

// close stops taking jobs, runs what is queued (second rounds without waiting for them to
// fall due) and waits up to d for it; past d, rounds in flight are cancelled and the rest
// dropped. Safe to call twice.
func (r *reaper) close(d time.Duration) {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.closing)
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		r.mu.Lock()
		left := len(r.ready) + len(r.later)
		r.mu.Unlock()
		r.log.Warn().Int("left", left).Msg("actor reaps cut short by Close")
		r.cancel()
		<-done
	}
	r.cancel()
}

// round runs the first or the second round of j.
func (r *reaper) round(j *reapJob) {
	ctx, cancel := context.WithTimeout(r.ctx, reapRoundTimeout)
	defer cancel()
	stream, err := r.actorsStream(ctx)
	if err != nil {
		r.log.Warn().Err(err).Str("actor_id", j.id).Msg("reap: actors stream")
		return
	}
	js, name := r.c.JetStream(), namesOf(r.c).ActorsStream()
	cons, err := js.Consumer(ctx, name, consumerName(j.id, j.epoch))
	if j.check {
		j.check = false
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return // reaped by its host
		}
		j.due = time.Time{}
	}
	if !j.due.IsZero() {
		j.next, _ = r.answer(ctx, stream, j, j.next)
		return
	}
	if err == nil {
		j.floor = cons.CachedInfo().AckFloor.Stream
		// One floor for every group: the lowest. A call above a group's own floor that was
		// answered gets a failure that loses to its stored result (first writer wins).
		for _, g := range j.groups {
			gc, gerr := js.Consumer(ctx, name, wire.Names{}.ActorConsumer(j.id, j.epoch, g))
			if gerr != nil {
				j.floor = 0
				break
			}
			j.floor = min(j.floor, gc.CachedInfo().AckFloor.Stream)
		}
	}
	var acked []uint64
	for _, seq := range j.seqs {
		if seq <= j.floor {
			acked = append(acked, seq)
		}
	}
	j.seqs = nil
	if err := deleteMsgs(ctx, r.c.Conn(), name, acked); err != nil {
		r.log.Debug().Err(err).Str("actor_id", j.id).Msg("reap: delete answered calls")
	}
	// From the stream's start: calls left by earlier placements are found as well.
	j.next, _ = r.answer(ctx, stream, j, 1)
	if j.durable {
		if err := dropState(ctx, r.c, j.id); err != nil {
			r.log.Warn().Err(err).Str("actor_id", j.id).Msg("reap: delete durable state")
		}
	}
	// The consumers go last, the default group's after the others: while it exists, the reap
	// is not done (checkReaped).
	_ = deleteConsumers(ctx, js, name, j.id, j.epoch, j.groups, reapRoundTimeout)
	if j.epoch > 0 && !j.bound { // a placement whose start was cut short may have left the one before
		_ = deleteConsumers(ctx, js, name, j.id, j.epoch-1, j.groups, reapRoundTimeout)
	}
	if j.name != "" {
		freeName(ctx, r.c, j.name, j.id)
	}
}

// answer reads the calls stored for j's actor from sequence from on, answers those above the
// floor with j's cause (a result already stored wins), deletes what it read, and returns the
// sequence after the last call read.
func (r *reaper) answer(ctx context.Context, stream jetstream.Stream, j *reapJob, from uint64) (uint64, error) {
	filter := namesOf(r.c).ActorFilter(j.id)
	var read []uint64
	next := from
	var err error
	for {
		var m *jetstream.RawStreamMsg
		m, err = stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(filter))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				err = nil
			}
			break
		}
		next = m.Sequence + 1
		read = append(read, m.Sequence)
		if m.Sequence <= j.floor {
			continue
		}
		if callID := m.Header.Get(wire.HeaderID); callID != "" {
			te := &framework.TaskError{Task: m.Header.Get(wire.HeaderTask), TaskID: callID, Kind: KindDied, Message: j.cause.Error()}
			if err := publishFailure(r.c, ctx, te); err != nil {
				r.log.Warn().Err(err).Str("task_id", callID).Msg("reap: publish failure")
				// Not deleted: a later reap, or MaxAge, deals with it.
				read = slices.DeleteFunc(read, func(s uint64) bool { return s == m.Sequence })
			}
		}
	}
	if err != nil {
		r.log.Warn().Err(err).Str("actor_id", j.id).Msg("reap: read calls")
	}
	if derr := deleteMsgs(ctx, r.c.Conn(), namesOf(r.c).ActorsStream(), read); derr != nil {
		r.log.Debug().Err(derr).Str("actor_id", j.id).Msg("reap: delete calls")
	}
	return next, err
}

// actorsStream returns the actors stream, looked up once.
func (r *reaper) actorsStream(ctx context.Context) (jetstream.Stream, error) {
	r.mu.Lock()
	s := r.stream
	r.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := r.c.JetStream().Stream(ctx, namesOf(r.c).ActorsStream())
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.stream = s
	r.mu.Unlock()
	return s, nil
}

// freeName deletes the binding of name if it still points to actor id.
func freeName(ctx context.Context, c *framework.Client, name, id string) {
	s, err := storeOf(ctx, c)
	if err != nil {
		return
	}
	if held, rev, ok, err := s.holder(ctx, name); err == nil && ok && held == id {
		_ = s.kv.Delete(ctx, nameKey(name), jetstream.LastRevision(rev))
	}
}
