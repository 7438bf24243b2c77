package framework

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// This file is the worker's result publishing: a result is stored, then its call is acked.
// A call has one result, forever (for the results TTL): every publish to a result subject
// carries Nats-Expected-Last-Subject-Sequence: 0, so JetStream stores only the first one.
// The worker's results carry no Nats-Msg-Id: that check already refuses a republish of the
// same result (a retry after a lost PubAck), which the worker confirms by a direct get
// (confirmAnswered), so a duplicate-window entry per result would cost the broker a map
// entry and protect nothing.

// onlyFirst makes a result publish succeed only if its subject holds no message yet.
func onlyFirst(h nats.Header) { h[jetstream.ExpectedLastSubjSeqHeader] = []string{"0"} }

// alreadyAnswered reports a publish refused by onlyFirst: the subject already holds a message
// (JetStream's "wrong last sequence", 10071, or 10164 on replicated streams).
func alreadyAnswered(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && (ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

func (w *Worker) resultMsg(d *delivery, status, codec string, data []byte) *nats.Msg {
	// No Jetray-Id: every reader takes the call ID from the subject (results.go, refs.go).
	h := make(nats.Header, 5)
	onlyFirst(h)
	h[wire.HeaderStatus] = []string{status}
	h[wire.HeaderAttempt] = []string{strconv.Itoa(d.call.Attempt)}
	h[wire.HeaderWorker] = []string{w.cfg.name}
	if codec != "" && codec != "json" {
		h[wire.HeaderCodec] = []string{codec}
	}
	if !d.deadlines.CloseBy.IsZero() {
		removeCloseSchedule(h, w.c.names, d.call.ID)
	}
	return &nats.Msg{Subject: w.c.names.ResultSubject(d.call.ID), Header: h, Data: data}
}

// publishResult stores the result; onResultAck acks the call once the broker confirms.
func (w *Worker) publishResult(d *delivery, m *nats.Msg) {
	if w.c.bigValue(len(m.Data)) && m.Header.Get(wire.HeaderObject) == "" {
		octx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err := w.c.offload(octx, m, d.call.ID+".out")
		cancel()
		if err != nil {
			w.fail(d, KindEncode, "result: "+err.Error(), nil)
			return
		}
	}
	w.owners.Store(m, d)
	for {
		_, err := w.js.PublishMsgAsync(m)
		if err == nil {
			return
		}
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			continue
		}
		w.owners.Delete(m)
		w.resultFailed(d, m, err)
		return
	}
}

// onResultAck acks the call once its result is stored.
func (w *Worker) onResultAck(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
	d, ok := w.resultOwner(m)
	if !ok {
		return
	}
	w.answered(d)
}

// answered acks and releases a call whose result is stored (its own or an earlier one).
func (w *Worker) answered(d *delivery) {
	if err := d.msg.Ack(); err != nil {
		w.callLog(d).Debug().Err(err).Msg("ack")
	}
	w.release(d)
	if name := d.inputObject; name != "" { // consumed: the call will not run again
		// After Run, the object is left to the bucket's TTL.
		w.bg.Go(func() { w.c.deleteObject(context.Background(), name) })
	}
}

// onResultError handles a result publish the broker refused or did not confirm.
func (w *Worker) onResultError(_ jetstream.JetStream, m *nats.Msg, err error) {
	d, ok := w.resultOwner(m)
	if !ok {
		return
	}
	w.resultFailed(d, m, err)
}

// resultFailed: a refused publish because the call already has a result is checked once by
// a direct get (off the publisher's callback) and the call acked; any other failure is retried.
func (w *Worker) resultFailed(d *delivery, m *nats.Msg, err error) {
	if alreadyAnswered(err) {
		if !w.bg.Go(func() { w.confirmAnswered(d, m, err) }) {
			w.release(d) // Run has ended: the broker redelivers the call
		}
		return
	}
	w.retryResult(d, m, err)
}

// confirmAnswered reads the result stored for d's call; if there is one, d is acked as
// answered (its own result is dropped: the first result stands). Otherwise (the read failed,
// or the stored result has just expired) the publish is retried like any failed one.
func (w *Worker) confirmAnswered(d *delivery, m *nats.Msg, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.c.cfg.callTimeout)
	found, gerr := w.c.resultStored(ctx, d.call.ID)
	cancel()
	if gerr == nil && found {
		w.callLog(d).Debug().Msg("call already answered; its stored result stands")
		w.answered(d)
		return
	}
	if gerr != nil {
		err = gerr
	}
	w.retryResult(d, m, err)
}

// retryResult republishes a result whose publish failed, with backoff, up to 8 tries; then
// the call is left unacknowledged so the broker redelivers it.
func (w *Worker) retryResult(d *delivery, m *nats.Msg, err error) {
	d.tries++
	if d.tries > 8 {
		w.callLog(d).Error().Err(err).Msg("result not stored; call left for redelivery")
		w.release(d)
		return
	}
	delay := min(time.Duration(1<<d.tries)*25*time.Millisecond, 3*time.Second)
	if !w.bg.Go(func() {
		t := time.NewTimer(delay)
		<-t.C
		w.publishResult(d, m)
	}) {
		w.release(d) // Run has ended: the broker redelivers the call
	}
}

// resultOwner recovers the delivery a result message belongs to.
func (w *Worker) resultOwner(m *nats.Msg) (*delivery, bool) {
	d, ok := w.owners.LoadAndDelete(m)
	if !ok {
		return nil, false
	}
	return d.(*delivery), true
}

// expired terminates, without running it, a call the broker stored longer ago than the
// results TTL (the results stream's MaxAge): a result it had then is gone, so storing one now
// could give the call a second result. It reports whether d was terminated.
func (w *Worker) expired(d *delivery, storedAt time.Time) bool {
	ttl := w.c.resultsTTL()
	if ttl <= 0 || storedAt.IsZero() {
		return false
	}
	age := time.Since(storedAt)
	if age <= ttl {
		return false
	}
	w.callLog(d).Warn().Str("task_id", d.msg.Headers().Get(wire.HeaderID)).Dur("age", age).Dur("ttl", ttl).
		Msg("call older than the results TTL; terminated without running")
	if err := d.msg.TermWithReason("older than the results TTL"); err != nil {
		w.callLog(d).Debug().Err(err).Msg("term")
	}
	w.release(d)
	return true
}
