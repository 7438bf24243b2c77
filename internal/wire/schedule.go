package wire

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Message schedules (the server's ADR-51 scheduler) live in TasksStream under two reserved
// third tokens, in the four-token shape R.task.<token>.<token> that no TaskFilters match:
//
//	R.task._schedule.<name>      a periodic schedule named <name> (ScheduleSubject)
//	R.task._delay.<cid>+<seq>    the schedule of one delayed call (DelaySubject)
//
// The server keeps one schedule per subject and, when one is due, stores a copy of its
// payload and headers (minus its Nats-Schedule* headers) on the target subject, a task
// subject, adding HeaderScheduler (the schedule's subject) and HeaderScheduleNext. A delayed
// call's schedule carries the call's own headers and ID; a periodic schedule carries no call
// ID: each generated call is named by TickID from its schedule and the time it was due, and
// its result is stored under the reserved client ID TickClientID.

// Headers of the server's message scheduler that jetray reads or writes.
const (
	// HeaderNatsSchedule is the schedule of a schedule message: "@at <RFC 3339 time>",
	// "@every <duration>", a 6-field cron expression or a predefined name (@daily, ...).
	HeaderNatsSchedule = "Nats-Schedule"
	// HeaderNatsScheduleTarget is the subject a schedule's messages are stored on.
	HeaderNatsScheduleTarget = "Nats-Schedule-Target"
	// HeaderNatsScheduleZone is the IANA time zone of a cron schedule (absent: UTC).
	HeaderNatsScheduleZone = "Nats-Schedule-Time-Zone"
	// HeaderScheduler is set by the server on a message a schedule generated: the subject of
	// that schedule. Clients cannot publish it (except to purge a schedule).
	HeaderScheduler = "Nats-Scheduler"
	// HeaderScheduleNext is set by the server on a message a schedule generated: when the
	// schedule fires next (RFC 3339 with nanoseconds), or "purge" for a one-shot schedule.
	HeaderScheduleNext = "Nats-Schedule-Next"
	// ScheduleNextPurge is HeaderScheduleNext on the message of a one-shot schedule.
	ScheduleNextPurge = "purge"

	// HeaderSchedule is, on a periodic schedule and so on every call it generates, the
	// schedule as written in HeaderNatsSchedule (which the server strips from generated
	// messages): workers derive each call's due time, and so its ID, from it.
	HeaderSchedule = "Jetray-Schedule"
	// HeaderScheduleZone is HeaderNatsScheduleZone, kept on generated calls for the same
	// reason; absent means UTC.
	HeaderScheduleZone = "Jetray-Schedule-Zone"
)

// Reserved third tokens of the schedule subjects.
const (
	scheduleToken = "_schedule"
	delayToken    = "_delay"
	// TickClientID is the client part of every periodic call's ID (TickID), so that the
	// results of all runs share one subject prefix (TickResultsFilter): no client may use it.
	TickClientID = "_schedule"
	// tickTimeLayout is the due time in a TickID: UTC, to the second (no '-' in it).
	tickTimeLayout = "20060102T150405Z"
)

// ScheduleSubject is where periodic schedule name is kept in TasksStream:
// <root>.task._schedule.<name>. name must be a valid name (ValidName).
func (n Names) ScheduleSubject(name string) string {
	return n.root() + ".task." + scheduleToken + "." + name
}

// SchedulesFilter matches every periodic schedule: <root>.task._schedule.*.
func (n Names) SchedulesFilter() string { return n.root() + ".task." + scheduleToken + ".*" }

// ParseScheduleSubject returns the name of the periodic schedule kept on subject; ok is false
// for any other subject (a delayed call's schedule included).
func (n Names) ParseScheduleSubject(subject string) (name string, ok bool) {
	name, ok = strings.CutPrefix(subject, n.root()+".task."+scheduleToken+".")
	return name, ok && ValidName(name) == nil
}

// DelaySubject is where the schedule of delayed call id (a valid call ID) is kept in
// TasksStream: <root>.task._delay.<client id>+<seq>. '+' is in no call ID, so distinct calls
// never share a subject (the server keeps one schedule per subject).
func (n Names) DelaySubject(id string) string {
	return n.root() + ".task." + delayToken + "." + strings.Replace(id, ".", "+", 1)
}

// DelaysFilter matches the schedules of every delayed call: <root>.task._delay.*.
func (n Names) DelaysFilter() string { return n.root() + ".task." + delayToken + ".*" }

// TickID is the call ID of the call that periodic schedule name generated for the run due at
// due: "_schedule.<name>-<due in UTC as 20060102T150405Z>". Every copy of that call (the
// server may generate a run twice across a leader change) has this ID, so it has one result.
func TickID(name string, due time.Time) string {
	return TickClientID + "." + name + "-" + due.UTC().Format(tickTimeLayout)
}

// ParseTickID reads a TickID back; ok is false for any other call ID.
func ParseTickID(id string) (name string, due time.Time, ok bool) {
	rest, found := strings.CutPrefix(id, TickClientID+".")
	i := strings.LastIndexByte(rest, '-')
	if !found || i < 0 || ValidName(rest[:i]) != nil {
		return "", time.Time{}, false
	}
	due, err := time.Parse(tickTimeLayout, rest[i+1:])
	if err != nil {
		return "", time.Time{}, false
	}
	return rest[:i], due, true
}

// TickResultsFilter matches the results of every run of every periodic schedule:
// <root>.result._schedule.>.
func (n Names) TickResultsFilter() string { return n.root() + ".result." + TickClientID + ".>" }

// Schedule is a periodic schedule as the server's scheduler reads it: "@every <duration>"
// (whole seconds, at least 1 s) or a cron expression with its time zone. Build it with
// ParseSchedule; the zero value is not a schedule.
type Schedule struct {
	spec  string
	zone  string
	every time.Duration
	cron  *cronSpec
}

// ParseSchedule reads spec ("@every 1m", "0 0 2 * * *", "@daily", ...) with time zone zone
// (an IANA name, only for cron; "" is UTC). "@at" is not a periodic schedule. Errors wrap
// ErrBadSchedule.
func ParseSchedule(spec, zone string) (Schedule, error) {
	s := Schedule{spec: spec, zone: zone}
	if strings.HasPrefix(spec, "@at ") {
		return Schedule{}, fmt.Errorf("%w: %q is a one-shot time, not a periodic schedule", ErrBadSchedule, spec)
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		if zone != "" {
			return Schedule{}, fmt.Errorf("%w: a time zone applies to cron schedules only, not %q", ErrBadSchedule, spec)
		}
		every, err := time.ParseDuration(d)
		if err != nil || every < time.Second || every%time.Second != 0 {
			return Schedule{}, fmt.Errorf("%w: %q: the interval must be a whole number of seconds, at least 1s", ErrBadSchedule, spec)
		}
		s.every = every
		return s, nil
	}
	var loc *time.Location
	if zone != "" {
		var err error
		if loc, err = time.LoadLocation(zone); err != nil {
			return Schedule{}, fmt.Errorf("%w: time zone %q: %v", ErrBadSchedule, zone, err)
		}
	}
	c, err := parseCron(spec, loc)
	if err != nil {
		return Schedule{}, fmt.Errorf("%w: %q: %v", ErrBadSchedule, spec, err)
	}
	if _, err := c.next(time.Now()); err != nil {
		return Schedule{}, fmt.Errorf("%w: %q: %v", ErrBadSchedule, spec, err)
	}
	s.cron = c
	return s, nil
}

// Spec returns the schedule as written in HeaderNatsSchedule.
func (s Schedule) Spec() string { return s.spec }

// Zone returns the cron time zone, "" for UTC.
func (s Schedule) Zone() string { return s.zone }

// Every returns the interval of an "@every" schedule, 0 for cron.
func (s Schedule) Every() time.Duration { return s.every }

// Next returns the first run after t. An interval schedule runs at round(stored) + k*every,
// stored being when the broker stored the schedule (the server's rule); the server moves that
// phase when it fires a run late (a broker restart, a leader change), so for an interval Next
// is exact only until then. A cron schedule's runs are fixed by the expression. The zero time
// if there is none within five years.
func (s Schedule) Next(stored, t time.Time) time.Time {
	if s.every > 0 {
		first := stored.Round(time.Second).Add(s.every)
		if first.After(t) {
			return first
		}
		k := t.Sub(first)/s.every + 1
		return first.Add(k * s.every)
	}
	if s.cron == nil {
		return time.Time{}
	}
	next, err := s.cron.next(t)
	if err != nil {
		return time.Time{}
	}
	return next
}

// Due returns the time the run was due whose generated call names next as the schedule's
// following run (HeaderScheduleNext): next - every for an interval, the last cron time before
// next for cron. Copies of one run carry the same next, so they get the same due time.
func (s Schedule) Due(next time.Time) (time.Time, error) {
	if s.every > 0 {
		return next.Add(-s.every), nil
	}
	if s.cron == nil {
		return time.Time{}, fmt.Errorf("%w: no schedule", ErrBadSchedule)
	}
	due, err := s.cron.prev(next)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q: no run before %s: %v", ErrBadSchedule, s.spec, next.Format(time.RFC3339), err)
	}
	return due, nil
}

// TickCall reads a message a periodic schedule of this namespace generated: its call ID
// (TickID of the schedule and the run's due time). ok is false for a message no periodic
// schedule generated (no HeaderScheduler, a one-shot schedule's purge marker, or another
// subject); err is set when it is one but its headers cannot be read (then it wraps
// ErrBadSchedule).
func (n Names) TickCall(h nats.Header) (id string, ok bool, err error) {
	scheduler := h.Get(HeaderScheduler)
	if scheduler == "" {
		return "", false, nil
	}
	name, isPeriodic := n.ParseScheduleSubject(scheduler)
	next := h.Get(HeaderScheduleNext)
	if !isPeriodic || next == ScheduleNextPurge {
		return "", false, nil
	}
	s, err := ParseSchedule(h.Get(HeaderSchedule), h.Get(HeaderScheduleZone))
	if err != nil {
		return "", true, err
	}
	at, err := time.Parse(time.RFC3339Nano, next)
	if err != nil {
		return "", true, fmt.Errorf("%w: %s %q: %v", ErrBadSchedule, HeaderScheduleNext, next, err)
	}
	due, err := s.Due(at)
	if err != nil {
		return "", true, err
	}
	return TickID(name, due), true, nil
}

// AtSpec is the HeaderNatsSchedule value of a one-shot schedule due at t: "@at " and t in UTC
// in RFC 3339 with nanoseconds (the server's parser reads the fraction; nats.go's
// WithScheduleAt writes whole seconds only).
func AtSpec(t time.Time) string { return "@at " + t.UTC().Format(time.RFC3339Nano) }

// EverySpec is the HeaderNatsSchedule value of an interval: "@every <d>" with d in Go's
// duration syntax.
func EverySpec(d time.Duration) string { return "@every " + d.String() }
