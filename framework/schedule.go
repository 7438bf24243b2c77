// Periodic schedules: a task called on an interval or a cron expression, kept by the broker as
// a message schedule (ADR-51) in the tasks stream, on the subject of its name, so that it runs
// whoever declared it and whatever process is up. Owners: any client may declare (write) a
// schedule, compare-and-swap on the subject's last sequence, never rewriting an identical
// declaration; DeleteSchedule purges it; the server alone generates its calls, on the stream
// leader. Workers name each generated call from the schedule and the run's due time.

package framework

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Spec says when a periodic schedule runs: build it with Every or Cron.
type Spec struct {
	spec, zone string
}

// Every runs a schedule every d (asynq's "@every", River's PeriodicInterval). d is a whole
// number of seconds, at least 1 s; Task.Schedule reports any other d (ErrInvalidSchedule).
// Runs fall at the time the broker stored the declaration, rounded to the second, plus
// multiples of d; a run the broker fires late (it was down, or its stream changed leader)
// restarts the count from then.
func Every(d time.Duration) Spec { return Spec{spec: wire.EverySpec(d)} }

// Cron runs a schedule at the times a cron expression names, in UTC unless In gives a time
// zone: six fields, seconds first ("0 0 2 * * *" is 02:00:00 every day), each a value, a
// range (1-5), a list (1,3), a step (*/15) or '*', months and weekdays also by name (jan,
// mon), day of month and day of week both restricting unless one is '*'; or one of @yearly,
// @monthly, @weekly, @daily, @hourly. This is the broker's cron (nats-server's message
// scheduler). Task.Schedule reports an expression it does not accept (ErrInvalidSchedule).
func Cron(expr string) Spec { return Spec{spec: strings.TrimSpace(expr)} }

// In returns s read in IANA time zone zone ("Europe/Berlin"), for cron only: "0 0 2 * * *"
// In("Europe/Berlin") runs at 02:00 Berlin time, following daylight saving. Task.Schedule
// reports an unknown zone, or a zone given to Every (ErrInvalidSchedule).
func (s Spec) In(zone string) Spec { s.zone = zone; return s }

// String returns the spec as the broker reads it ("@every 1m0s", "0 0 2 * * *"), followed by
// " in <zone>" when it has one.
func (s Spec) String() string {
	if s.zone != "" {
		return s.spec + " in " + s.zone
	}
	return s.spec
}

// Schedule declares the periodic schedule name: t is called with input in at every run of
// spec, on any worker serving t, until DeleteSchedule. Any number of processes may declare
// it, at every start: a declaration identical to the stored one (same spec, task, input and
// options) changes nothing, and in particular does not restart an interval; a different one
// replaces it (the last written wins, so processes declaring different specs under one name,
// such as during a rolling deploy, replace each other's, and each replacement restarts an
// interval). The schedule lives in the broker (JETRAY_TASKS, subject
// jetray.task._schedule.<name>): it survives every process and a broker restart, and a run
// due while the broker is down fires once when it is back.
//
// Each run is one call of t with t's options (retries, timeout); the server generates it on
// the stream's leader and may, when that leader changes at the moment of a run, generate it
// twice: both copies are one call, with ID TickID(name, due) where due is the time the run was
// due, so it has one result, readable with Client.Resolve for the results TTL; its handler
// can run more than once, as any call's can (at least once). Calls of runs that no worker
// takes wait in the queue like any call, one per run.
//
// name is a valid name (ValidName): one schedule per name per namespace. Errors:
// ErrInvalidName, ErrInvalidSchedule for a spec the broker does not accept, ErrUnknownTask
// when no worker has registered t within the client's unknown-name grace
// (WithUnknownNameGrace), ErrSchedulesDisabled, an input that does not encode or is bigger
// than the max payload less 64 KiB (a schedule's input is not put in the object store), t's
// options holding a per-call option (Delay, StartAt, StartWithin, FinishWithin,
// IdempotencyKey), or the broker's error; ctx bounds the declaration (by default the
// client's request timeout, 10 s, when it has no deadline).
func (t *Task[In, Out]) Schedule(ctx context.Context, c *Client, name string, spec Spec, in In) error {
	data, err := c.cfg.codec.Marshal(in)
	if err != nil {
		return fmt.Errorf("jetray: schedule %s: encode input of %s: %w", name, t.name, err)
	}
	return c.declareSchedule(ctx, name, spec, t.name, data, &t.cfg)
}

// declareSchedule writes the schedule message of name unless the stored one is the same: a
// compare-and-swap on the subject's last sequence, read again after a conflict.
func (c *Client) declareSchedule(ctx context.Context, name string, spec Spec, task string, data []byte, cfg *taskConfig) error {
	if err := ValidName(name); err != nil {
		return fmt.Errorf("jetray: schedule name: %w", err)
	}
	if err := ValidName(task); err != nil {
		return fmt.Errorf("jetray: schedule %s: %w", name, err)
	}
	if _, err := wire.ParseSchedule(spec.spec, spec.zone); err != nil {
		return fmt.Errorf("jetray: schedule %s: %w", name, err)
	}
	if cfg.Delay > 0 || !cfg.StartAt.IsZero() || cfg.StartWithin > 0 || cfg.FinishWithin > 0 || cfg.IdempotencyKey != "" {
		return fmt.Errorf("jetray: schedule %s: the task's options hold Delay, StartAt, StartWithin, FinishWithin or an "+
			"IdempotencyKey, which apply to one call, not to the runs of a schedule", name)
	}
	if c.bigValue(len(data)) {
		return fmt.Errorf("jetray: schedule %s: an input of %d bytes is too big for a schedule (at most the max payload %d less 64 KiB)",
			name, len(data), c.nc.MaxPayload())
	}
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	tasks, err := c.schedulesStream(ctx)
	if err != nil {
		return fmt.Errorf("jetray: schedule %s: %w", name, err)
	}
	known, err := c.checkRegistered(ctx, task)
	if err == nil && !known { // the unknown-name grace, as for a call (grace.go)
		err = fmt.Errorf("%w: %q: no worker has registered it", ErrUnknownTask, task)
		if c.cfg.unknownGrace > 0 {
			err = c.waitRegistered(ctx, task, c.cfg.unknownGrace)
		}
	}
	if err != nil {
		return fmt.Errorf("jetray: schedule %s: %w", name, err)
	}
	target := c.names.TaskSubject(task, wire.TaskRoute{})
	if cfg.route.routed() { // each run goes on the task's route (priority, placement)
		if target, err = c.routeSubject(ctx, task, &cfg.route); err != nil {
			return fmt.Errorf("jetray: schedule %s: %w", name, err)
		}
	}
	msg := c.scheduleMsg(name, spec, task, target, data, cfg)
	for {
		cur, err := c.storedSchedule(ctx, tasks, name)
		if err != nil && !errors.Is(err, ErrScheduleNotFound) {
			return err
		}
		var seq uint64
		if cur != nil {
			if sameSchedule(cur.Header, cur.Data, msg.Header, msg.Data) {
				return nil
			}
			seq = cur.Sequence
		}
		msg.Header[jetstream.ExpectedLastSubjSeqHeader] = []string{strconv.FormatUint(seq, 10)}
		_, err = c.js.PublishMsg(ctx, msg)
		if err == nil {
			return nil
		}
		if !alreadyAnswered(err) { // not a lost race: that is read again
			return fmt.Errorf("jetray: schedule %s: %w", name, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("jetray: schedule %s: %w", name, ctx.Err())
		}
	}
}

// scheduleMsg is the schedule message of name: the call's headers and payload, less a call ID
// and reply subject (each generated call gets its own), plus the server's schedule headers
// (the runs go to subject target: the task's subject on its route) and the schedule itself in
// HeaderSchedule (kept on generated calls, where workers read it).
func (c *Client) scheduleMsg(name string, spec Spec, task, target string, data []byte, cfg *taskConfig) *nats.Msg {
	h := make(nats.Header, 10)
	h[wire.HeaderNatsSchedule] = []string{spec.spec}
	h[wire.HeaderNatsScheduleTarget] = []string{target}
	h[wire.HeaderSchedule] = []string{spec.spec}
	if spec.zone != "" {
		h[wire.HeaderNatsScheduleZone] = []string{spec.zone}
		h[wire.HeaderScheduleZone] = []string{spec.zone}
	}
	h[wire.HeaderTask] = []string{task}
	if n := c.cfg.codec.Name(); n != "json" {
		h[wire.HeaderCodec] = []string{n}
	}
	cfg.Encode(h)
	return &nats.Msg{Subject: c.names.ScheduleSubject(name), Header: h, Data: data}
}

// sameSchedule reports whether two schedule messages declare the same thing: the same payload
// and the same jetray and schedule headers (the server adds others, such as Nats-Rollup).
func sameSchedule(h1 nats.Header, d1 []byte, h2 nats.Header, d2 []byte) bool {
	if string(d1) != string(d2) {
		return false
	}
	declared := func(h nats.Header) map[string]string {
		m := make(map[string]string, len(h))
		for k := range h {
			if strings.HasPrefix(k, "Jetray-") || strings.HasPrefix(k, wire.HeaderNatsSchedule) {
				m[k] = strings.Join(h.Values(k), "\x00")
			}
		}
		return m
	}
	return maps.Equal(declared(h1), declared(h2))
}

// storedSchedule reads the schedule message of name; ErrScheduleNotFound if there is none.
func (c *Client) storedSchedule(ctx context.Context, tasks jetstream.Stream, name string) (*jetstream.RawStreamMsg, error) {
	m, err := tasks.GetLastMsgForSubject(ctx, c.names.ScheduleSubject(name))
	if isNotFound(err) {
		return nil, ErrScheduleNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("jetray: schedule %s: %w", name, err)
	}
	return m, nil
}

// ScheduleInfo describes a periodic schedule (Schedules).
type ScheduleInfo struct {
	Name     string    // the schedule's name
	Spec     string    // when it runs, as the broker reads it: "@every 1m0s", "0 0 2 * * *", "@daily"
	Zone     string    // the time zone of a cron spec; "" is UTC
	Task     string    // the task each run calls
	Declared time.Time // when the broker stored the current declaration
	// Next is the next run after the listing: exact for cron; for an interval, counted from
	// Declared, so after a run the broker fired late (a broker restart, a leader change)
	// the broker's next run may differ by up to one interval. Zero if none is coming.
	Next  time.Time
	Codec string // the codec of Input
	Input []byte // each run's encoded input
}

// Schedules lists the periodic schedules of c's namespace, by name. Errors: the tasks stream
// cannot be read; ctx bounds the listing (by default the client's request timeout, 10 s, when
// it has no deadline).
func Schedules(ctx context.Context, c *Client) ([]ScheduleInfo, error) {
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	tasks, err := c.schedulesStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("jetray: schedules: %w", err)
	}
	info, err := tasks.Info(ctx, jetstream.WithSubjectFilter(c.names.SchedulesFilter()))
	if err != nil {
		return nil, fmt.Errorf("jetray: schedules: %w", err)
	}
	now := time.Now()
	out := make([]ScheduleInfo, 0, len(info.State.Subjects))
	for _, subject := range slices.Sorted(maps.Keys(info.State.Subjects)) {
		name, ok := c.names.ParseScheduleSubject(subject)
		if !ok {
			continue
		}
		m, err := c.storedSchedule(ctx, tasks, name)
		if errors.Is(err, ErrScheduleNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		si := ScheduleInfo{Name: name, Spec: m.Header.Get(wire.HeaderNatsSchedule), Zone: m.Header.Get(wire.HeaderNatsScheduleZone),
			Task: m.Header.Get(wire.HeaderTask), Declared: m.Time, Codec: m.Header.Get(wire.HeaderCodec), Input: m.Data}
		if si.Codec == "" {
			si.Codec = "json"
		}
		if s, err := wire.ParseSchedule(si.Spec, si.Zone); err == nil {
			si.Next = s.Next(m.Time, now)
		}
		out = append(out, si)
	}
	return out, nil
}

// DeleteSchedule removes the periodic schedule name: no run starts after it returns (a call of
// a run generated before stays queued and runs). It needs only the right to publish on the
// tasks subjects (it sends the broker's purge request for the schedule). Errors:
// ErrInvalidName, ErrScheduleNotFound, ErrSchedulesDisabled, the broker's error; ctx bounds
// it (by default the client's request timeout, 10 s, when it has no deadline).
func DeleteSchedule(ctx context.Context, c *Client, name string) error {
	if err := ValidName(name); err != nil {
		return fmt.Errorf("jetray: schedule name: %w", err)
	}
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	tasks, err := c.schedulesStream(ctx)
	if err == nil {
		_, err = c.storedSchedule(ctx, tasks, name)
	}
	if err == nil {
		err = c.unschedule(ctx, c.names.ScheduleSubject(name))
	}
	if err != nil {
		return fmt.Errorf("jetray: delete schedule %s: %w", name, err)
	}
	return nil
}

// TickID returns the call ID of the run of periodic schedule name due at due (UTC, to the
// second): "_schedule.<name>-<due as 20060102T150405Z>". Read a run's result with
// Client.Resolve for the results TTL. The client ID "_schedule" is reserved for these: the
// results of all runs are on jetray.result._schedule.> (in the default namespace).
func TickID(name string, due time.Time) string { return wire.TickID(name, due) }

// ParseTickID reads a call ID made by TickID: the schedule's name and the run's due time (in
// UTC). ok is false for other call IDs. A task's handler finds its own call's ID with
// CallFromContext.
func ParseTickID(id string) (name string, due time.Time, ok bool) { return wire.ParseTickID(id) }

// nameTick gives a call that a periodic schedule generated (it carries no call ID) its ID and
// reply subject, derived from the schedule and the run's due time, in hdr too, so that every
// reader of the delivery sees them. id is "" for a message no periodic schedule generated; err
// is set for one whose schedule headers cannot be read.
func nameTick(names wire.Names, hdr nats.Header) (id, reply string, err error) {
	id, ok, err := names.TickCall(hdr)
	if !ok || err != nil {
		return "", "", err
	}
	reply = names.ResultSubject(id)
	hdr[wire.HeaderID] = []string{id}
	hdr[wire.HeaderReply] = []string{reply}
	return id, reply, nil
}
