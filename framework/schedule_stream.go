// The tasks stream's message schedules: whether the stream allows them, turning them on for a
// stream made without them, and removing a schedule. Owner: Connect makes the client's
// scheduling once; its fields are final once ready is closed.

package framework

import (
	"context"
	"fmt"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// scheduling is what a client knows of the tasks stream's message schedules. ok and tasks
// are written before ready is closed and never after.
type scheduling struct {
	ready chan struct{}
	ok    bool             // the stream allows message schedules (and direct gets)
	tasks jetstream.Stream // the tasks stream, with its configuration as last read
}

// allowTaskSchedules returns the client's scheduling of tasks stream s, turning message schedules
// (and direct gets, with which schedules are read) on for it if it was made without them, by
// a build before schedules or by an admin, as every client does at Connect. The server never
// turns schedules off again; turning them on also allows roll-ups, which schedules need. The
// update runs in the background: a client without the right to update the stream waits for
// its request to time out (the client's request timeout, logged), and only delayed calls and
// schedule operations wait for it (schedulesStream); they fail with ErrSchedulesDisabled if it
// failed.
func (c *Client) allowTaskSchedules(s jetstream.Stream) *scheduling {
	sc := &scheduling{ready: make(chan struct{}), tasks: s}
	cfg := s.CachedInfo().Config
	if cfg.AllowMsgSchedules && cfg.AllowDirect {
		sc.ok = true
		close(sc.ready)
		return sc
	}
	if !c.bg.Go(func() {
		defer close(sc.ready)
		ctx, cancel := context.WithTimeout(c.closeCtx, c.cfg.callTimeout)
		defer cancel()
		cfg.AllowMsgSchedules, cfg.AllowDirect = true, true
		updated, err := c.js.UpdateStream(ctx, cfg)
		if err != nil {
			c.log.Warn().Err(err).Str("stream", cfg.Name).
				Msg("cannot allow message schedules on the tasks stream: delayed calls and schedules fail until a client with the rights to update it connects")
			return
		}
		sc.ok, sc.tasks = true, updated
	}) {
		close(sc.ready)
	}
	return sc
}

// schedulesStream returns the tasks stream once it is known to allow message schedules,
// waiting (at most ctx) for allowTaskSchedules to finish; ErrSchedulesDisabled if it does not.
func (c *Client) schedulesStream(ctx context.Context) (jetstream.Stream, error) {
	select {
	case <-c.sched.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !c.sched.ok {
		return nil, fmt.Errorf("%w: %s", ErrSchedulesDisabled, c.names.TasksStream())
	}
	return c.sched.tasks, nil
}

// unschedule removes the schedule kept on subject (a periodic schedule's or a delayed call's)
// with the server's own purge request: a message carrying Nats-Scheduler: <subject> and
// Nats-Schedule-Next: purge, published on TasksUnscheduleSubject (where no consumer takes it;
// it rolls up the one before it and expires after a second where the stream allows TTLs), so
// a client needs only the right to publish on the tasks subjects, not to purge the stream.
// Nothing happens for a subject without a schedule.
func (c *Client) unschedule(ctx context.Context, subject string) error {
	tasks, err := c.schedulesStream(ctx)
	if err != nil {
		return err
	}
	h := nats.Header{
		wire.HeaderScheduler:    []string{subject},
		wire.HeaderScheduleNext: []string{wire.ScheduleNextPurge},
		jetstream.MsgRollup:     []string{jetstream.MsgRollupSubject},
		jetstream.MsgTTLHeader:  []string{"1s"},
	}
	if !tasks.CachedInfo().Config.AllowMsgTTL {
		delete(h, jetstream.MsgTTLHeader)
	}
	_, err = c.js.PublishMsg(ctx, &nats.Msg{Subject: c.names.TasksUnscheduleSubject(), Header: h})
	return err
}
