// Deadlines, the worker's side (the submitter's is deadline.go). Before a call with deadlines
// runs, deadlineGate decides whether it may: past its close deadline it may not; with a
// start deadline, the worker records the start in a message that also deletes the start
// schedule, on the condition (an expected-sequence header on the schedule's subject) that
// the schedule is still the one the submitter stored. The broker decides that condition
// against its own firing of the schedule, so "started in time" has one answer whatever the
// clocks of submitter and worker say. While it runs, the call's ctx ends at the close
// deadline with cause ErrDeadline, its children are cancelled, and its result is the
// deadline failure whatever the handler returns. Its result, whatever it is, deletes the
// close schedule in the same publish.

package framework

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// deadlineGate reports whether d's call may run given its deadlines; if not, it fails the
// call with KindDeadline (a stored deadline failure wins over this one, with the same kind).
func (w *Worker) deadlineGate(d *delivery) bool {
	dl := d.deadlines
	if !dl.CloseBy.IsZero() && !time.Now().Before(dl.CloseBy) {
		w.fail(d, KindDeadline, fmt.Sprintf("%v: no result by %s; not run", ErrDeadline, stamp(dl.CloseBy)), nil)
		return false
	}
	if dl.StartBy.IsZero() {
		return true
	}
	started, err := w.markStarted(d.call.ID, dl)
	if err != nil {
		// The broker cannot say: this worker's clock decides; a result the broker stores
		// at the deadline meanwhile still wins (one result per call).
		w.callLog(d).Warn().Err(err).Msg("start of a call with a start deadline not recorded")
		started = time.Now().Before(dl.StartBy)
	}
	if !started {
		w.fail(d, KindDeadline, fmt.Sprintf("%v: not started by %s; not run", ErrDeadline, stamp(dl.StartBy)), nil)
		return false
	}
	return true
}

// markStarted records that call id starts now, deleting its start schedule in the same
// message if it has not fired: started is true then, and also when an earlier delivery of
// the call recorded its start. It is false when the schedule fired (the call is failed, or
// is being failed, at its start deadline).
func (w *Worker) markStarted(id string, dl wire.Deadlines) (started bool, err error) {
	if dl.StartSchedule == 0 {
		return time.Now().Before(dl.StartBy), nil
	}
	sched := w.c.names.StartScheduleSubject(id)
	h := nats.Header{
		jetstream.ScheduleNextHeader:            []string{schedulePurge},
		jetstream.SchedulerHeader:               []string{sched},
		jetstream.ExpectedLastSubjSeqSubjHeader: []string{sched},
		jetstream.ExpectedLastSubjSeqHeader:     []string{strconv.FormatUint(dl.StartSchedule, 10)},
		wire.HeaderID:                           []string{id},
		wire.HeaderWorker:                       []string{w.cfg.name},
	}
	ctx, cancel := context.WithTimeout(w.taskCtx, w.c.cfg.callTimeout)
	defer cancel()
	subj := w.c.names.StartedSubject(id)
	_, err = w.js.PublishMsg(ctx, &nats.Msg{Subject: subj, Header: h})
	if err == nil {
		return true, nil
	}
	if !alreadyAnswered(err) { // not the broker's "wrong last sequence"
		return false, err
	}
	// The schedule is gone: it fired, or an earlier delivery deleted it when it started.
	_, err = w.c.results.stream.GetLastMsgForSubject(ctx, subj)
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// withCloseDeadline returns the ctx a call with close deadline closeBy runs with: it ends at
// closeBy with cause ErrDeadline, which also cancels the calls it submitted (as Cancel
// would). The returned cancel releases it and calls cancel.
func (w *Worker) withCloseDeadline(ctx context.Context, id string, closeBy time.Time, cancel context.CancelFunc) (context.Context, context.CancelFunc) {
	dctx, cancelD := context.WithDeadlineCause(ctx, closeBy, ErrDeadline)
	stop := context.AfterFunc(dctx, func() {
		if context.Cause(dctx) != ErrDeadline {
			return
		}
		if children := w.cw.childrenOf(id); len(children) > 0 {
			w.bg.Go(func() { // joined by Run
				w.cw.cancelChildren(children, fmt.Sprintf("cancelled with its parent %s: %v", id, ErrDeadline))
			})
		}
	})
	return dctx, func() { stop(); cancelD(); cancel() }
}

// childrenOf returns the calls that call id, running here, has submitted so far.
func (cw *cancelWatch) childrenOf(id string) []string {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if rc := cw.running[id]; rc != nil {
		return append([]string(nil), rc.children...)
	}
	return nil
}

// removeCloseSchedule makes the result in h delete call id's close schedule as it is stored,
// so a call answered in time leaves no schedule to fire. The broker deletes only a schedule
// (or nothing): the subject holds nothing else.
func removeCloseSchedule(h nats.Header, names wire.Names, id string) {
	h[jetstream.ScheduleNextHeader] = []string{schedulePurge}
	h[jetstream.SchedulerHeader] = []string{names.CloseScheduleSubject(id)}
}

// stamp formats a deadline for messages: UTC, RFC 3339 with milliseconds.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
