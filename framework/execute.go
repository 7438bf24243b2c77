package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/seam"
	"github.com/jetray/jetray/internal/wire"
)

// execute runs one delivery to its end: a result published (then acked), a retry scheduled,
// or the message terminated or handed back.
func (w *Worker) execute(d *delivery) {
	if w.isStopping() {
		if d.slot { // a runner: Run waits for the hand-back goroutines
			w.handBackUnstartedAsync(d)
		} else {
			w.handBackUnstarted(d)
		}
		return
	}
	hdr := d.msg.Headers()
	attempt := 1
	var queuedAt time.Time // when the broker stored the call: the queue span's start
	if meta, err := d.msg.Metadata(); err == nil {
		attempt, queuedAt = int(meta.NumDelivered), meta.Timestamp
	}
	if r, ok := d.msg.(seam.Received); ok && r.Received() > 0 { // deliveries lost on the way never ran
		attempt = min(attempt, int(r.Received()))
	}
	if w.expired(d, queuedAt) {
		return
	}
	dc := decodeCall(w.c.names, d.name, hdr, d.msg.Data(), attempt, w.c.codecs)
	if dc.outcome == decodeTerminate {
		w.terminate(d, dc.reason)
		return
	}
	call := dc.call
	if attempt > 1 { // a redelivery: deliveries handed back without running are no attempts
		attempt = w.attempt(call.ID, attempt)
		call.Attempt = attempt
	}
	d.call = call
	d.inputObject = hdr.Get(wire.HeaderObject) // deleted once the call is answered, whatever the answer
	if dc.outcome == decodeBad {
		w.fail(d, KindBadCall, dc.err.Error(), nil)
		return
	}
	id, maxRetries, timeout := call.ID, dc.opts.MaxRetries, dc.opts.Timeout
	if maxRetries >= 0 && attempt > maxRetries+1 {
		w.callLog(d).Warn().Msg("attempts exhausted after system failures")
		w.deadLetter(d, fmt.Sprintf("no result after %d attempts (worker died or lost the call)", attempt-1), attempt-1)
		kind, msg := KindLost, fmt.Sprintf("%v: no result after %d attempts (worker died or lost the call)", ErrWorkerLost, attempt-1)
		if d.lost != nil { // a runtime's own meaning of a lost call (an actor's: it died)
			kind, msg = KindError, fmt.Sprintf("%v: its worker was lost while the call ran (%d attempts)", d.lost, attempt-1)
			if k, ok := kindOfError(d.lost); ok {
				kind = k
			}
		}
		w.fail(d, kind, msg, func(te *TaskError) { te.Attempts = attempt - 1; te.Exhausted = true })
		return
	}

	if w.cw.isCancelled(id) {
		w.fail(d, KindCancelled, "cancelled before it ran", nil)
		return
	}
	d.deadlines = dc.dl
	if !dc.dl.IsZero() && !w.deadlineGate(d) {
		return
	}
	if name := hdr.Get(wire.HeaderObject); name != "" {
		octx, cancel := context.WithTimeout(w.taskCtx, 5*time.Minute)
		data, err := w.c.getObject(octx, name)
		cancel()
		if err != nil {
			w.fail(d, KindBadCall, "input: "+err.Error(), nil)
			return
		}
		call.Data = data
	}
	ctx, span := w.startExecuteSpans(w.taskCtx, call, queuedAt)
	ctx = WithCallContext(ctx, w.c, call)
	ctx = context.WithValue(context.WithValue(ctx, childHookKey, w.cw), workerKey, w)
	if d.slot {
		ctx = futures.WithBlockHook(ctx, func() func() { return d.block(w) })
	}
	if d.grant != nil {
		ctx = context.WithValue(ctx, grantKey{}, d.grant)
	}
	ctx, cancelCause := context.WithCancelCause(ctx)
	w.cw.begin(id, cancelCause)
	defer w.cw.end(id)
	cancel := context.CancelFunc(func() { cancelCause(nil) })
	if !dc.dl.CloseBy.IsZero() {
		ctx, cancel = w.withCloseDeadline(ctx, id, dc.dl.CloseBy, cancel)
	}
	if timeout > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeout(ctx, timeout)
		prev := cancel
		cancel = func() { cancelT(); prev() }
	}
	if !d.state.CompareAndSwap(stateQueued, stateRunning) {
		cancel()
		endSpan(span, nil)
		return
	}
	w.inflight.Add(1)
	start := w.cfg.metrics.callStarted(d.name, attempt)
	w.taskEvent(d, TaskRunning, "", "")
	out, err := safeInvoke(ctx, d.h, call)
	w.inflight.Add(-1)
	w.cfg.metrics.callEnded(d.name, start)
	endSpan(span, err)
	ctxErr := ctx.Err()
	cancelled := context.Cause(ctx) == ErrCancelled
	expired := context.Cause(ctx) == ErrDeadline
	cancel()
	if !d.state.CompareAndSwap(stateRunning, stateFinishing) {
		return // abandoned at the drain deadline and handed back
	}
	if errors.Is(err, seam.ErrNotOwner) {
		// A stale owner: the new owner answers the call, from its own consumer.
		w.callLog(d).Warn().Msg("call's owner lost ownership; no result stored")
		w.release(d)
		return
	}
	if errors.Is(err, ErrAlreadyAnswered) {
		// A runtime found the call's result stored by an earlier delivery: nothing to count.
		w.answered(d)
		return
	}

	if expired { // whatever the handler returned: the call is over its deadline
		w.callLog(d).Info().Msg("call's deadline passed while it ran")
		w.fail(d, KindDeadline, fmt.Sprintf("%v: no result by %s; cancelled while it ran", ErrDeadline, stamp(dc.dl.CloseBy)), nil)
		return
	}
	if err == nil {
		w.cfg.metrics.succeededCall(d.name)
		w.taskEvent(d, TaskFinished, "", "")
		w.publishResult(d, w.resultMsg(d, wire.StatusOK, call.Codec.Name(), out))
		return
	}
	if cancelled {
		w.callLog(d).Info().Msg("call cancelled while running")
		w.fail(d, KindCancelled, "cancelled while running: "+err.Error(), nil)
		return
	}
	if w.taskCtx.Err() != nil && ctxErr != nil {
		w.callLog(d).Info().Msg("call cancelled by shutdown; handed back")
		w.handBack(d)
		return
	}
	kind := KindError
	var ce *callError
	if errors.As(err, &ce) {
		kind = ce.kind
	} else if timeout > 0 && errors.Is(ctxErr, context.DeadlineExceeded) {
		kind = KindTimeout
	} else if k, ok := kindOfError(err); ok {
		kind = k // e.g. an actor the task used died: callers can still errors.Is it
	}
	code, detail := userErrorCode(err)
	retryErrors := dc.opts.RetryErrors && retrySelected(dc.opts.RetryCodes, code)
	retryable := (kind == KindError || kind == KindTimeout) && retryErrors && !isPermanent(err)
	if retryable && (maxRetries < 0 || attempt <= maxRetries) {
		delay := backoffDelay(dc.opts, attempt)
		w.callLog(d).Info().Err(err).Dur("delay", delay).Msg("retrying after error")
		w.cfg.metrics.retriedCall(d.name)
		w.taskEvent(d, TaskRetrying, kind, err.Error())
		_ = d.msg.NakWithDelay(delay)
		w.release(d)
		return
	}
	w.callLog(d).Debug().Err(err).Str("kind", string(kind)).Msg("call failed")
	if retryable {
		w.deadLetter(d, "retries exhausted: "+err.Error(), attempt)
	}
	w.fail(d, kind, err.Error(), func(te *TaskError) {
		if ce != nil && ce.stack != "" {
			te.Panic, te.Stack = true, ce.stack
		}
		te.Exhausted = retryable
		te.Code, te.Detail = code, detail
	})
}

// attempt returns the attempt number of a call delivered for the delivered-th time: the
// deliveries less those handed back without running (HandbacksBucket). If the bucket cannot
// be read, every delivery counts.
func (w *Worker) attempt(id string, delivered int) int {
	n, err := w.c.handBacks(id)
	if err != nil {
		w.log.Warn().Err(err).Str("task_id", id).Msg("hand-backs not readable; every delivery counts as an attempt")
		return delivered
	}
	return max(delivered-n, 1)
}

func (w *Worker) isStopping() bool {
	select {
	case <-w.stopCh:
		return true
	default:
		return false
	}
}

// safeInvoke runs h, turning a panic into a callError of KindPanic with the stack.
func safeInvoke(ctx context.Context, h Handler, call *Call) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &callError{kind: KindPanic, err: fmt.Errorf("panic: %v", r), stack: string(debug.Stack())}
		}
	}()
	return h(ctx, call)
}

// fail publishes an error result for d.
func (w *Worker) fail(d *delivery, kind Kind, message string, edit func(*TaskError)) {
	w.cfg.metrics.failedCall(d.name, kind)
	w.taskEvent(d, TaskFailed, kind, message)
	te := &TaskError{Task: d.name, Kind: kind, Message: message, Worker: w.cfg.name, Panic: kind == KindPanic}
	if d.call != nil {
		te.TaskID, te.Attempts = d.call.ID, d.call.Attempt
	}
	if edit != nil {
		edit(te)
	}
	data, _ := json.Marshal(te)
	w.publishResult(d, w.resultMsg(d, wire.StatusError, "", data))
}

// terminate removes a message that cannot be answered (no usable ID or reply subject).
func (w *Worker) terminate(d *delivery, reason string) {
	w.log.Warn().Str("task", d.name).Str("subject", d.msg.Subject()).Str("reason", reason).Msg("terminating bad message")
	if err := d.msg.TermWithReason(reason); err != nil {
		w.log.Debug().Err(err).Msg("term")
	}
	w.release(d)
}

// backoffDelay is exponential from the call's Backoff min to max with full jitter in the
// upper half.
func backoffDelay(o wire.CallOptions, attempt int) time.Duration {
	lo, hi := o.BackoffMin, max(o.BackoffMax, o.BackoffMin)
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier, b.RandomizationFactor = lo, hi, 2, 0.5
	b.MaxElapsedTime = 0 // never stop: MaxRetries decides
	b.Reset()
	d := b.NextBackOff()
	for i := 1; i < min(attempt, 40); i++ {
		d = b.NextBackOff()
	}
	return d
}
