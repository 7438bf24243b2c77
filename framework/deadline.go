// Deadlines, the submitter's side: StartWithin (schedule-to-start) and FinishWithin
// (schedule-to-close). A call with a deadline is failed AT its deadline by the broker itself,
// whoever is still running: its submitter stores, before the call, a JetStream message
// schedule ("@at" the deadline) in the results stream whose target is the call's result
// subject and whose payload is the call's deadline failure. If the schedule is still there
// at the deadline, the broker stores that failure as the call's result; with no submitter
// and no worker alive, and across broker restarts (schedules are stream messages).
//
// Who removes a schedule before it fires: the worker that starts the call removes the start
// schedule (deadline_worker.go), on the condition that it is still there, which decides
// "started in time"; the call's result removes the close schedule in the same publish. A
// message the broker generates from a schedule carries no expected-sequence check, so a
// schedule that fires at the very moment a result is stored can add a second message to the
// result subject: readers take the first message of the subject (fetchResult), which is
// first writer wins.

package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StartWithin fails the call with ErrDeadline (a TaskError of KindDeadline) if no worker
// has started it within d of its submission: Temporal's ScheduleToStart. The call is never
// run after that, and the failure is stored as its result at the deadline (within about a
// second), even when no worker serves the name and its submitter has exited. Default: none;
// d <= 0 removes it. A started call is not bound by it (retries after a start are not
// checked again). d must not exceed the results TTL: Remote fails the future otherwise.
func StartWithin(d time.Duration) TaskOption {
	return func(c *taskConfig) { c.StartWithin = max(d, 0) }
}

// FinishWithin fails the call with ErrDeadline (KindDeadline) if it has no result within d
// of its submission, however far it got: Temporal's ScheduleToClose. At the deadline the
// failure is stored as the call's result (first writer wins against a result stored at the
// same moment), a call not yet started never runs, and a running one is cancelled as by
// Cancel: its ctx is cancelled with cause ErrDeadline (its ctx's Deadline is d after
// submission), it is not retried, whatever it returns its result is the deadline failure,
// and the calls it submitted are cancelled. Retries count within d. Default: none; d <= 0
// removes it. d must not exceed the results TTL.
func FinishWithin(d time.Duration) TaskOption {
	return func(c *taskConfig) { c.FinishWithin = max(d, 0) }
}

// schedulePurge is the Nats-Schedule-Next value of a message that deletes the schedule its
// Nats-Scheduler header names, in the same publish (ADR-51).
const schedulePurge = "purge"

// setDeadlines turns spec's relative deadlines into absolute ones from now (a delayed call's
// start time). Errors: a deadline further out than the results TTL (the schedule, a message
// of the results stream, would be gone before it fires, and so would the call's result).
func (c *Client) setDeadlines(spec *callSpec, now time.Time) error {
	ttl := c.resultsTTL()
	for _, d := range []time.Duration{spec.cfg.StartWithin, spec.cfg.FinishWithin} {
		// now is later than the present for a delayed call: its deadlines count from its start.
		if ttl > 0 && time.Until(now.Add(d)) > ttl {
			return fmt.Errorf("jetray: submit %s: deadline %v exceeds the results TTL %v", spec.name, d, ttl)
		}
	}
	if d := spec.cfg.StartWithin; d > 0 {
		spec.deadlines.StartBy = now.Add(d)
	}
	if d := spec.cfg.FinishWithin; d > 0 {
		spec.deadlines.CloseBy = now.Add(d)
	}
	if !spec.deadlines.CloseBy.IsZero() && !spec.deadlines.StartBy.Before(spec.deadlines.CloseBy) {
		spec.deadlines.StartBy = time.Time{} // the close deadline comes first and covers the start
	}
	return nil
}

// scheduleDeadlines stores the deadline schedules of spec's call before the call itself is
// published, and records the start schedule's sequence in spec.deadlines. A failure leaves
// nothing that could fail a call never published but a schedule whose result subject no one
// reads.
func (c *Client) scheduleDeadlines(ctx context.Context, spec *callSpec) error {
	dl := &spec.deadlines
	if !dl.CloseBy.IsZero() {
		why := fmt.Sprintf("%v: no result within %v of its submission (by %s)", ErrDeadline, spec.cfg.FinishWithin,
			dl.CloseBy.UTC().Format(time.RFC3339Nano))
		if _, err := c.publishDeadline(ctx, spec, wire.DeadlineClose, dl.CloseBy, c.names.CloseScheduleSubject(spec.id), why); err != nil {
			return err
		}
	}
	if !dl.StartBy.IsZero() {
		why := fmt.Sprintf("%v: not started within %v of its submission (by %s)", ErrDeadline, spec.cfg.StartWithin,
			dl.StartBy.UTC().Format(time.RFC3339Nano))
		seq, err := c.publishDeadline(ctx, spec, wire.DeadlineStart, dl.StartBy, c.names.StartScheduleSubject(spec.id), why)
		if err != nil {
			return err
		}
		dl.StartSchedule = seq
	}
	return nil
}

// publishDeadline stores one deadline schedule: at at, the broker stores its payload (the
// call's KindDeadline TaskError) on the call's result subject, and deletes the schedule.
func (c *Client) publishDeadline(ctx context.Context, spec *callSpec, which string, at time.Time, subject, why string) (uint64, error) {
	data, _ := json.Marshal(&TaskError{Task: spec.name, TaskID: spec.id, Kind: KindDeadline, Message: why})
	h := nats.Header{
		// Written here rather than with jetstream.WithScheduleAt, whose "@at" drops the
		// fraction of a second; the server reads RFC 3339 with fractions.
		jetstream.ScheduleHeader:       []string{"@at " + at.UTC().Format(time.RFC3339Nano)},
		jetstream.ScheduleTargetHeader: []string{c.names.ResultSubject(spec.id)},
		jetstream.MsgIDHeader:          []string{spec.id + "." + which},
		wire.HeaderID:                  []string{spec.id},
		wire.HeaderStatus:              []string{wire.StatusError},
		wire.HeaderDeadline:            []string{which},
	}
	actx, cancel := c.apiContext(ctx)
	defer cancel()
	pa, err := c.js.PublishMsg(actx, &nats.Msg{Subject: subject, Header: h, Data: data})
	if errors.Is(err, jetstream.ErrMessageSchedulesDisabled) {
		return 0, fmt.Errorf("jetray: submit %s: deadlines need message schedules on stream %s (nats-server 2.12 or later; "+
			"a Connect with the rights to update the stream turns them on): %w", spec.name, c.names.ResultsStream(), err)
	}
	if err != nil {
		return 0, fmt.Errorf("jetray: submit %s: store its %s deadline: %w", spec.name, which, err)
	}
	return pa.Sequence, nil
}

// allowSchedules turns message schedules on for results stream s, made before deadlines
// existed, if it does not allow them yet. A client without the right to update the stream
// (the documented roles) leaves it as it is, and its calls with deadlines fail with an error
// that says so until an admin's Connect has done it.
func (c *Client) allowSchedules(ctx context.Context, s jetstream.Stream) {
	cfg := s.CachedInfo().Config
	if cfg.AllowMsgSchedules {
		return
	}
	cfg.AllowMsgSchedules = true
	actx, cancel := c.apiContext(ctx)
	defer cancel()
	if _, err := c.js.UpdateStream(actx, cfg); err != nil {
		c.log.Debug().Err(err).Str("stream", cfg.Name).Msg("message schedules not turned on; calls with deadlines will fail")
	}
}

// firstResult reads the first message stored on call id's result subject: its result, when
// a deadline schedule fired after the result was stored (fetchResult saw the firing last).
func (c *Client) firstResult(ctx context.Context, id string) (nats.Header, []byte, error) {
	cons, err := c.results.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{c.names.ResultSubject(id)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = c.results.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
		cancel()
	}()
	m, err := cons.Next(jetstream.FetchContext(ctx))
	if err != nil {
		return nil, nil, err
	}
	return m.Headers(), m.Data(), nil
}
