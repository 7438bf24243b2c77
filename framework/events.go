package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// Task state recording: a worker publishes a small event per call transition to
// jetray.events.task.<call id>, with core NATS (no ack, no wait). JETRAY_EVENTS keeps one
// message per subject, so it holds the latest state of every call of the last EventsMaxAge:
// what `driver list tasks` and the dashboard read. A submitted call without an event is
// pending.
const (
	// EventsStream is the limits stream of task state events, one (the latest) per call.
	EventsStream = "JETRAY_EVENTS"
	// EventSubjectPrefix prefixes event subjects: jetray.events.task.<call id>.
	EventSubjectPrefix = "jetray.events.task."
	// EventsMaxAge is how long JETRAY_EVENTS keeps a call's latest state.
	EventsMaxAge = time.Hour
	// EventsMaxBytes bounds JETRAY_EVENTS, held in memory (it is observability data, lost on
	// a server restart); the oldest events go first.
	EventsMaxBytes = 256 << 20
)

// Task states, as recorded in JETRAY_EVENTS (Ray's names where Ray has one).
const (
	TaskPending  = "PENDING"  // submitted, not started (implied: no event yet)
	TaskRunning  = "RUNNING"  // an attempt is running on Worker
	TaskRetrying = "RETRYING" // an attempt failed with ErrorKind; another is scheduled
	TaskFinished = "FINISHED" // answered with a value
	TaskFailed   = "FAILED"   // answered with an error of ErrorKind
)

// TaskEvent is the latest recorded state of one call.
type TaskEvent struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`            // task name, or Class.method for actor calls
	Actor     string    `json:"actor,omitempty"` // the actor ID, for actor calls
	State     string    `json:"state"`
	Attempt   int       `json:"attempt"`
	Worker    string    `json:"worker"`
	ErrorKind Kind      `json:"error_kind,omitempty"` // a TaskError Kind
	Error     string    `json:"error,omitempty"`      // the error's first line, at most 200 bytes
	Started   time.Time `json:"started,omitzero"`     // when the attempt started
	Time      time.Time `json:"time"`                 // when the event was recorded
}

// WithTaskEvents turns task state recording in JETRAY_EVENTS on or off. Default on; it costs
// one core NATS publish of about 200 bytes per call (two for calls running past
// RunningEventDelay).
func WithTaskEvents(on bool) WorkerOption { return func(c *workerConfig) { c.noTaskEvents = !on } }

// eventsStreamConfig is JETRAY_EVENTS as Connect creates it.
func (c *Client) eventsStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              c.names.EventsStream(),
		Description:       "jetray task state events: the latest per call, for listing and the dashboard",
		Subjects:          []string{c.names.EventsStreamSubject()},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.MemoryStorage,
		Replicas:          c.cfg.replicas,
		MaxAge:            EventsMaxAge,
		MaxBytes:          EventsMaxBytes,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		AllowDirect:       true,
	}
}

// RunningEventDelay is how long a call runs before its RUNNING event is published: shorter
// calls go from pending straight to FINISHED or FAILED. Recording RUNNING for every call
// doubled the stored events and, with one message kept per subject, made the server delete
// each RUNNING event again: tasks-async throughput fell by a third; so RUNNING is sampled
// this way, for the calls one can see running. The worker's sweep (runningEvents) looks every
// RunningEventDelay/2, so a call's RUNNING event follows its start by 250 to 375 ms.
const RunningEventDelay = 250 * time.Millisecond

// taskRun is the task-event state of one delivery.
type taskRun struct {
	mu       sync.Mutex
	started  time.Time // when the attempt started; zero: not started
	running  bool      // RUNNING was published
	answered bool      // a later state was published: RUNNING must not follow it
}

// taskEvent records d's new state. It never blocks on the broker and never fails the call.
// RUNNING is only noted here: the worker's sweep publishes it if the call still runs after
// RunningEventDelay (one sweep per worker, rather than a timer armed and stopped per call).
func (w *Worker) taskEvent(d *delivery, state string, kind Kind, msg string) {
	if w.cfg.noTaskEvents || d.call == nil || d.call.ID == "" {
		return
	}
	r := &d.events
	r.mu.Lock()
	defer r.mu.Unlock()
	if state == TaskRunning {
		r.started = time.Now()
		return
	}
	r.answered = true
	w.publishTaskEvent(d, state, kind, msg)
}

// runningEvents publishes, every RunningEventDelay/2 until done closes, the RUNNING event of
// each held call that has run for RunningEventDelay without a later state. Owner: Worker.Run,
// beside the heartbeat; not started with WithTaskEvents(false).
func (w *Worker) runningEvents(done <-chan struct{}) {
	t := time.NewTicker(RunningEventDelay / 2)
	defer t.Stop()
	var batch []*delivery
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if w.inflight.Load() == 0 { // nothing runs: nothing to record
			continue
		}
		batch = batch[:0]
		w.heldMu.Lock()
		for d := range w.held {
			batch = append(batch, d)
		}
		w.heldMu.Unlock()
		now := time.Now()
		for _, d := range batch {
			r := &d.events
			r.mu.Lock()
			if !r.started.IsZero() && !r.running && !r.answered && now.Sub(r.started) >= RunningEventDelay {
				r.running = true
				w.publishTaskEvent(d, TaskRunning, "", "")
			}
			r.mu.Unlock()
		}
		clear(batch) // no delivery is kept past its release
	}
}

// publishTaskEvent publishes d's event with core NATS; d.events.mu is held.
func (w *Worker) publishTaskEvent(d *delivery, state string, kind Kind, msg string) {
	b := appendTaskEvent(make([]byte, 0, 256), d.call.ID, d.name, d.msg.Headers().Get(wire.HeaderActor), state,
		d.call.Attempt, w.cfg.name, kind, msg, d.events.started, time.Now())
	if err := w.c.nc.Publish(w.c.names.EventSubject(d.call.ID), b); err != nil {
		w.log.Debug().Err(err).Str("task_id", d.call.ID).Msg("task event not published")
	}
}

// appendTaskEvent appends the TaskEvent JSON of one call transition to b: the bytes
// json.Marshal writes for the same TaskEvent, without its reflection and allocations (this
// runs for every call). The error text is cut to its first line by shortError; actor, kind
// and a zero started are omitted.
func appendTaskEvent(b []byte, id, name, actor, state string, attempt int, worker string, kind Kind, msg string, started, now time.Time) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, name)
	if actor != "" {
		b = append(b, `,"actor":`...)
		b = appendJSONString(b, actor)
	}
	b = append(b, `,"state":`...)
	b = appendJSONString(b, state)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(attempt), 10)
	b = append(b, `,"worker":`...)
	b = appendJSONString(b, worker)
	if kind != "" {
		b = append(b, `,"error_kind":`...)
		b = appendJSONString(b, string(kind))
		if msg = shortError(msg); msg != "" {
			b = append(b, `,"error":`...)
			b = appendJSONString(b, msg)
		}
	}
	if !started.IsZero() {
		b = append(b, `,"started":"`...)
		b = started.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `"}`...)
	return b
}

// appendJSONString appends s as a JSON string, escaped as encoding/json escapes it: quote,
// backslash and control characters, <, > and & (HTML-safe), U+2028 and U+2029; each byte of
// invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control characters, and <, > and &
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// shortError is msg's first line, cut to 200 bytes.
func shortError(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:197], "") + "..."
	}
	return msg
}

// TaskEvents returns the latest recorded state of the calls in JETRAY_EVENTS, oldest event
// first: all of them, or with limit > 0 those among the last limit events of the stream.
// Calls recorded by workers with WithTaskEvents(false) and calls not started yet are absent.
// Errors: JETRAY_EVENTS cannot be read.
func TaskEvents(ctx context.Context, c *Client, limit int) ([]TaskEvent, error) {
	s, err := c.js.Stream(ctx, c.names.EventsStream())
	if err != nil {
		return nil, fmt.Errorf("jetray: %s: %w", c.names.EventsStream(), err)
	}
	st := s.CachedInfo().State
	if st.Msgs == 0 {
		return nil, nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{c.names.EventsStreamSubject()}}
	if limit > 0 && st.LastSeq >= uint64(limit) && st.LastSeq-uint64(limit)+1 > st.FirstSeq {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = st.LastSeq - uint64(limit) + 1
	}
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("jetray: read %s: %w", c.names.EventsStream(), err)
	}
	var out []TaskEvent
	for {
		batch, err := cons.FetchNoWait(512)
		if err != nil {
			return nil, fmt.Errorf("jetray: read %s: %w", c.names.EventsStream(), err)
		}
		n := 0
		var pending uint64
		for m := range batch.Messages() {
			n++
			var ev TaskEvent
			if json.Unmarshal(m.Data(), &ev) == nil {
				out = append(out, ev)
			}
			if meta, err := m.Metadata(); err == nil {
				pending = meta.NumPending
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("jetray: read %s: %w", c.names.EventsStream(), err)
		}
		if n == 0 || pending == 0 {
			return out, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}
