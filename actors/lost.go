// Lost actor consumers. An actor's consumer keeps its state in memory (bind: MemoryStorage,
// Replicas 1), so it is lost when its server restarts: a single server forgets it, and a
// cluster node either recreates it empty (its assignment survives in the meta layer) or, if
// the node is gone, leaves it without a leader. The host notices from its pulls and serves the
// same instance from a new consumer under a new epoch, if the actor's record still names this
// host's lease and the lost placement's epoch (docs/architecture.md, "Lost consumers").
//
// Signs, from the pull loop (pull.go):
//   - a delivery that is a first delivery (NumDelivered 1) of a stream sequence at or below
//     one this placement was delivered before: the consumer lost its state (recreated empty);
//     the delivery is left unacked;
//   - pull requests answered only with 503 (no responders: no server serves the consumer) for
//     consumerLostAfter: gone with its server, or its node is lost;
//   - a 409 Consumer Deleted: deleted by someone else than jetray (jetray deletes an owned
//     actor's consumer only after changing its record, so the record check below then fails
//     and nothing is recreated).
//
// A broker restart also loses the worker's lease (the leases bucket is in memory): then
// checkLease re-claims the actor under the new lease, on a new consumer, as before; the
// recreation here is for a consumer lost while the lease holds (a cluster node).

package actors

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// consumerLostAfter is how long a consumer's pulls get only 503 (no responders) before it
	// is taken as lost (two 503s, pullRetryMin apart). An R1 consumer has no elections: no
	// leader means its server is gone or still starting (a false alarm costs a recreation).
	consumerLostAfter = 5 * time.Second
	// recreateParallel bounds the recreations a host runs at once.
	recreateParallel = 16
	// recreateTimeout bounds one recreation (the record update and bind's requests).
	recreateTimeout = 45 * time.Second
	// lostRetry is the wait before a recreation that failed on a broker error is tried again.
	lostRetry = 2 * time.Second
	// lostDeleteWait bounds the delete of a lost consumer before bind's own delete: a consumer
	// whose node is gone gets no answer (the meta layer removes it all the same), and bind
	// would wait 10 s for one.
	lostDeleteWait = 2 * time.Second
	// retireLookup bounds the lookup of a retired placement's consumer: one whose node is
	// lost never answers.
	retireLookup = 5 * time.Second
)

// lostFunc is told that consumer s seems lost, and why; it must not block (the pull loop
// calls it, some of the time with s.mu held).
type lostFunc func(s *pullSub, why string)

// lossWatch is what a pullSub keeps to notice its consumer is lost. Guarded by pullSub.mu.
type lossWatch struct {
	maxSeq  uint64    // highest stream sequence delivered to this consumer
	silence time.Time // first 503 since the consumer last answered; zero if it answers
}

// track notes a delivery (its ack reply) and reports whether to hand it on, with its stream
// sequence and how many deliveries of its call reached this host (arrivals; 0 if the reply
// does not say). A first delivery of a stream sequence at or below one delivered before means
// the consumer lost its state: s is stopped, reported lost, and the delivery left unacked.
func (s *pullSub) track(reply string) (seq, received uint64, ok bool) {
	delivered, seq, ok := ackSeqs(reply)
	if !ok {
		return 0, 0, true
	}
	s.mu.Lock()
	reset := !s.stopped && delivered == 1 && seq <= s.maxSeq
	s.maxSeq = max(s.maxSeq, seq)
	s.silence = time.Time{}
	if reset {
		s.unserved++
	} else {
		received = s.arrive(seq, delivered)
	}
	s.mu.Unlock()
	if reset {
		s.Stop()
		s.report("its state was lost: it delivered call " + strconv.FormatUint(seq, 10) + " again as new")
	}
	return seq, received, !reset
}

// heard notes a status of one of s's pull requests: 503s for consumerLostAfter, or a 409
// Consumer Deleted, report the consumer lost. Called with s.mu held.
func (s *pullSub) heard(code, desc string, now time.Time) {
	switch {
	case s.stopped:
	case code == "503":
		if s.silence.IsZero() {
			s.silence = now
		} else if now.Sub(s.silence) >= consumerLostAfter {
			s.report("no server serves it")
		}
	case code == "409" && strings.Contains(desc, "Consumer Deleted"):
		s.report("deleted")
	default:
		s.silence = time.Time{}
	}
}

// report tells the puller's owner that s seems lost.
func (s *pullSub) report(why string) {
	if f := s.p.lost.Load(); f != nil {
		(*f)(s, why)
	}
}

// lastDelivered returns the highest stream sequence delivered to s (0 for nil).
func (s *pullSub) lastDelivered() uint64 {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxSeq
}

// onLost has fn told of consumers that seem lost.
func (p *puller) onLost(fn lostFunc) { p.lost.Store(&fn) }

// ackSeqs returns the delivery count and the stream sequence named in a JetStream ack reply
// (the two forms of ackConsumer), without allocating.
func ackSeqs(reply string) (delivered, seq uint64, ok bool) {
	skip := 0
	switch n := strings.Count(reply, ".") + 1; {
	case n == 9:
		skip = 4 // $JS.ACK.<stream>.<consumer>.
	case n >= 12:
		skip = 6 // $JS.ACK.<domain>.<account>.<stream>.<consumer>.
	default:
		return 0, 0, false
	}
	for range skip {
		reply = reply[strings.IndexByte(reply, '.')+1:]
	}
	d, rest, _ := strings.Cut(reply, ".")
	sq, _, _ := strings.Cut(rest, ".")
	delivered, err1 := strconv.ParseUint(d, 10, 64)
	seq, err2 := strconv.ParseUint(sq, 10, 64)
	return delivered, seq, err1 == nil && err2 == nil
}

// lostQueue holds the consumers reported lost and not handled yet. The host's recreation
// loop takes them.
type lostQueue struct {
	mu   sync.Mutex
	subs map[*pullSub]lostNote
	wake chan struct{} // capacity 1
}

type lostNote struct {
	why string
	due time.Time // not before
}

// consumerLost queues s for the recreation loop. It never blocks.
func (h *host) consumerLost(s *pullSub, why string) { h.lost.add(s, why, time.Time{}) }

func (q *lostQueue) add(s *pullSub, why string, due time.Time) {
	q.mu.Lock()
	if q.subs == nil {
		q.subs = map[*pullSub]lostNote{}
	}
	if _, queued := q.subs[s]; !queued {
		q.subs[s] = lostNote{why: why, due: due}
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns the reports due at now.
func (q *lostQueue) take(now time.Time) map[*pullSub]string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var due map[*pullSub]string
	for s, n := range q.subs {
		if n.due.After(now) {
			continue
		}
		if due == nil {
			due = map[*pullSub]string{}
		}
		due[s] = n.why
		delete(q.subs, s)
	}
	return due
}

// recreateLost recreates the consumers reported lost, up to recreateParallel at a time,
// until ctx ends (Run's: the host's shutdown follows). Reports about a consumer that is not
// an instance's current one any more are dropped.
func (h *host) recreateLost(ctx context.Context) {
	t := time.NewTicker(lostRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.lost.wake:
		case <-t.C:
		}
		due := h.lost.take(time.Now())
		if len(due) == 0 {
			continue
		}
		type job struct {
			inst *instance
			s    *pullSub
			why  string
		}
		var jobs []job
		h.mu.Lock()
		for _, inst := range h.actors {
			for _, cc := range inst.subs() {
				if why, ok := due[cc]; ok && cc != nil {
					jobs = append(jobs, job{inst, cc, why})
					break // one recreation moves every group of the placement
				}
			}
		}
		h.mu.Unlock()
		var wg sync.WaitGroup
		sem := make(chan struct{}, recreateParallel)
		for _, j := range jobs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				rctx, cancel := context.WithTimeout(ctx, recreateTimeout)
				err := h.recreate(rctx, j.inst, j.s, j.why)
				cancel()
				if err != nil && ctx.Err() == nil {
					h.log.Warn().Err(err).Str("actor_id", j.inst.id).Msg("recreate lost actor consumer; retrying")
					h.lost.add(j.s, j.why, time.Now().Add(lostRetry))
				}
			})
		}
		wg.Wait()
	}
}

// recreate serves inst from new consumers under epoch + 1 after lost, a consumer of its
// current placement (any concurrency group's), was lost. Only the owner may: inst is not dead, fenced or being
// re-claimed, this host's lease is the one the placement was claimed under and is valid, and
// the record still names that lease and epoch (compare-and-swap). A host that lost its lease
// leaves inst to checkLease (re-claim or drop); a record that names anything else (taken
// over, killed) drops inst here. The new consumer starts where the placement's resume note
// started, and every call up to the highest this placement was delivered (or an earlier one
// may have answered) is checked for a stored result before it runs; calls this host started
// and has not answered count one attempt, as on a re-claim. An error means a broker request
// failed before the record changed: try again later.
func (h *host) recreate(ctx context.Context, inst *instance, lost *pullSub, why string) error {
	if !inst.beginRebind() {
		return nil // a re-claim is at work on it
	}
	defer inst.endRebind()
	inst.mu.Lock()
	lease, epoch, prior := inst.lease, inst.epoch, inst.resume
	inst.mu.Unlock()
	ccs := inst.subs()
	ours := false
	for i, cc := range ccs {
		ours = ours || cc == lost && lost.consumer == inst.lanes[i].consumer(inst.id, epoch)
	}
	if !ours || !h.owns(inst, epoch) {
		return nil // not a consumer of the placement now, or not this host's to serve
	}
	s, err := storeOf(ctx, h.w.Client())
	if err != nil {
		return err
	}
	// Every group moves to the new epoch: the lost consumer's and the others alike.
	var resume *Resume
	for i, ln := range inst.lanes {
		if ccs[i] != nil {
			ccs[i].Stop()
		}
		before := laneResume(prior, ln, epoch)
		note := &Resume{Upto: ccs[i].lastDelivered(), Check: before.bound()}
		if before != nil {
			note.From = before.From // every call below it was answered before this placement
		}
		if i == 0 {
			resume = note
		} else {
			resume.setGroup(ln.group, note)
		}
	}
	resume.withStarted(inst.startedSeqs())
	var claimed bool
	rec, err := s.update(ctx, inst.id, func(r *Record) bool {
		if r.terminal() || r.WorkerKey != lease || r.Epoch != epoch {
			return false
		}
		r.Epoch, r.Resume = epoch+1, resume
		claimed = true
		return true
	})
	if err != nil {
		return err
	}
	if !claimed {
		h.drop(inst, "its record changed while its consumer was lost")
		return nil
	}
	inst.mu.Lock()
	inst.epoch, inst.resume = rec.Epoch, resume
	inst.mu.Unlock()
	h.log.Warn().Str("actor_id", inst.id).Str("class", inst.class).Uint64("epoch", rec.Epoch).Str("why", why).
		Msg("actor consumer lost; serving from a new one")
	js := h.w.Client().JetStream()
	_ = deleteConsumers(ctx, js, h.names.ActorsStream(), inst.id, epoch, inst.groupNames(), lostDeleteWait)
	if err := h.bind(ctx, inst, lease, rec.Epoch, resume); err != nil {
		// The record names this lease and the new epoch: checkLease binds it again.
		h.log.Warn().Err(err).Str("actor_id", inst.id).Msg("bind recreated actor consumer; retrying")
		h.fence(inst)
		return nil
	}
	if inst.dead.Load() { // killed meanwhile: its reap may have looked for the consumer too early
		_ = deleteConsumers(context.WithoutCancel(ctx), js, h.names.ActorsStream(), inst.id, rec.Epoch, inst.groupNames(), lostDeleteWait)
	}
	return nil
}

// beginRebind marks inst as having its placement changed by this host (a re-claim or a
// recreation); false if one is at work already.
func (inst *instance) beginRebind() bool {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.rebind {
		return false
	}
	inst.rebind = true
	return true
}

func (inst *instance) endRebind() {
	inst.mu.Lock()
	inst.rebind = false
	inst.mu.Unlock()
}
