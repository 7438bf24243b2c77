package wire

import (
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Headers of calls with deadlines (framework.StartWithin, framework.FinishWithin) and of the
// deadline schedules their submitter stores in ResultsStream.
const (
	// HeaderStartBy is, on a call, the instant by which it must start, in Unix milliseconds;
	// absent means no start deadline.
	HeaderStartBy = "Jetray-Start-By"
	// HeaderCloseBy is, on a call, the instant by which it must have its result, in Unix
	// milliseconds; absent means no such deadline.
	HeaderCloseBy = "Jetray-Close-By"
	// HeaderStartSchedule is, on a call with HeaderStartBy, the ResultsStream sequence of its
	// start schedule (StartScheduleSubject), in decimal: the worker that starts the call
	// removes that schedule on the condition that it is still that message.
	HeaderStartSchedule = "Jetray-Start-Schedule"
	// HeaderDeadline is DeadlineStart or DeadlineClose on a deadline schedule message, and
	// therefore on the result the broker stores when the schedule fires (it copies the
	// schedule's headers). No other result carries it.
	HeaderDeadline = "Jetray-Deadline"
)

// Values of HeaderDeadline.
const (
	DeadlineStart = "start" // the call did not start by HeaderStartBy
	DeadlineClose = "close" // the call had no result by HeaderCloseBy
)

// Deadlines are the absolute deadlines of one call, set by its submitter from the call's
// options and the time of submission. The zero value means none.
type Deadlines struct {
	// StartBy is when the call must have started; zero: no start deadline.
	StartBy time.Time
	// CloseBy is when the call must have its result; zero: no such deadline.
	CloseBy time.Time
	// StartSchedule is the ResultsStream sequence of the start schedule (0: none).
	StartSchedule uint64
}

// IsZero reports whether d sets no deadline.
func (d Deadlines) IsZero() bool { return d.StartBy.IsZero() && d.CloseBy.IsZero() }

// Encode writes d into h: HeaderStartBy and HeaderCloseBy in Unix milliseconds when set,
// HeaderStartSchedule when not 0. It writes nothing for the zero value.
func (d Deadlines) Encode(h nats.Header) {
	if !d.StartBy.IsZero() {
		h[HeaderStartBy] = []string{strconv.FormatInt(d.StartBy.UnixMilli(), 10)}
	}
	if !d.CloseBy.IsZero() {
		h[HeaderCloseBy] = []string{strconv.FormatInt(d.CloseBy.UnixMilli(), 10)}
	}
	if d.StartSchedule != 0 {
		h[HeaderStartSchedule] = []string{strconv.FormatUint(d.StartSchedule, 10)}
	}
}

// DecodeDeadlines reads the deadlines of a call from its headers; a call without them (every
// call of a build before deadlines) reads as the zero value, after two map lookups. Errors:
// a *HeaderError (errors.Is ErrBadHeader) when a header is not a non-negative integer; a
// worker answers such a call with kind badcall.
func DecodeDeadlines(h nats.Header) (Deadlines, error) {
	var d Deadlines
	sb, cb := h[HeaderStartBy], h[HeaderCloseBy]
	if len(sb) == 0 && len(cb) == 0 {
		return d, nil
	}
	ms := func(name string, v []string) (time.Time, error) {
		if len(v) == 0 || v[0] == "" {
			return time.Time{}, nil
		}
		n, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, &HeaderError{Header: name, Value: v[0], Reason: strconv.Quote(v[0]) + " is not a time in Unix milliseconds"}
		}
		return time.UnixMilli(n), nil
	}
	var err error
	if d.StartBy, err = ms(HeaderStartBy, sb); err != nil {
		return Deadlines{}, err
	}
	if d.CloseBy, err = ms(HeaderCloseBy, cb); err != nil {
		return Deadlines{}, err
	}
	if v := h.Get(HeaderStartSchedule); v != "" {
		if d.StartSchedule, err = strconv.ParseUint(v, 10, 64); err != nil {
			return Deadlines{}, &HeaderError{Header: HeaderStartSchedule, Value: v, Reason: strconv.Quote(v) + " is not a stream sequence"}
		}
	}
	return d, nil
}

// StartScheduleSubject is where the submitter of call id stores its start schedule, a
// JetStream message schedule ("@at" the start deadline) whose target is ResultSubject(id):
// <root>.result.<call id>._start. Stream values have numeric last tokens, so no value
// subject is ever a schedule subject.
func (n Names) StartScheduleSubject(id string) string { return n.root() + ".result." + id + "._start" }

// CloseScheduleSubject is where the submitter of call id stores its close schedule ("@at" the
// close deadline, target ResultSubject(id)): <root>.result.<call id>._close.
func (n Names) CloseScheduleSubject(id string) string { return n.root() + ".result." + id + "._close" }

// StartedSubject is where the worker that starts call id records the start, removing the
// start schedule in the same message: <root>.result.<call id>._started. It holds at most one
// message per call.
func (n Names) StartedSubject(id string) string { return n.root() + ".result." + id + "._started" }
