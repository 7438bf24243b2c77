// Delayed calls: a task call held back until a time, kept by the broker as a one-shot message
// schedule (ADR-51 "@at") in the tasks stream, not by a timer of the client. Owner of the
// schedule: the submitting client writes it once (a resubmission is a duplicate by
// Nats-Msg-Id); the server stores the call on its task subject when it is due and purges the
// schedule; the submitter's Cancel purges it earlier.

package framework

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// Delay holds each call back until d after it is submitted (asynq's ProcessIn): the broker
// keeps it as a message schedule in JETRAY_TASKS and stores it on its task's queue when it is
// due, so it survives the submitter exiting and broker and worker restarts, and runs not
// before its time and usually within a few milliseconds of it (a schedule due less than
// 250 ms after the broker last armed its timer waits for that timer, so short delays can run
// up to about 250 ms late). A due time that passes while the broker is down runs when it is
// back. d <= 0 means no delay (the default). Delay replaces an earlier StartAt. Only task
// calls can be delayed (Task.Remote, RemoteFrom, Submit to a task name); the call's future
// and ID work as for any call, and its options (retries, timeout) apply once it runs. Errors,
// through the future: ErrSchedulesDisabled when JETRAY_TASKS does not allow message schedules;
// an input stored in the object store (above the max payload less 64 KiB) whose call would
// start after the results TTL, when the stored input would be gone.
func Delay(d time.Duration) TaskOption {
	return func(c *taskConfig) { c.Delay, c.StartAt = max(d, 0), time.Time{} }
}

// StartAt holds each call back until t (asynq's ProcessAt), as Delay does; a t that has
// passed means at once. The zero time means no start time (the default). StartAt replaces an
// earlier Delay.
func StartAt(t time.Time) TaskOption {
	return func(c *taskConfig) { c.StartAt, c.Delay = t, 0 }
}

// delayedStart returns when a call with options cfg submitted at now may start, or the zero
// time if at once (no delay, or a start time that has passed).
func delayedStart(cfg *taskConfig, now time.Time) time.Time {
	start := cfg.StartAt
	if cfg.Delay > 0 {
		start = now.Add(cfg.Delay)
	}
	if !start.After(now) {
		return time.Time{}
	}
	return start
}

// delayCall turns msg, the call of spec ready to publish on its task subject, into the
// one-shot schedule that stores it there at spec.startAt: the same headers and payload (the
// server copies them into the message it generates, less its own schedule headers),
// published on DelaySubject(id) with Nats-Schedule "@at <start>" (to the nanosecond) and the
// task subject as its target. Nats-Msg-Id stays the call ID, so a resubmission is a
// duplicate.
func (c *Client) delayCall(ctx context.Context, msg *nats.Msg, spec callSpec) error {
	start := spec.startAt
	if !strings.HasPrefix(msg.Subject, strings.TrimSuffix(c.names.TasksStreamSubject(), ">")) {
		return fmt.Errorf("jetray: only task calls can be delayed, not a call on %s", msg.Subject)
	}
	if _, err := c.schedulesStream(ctx); err != nil {
		return err
	}
	// A big input goes to the object store, whose objects live for the results TTL.
	if ttl := c.resultsTTL(); c.bigValue(len(msg.Data)) && ttl > 0 && time.Until(start) >= ttl {
		return fmt.Errorf("jetray: a delayed call whose input is in the object store must start within the results TTL (%v), not at %s",
			ttl, start.Format(time.RFC3339))
	}
	msg.Header[wire.HeaderNatsSchedule] = []string{wire.AtSpec(start)}
	msg.Header[wire.HeaderNatsScheduleTarget] = []string{msg.Subject}
	msg.Subject = c.names.DelaySubject(spec.id)
	return nil
}

// purgeDelay removes the schedule of call id, which this client submitted delayed until
// startAt, if that has not passed: a cancelled call must not be stored on its task queue
// later, when its cancellation may have expired with the results TTL. Best effort: a call
// whose schedule fired meanwhile is answered by its cancelled result. Only the submitter
// knows that a call is delayed; a call cancelled by another client is stored when due and
// answered as cancelled (within the results TTL, while its cancellation is kept).
func (c *Client) purgeDelay(ctx context.Context, id string, startAt time.Time) {
	if startAt.IsZero() || time.Now().After(startAt) {
		return
	}
	if err := c.unschedule(ctx, c.names.DelaySubject(id)); err != nil {
		c.log.Debug().Err(err).Str("task_id", id).Msg("removing a cancelled delayed call's schedule")
	}
}
