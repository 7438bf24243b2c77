package framework

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// This file is the worker's result publishing: a result is stored, then its call is acked.

func (w *Worker) resultMsg(d *delivery, status, codec string, data []byte) *nats.Msg {
	h := make(nats.Header, 6)
	h[jetstream.MsgIDHeader] = []string{d.call.ID}
	h[HeaderID] = []string{d.call.ID}
	h[HeaderStatus] = []string{status}
	h[HeaderAttempt] = []string{strconv.Itoa(d.call.Attempt)}
	h[HeaderWorker] = []string{w.cfg.name}
	if codec != "" && codec != "json" {
		h[HeaderCodec] = []string{codec}
	}
	return &nats.Msg{Subject: ResultSubject(d.call.ID), Header: h, Data: data}
}

// publishResult stores the result; onResultAck acks the call once the broker confirms.
func (w *Worker) publishResult(d *delivery, m *nats.Msg) {
	if w.c.bigValue(len(m.Data)) && m.Header.Get(HeaderObject) == "" {
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
		w.onResultErrorDirect(d, m, err)
		return
	}
}

func (w *Worker) onResultErrorDirect(d *delivery, m *nats.Msg, err error) {
	w.owners.Store(m, d)
	w.onResultError(w.js, m, err)
}

// onResultAck acks the call once its result is stored.
func (w *Worker) onResultAck(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
	d, ok := w.resultOwner(m)
	if !ok {
		return
	}
	if err := d.msg.Ack(); err != nil {
		w.callLog(d).Debug().Err(err).Msg("ack")
	}
	w.release(d)
	if d.inputObject != "" { // consumed: the call will not run again
		go w.c.deleteObject(context.Background(), d.inputObject)
	}
}

// onResultError republishes a result whose publish failed, with backoff, up to 8 tries; then
// the call is left unacknowledged so the broker redelivers it.
func (w *Worker) onResultError(_ jetstream.JetStream, m *nats.Msg, err error) {
	d, ok := w.resultOwner(m)
	if !ok {
		return
	}
	d.tries++
	if d.tries > 8 {
		w.callLog(d).Error().Err(err).Msg("result not stored; call left for redelivery")
		w.release(d)
		return
	}
	delay := min(time.Duration(1<<d.tries)*25*time.Millisecond, 3*time.Second)
	time.AfterFunc(delay, func() { w.publishResult(d, m) })
}

// resultOwner recovers the delivery a result message belongs to.
func (w *Worker) resultOwner(m *nats.Msg) (*delivery, bool) {
	d, ok := w.owners.LoadAndDelete(m)
	if !ok {
		return nil, false
	}
	return d.(*delivery), true
}
