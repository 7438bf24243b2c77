package wire_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestScheduleSubjects checks that schedule subjects live in the tasks stream of their
// namespace, are never read as calls, and are matched by no task's filters, whatever the task
// name (one named like the reserved tokens included), and that distinct calls get distinct
// delay subjects.
func TestScheduleSubjects(t *testing.T) {
	ns, _ := wire.For("t1")
	for _, tt := range []struct {
		names         wire.Names
		sched, delay  string
		schedF, delyF string
	}{
		{wire.Names{}, "jetray.task._schedule.nightly", "jetray.task._delay.c1+2s", "jetray.task._schedule.*", "jetray.task._delay.*"},
		{ns, "jetray_t1.task._schedule.nightly", "jetray_t1.task._delay.c1+2s", "jetray_t1.task._schedule.*", "jetray_t1.task._delay.*"},
	} {
		n := tt.names
		got := []string{n.ScheduleSubject("nightly"), n.DelaySubject("c1.2s"), n.SchedulesFilter(), n.DelaysFilter()}
		want := []string{tt.sched, tt.delay, tt.schedF, tt.delyF}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("namespace %q: got %q, want %q", n.Namespace(), got[i], want[i])
			}
		}
		for _, s := range []string{tt.sched, tt.delay, n.TasksUnscheduleSubject()} {
			if !subjectMatches(n.TasksStreamSubject(), s) {
				t.Errorf("%q is not in %q", s, n.TasksStreamSubject())
			}
			if _, _, err := n.ParseTaskSubject(s); !errors.Is(err, wire.ErrBadSubject) {
				t.Errorf("ParseTaskSubject(%q) = %v, want ErrBadSubject", s, err)
			}
			for _, name := range []string{"add", "_schedule", "_delay", "nightly", "_jetray"} {
				for _, f := range n.TaskFilters(name) {
					if subjectMatches(f, s) {
						t.Errorf("task %q's filter %q matches schedule subject %q", name, f, s)
					}
				}
			}
		}
		if !subjectMatches(tt.schedF, tt.sched) || subjectMatches(tt.schedF, tt.delay) || subjectMatches(tt.delyF, tt.sched) {
			t.Errorf("namespace %q: the schedule and delay filters do not separate their subjects", n.Namespace())
		}
		for _, s := range []string{n.TasksKeepSubject(), n.TasksUnscheduleSubject()} {
			if subjectMatches(tt.schedF, s) || subjectMatches(tt.delyF, s) {
				t.Errorf("namespace %q: %q is matched by the schedule or delay filter", n.Namespace(), s)
			}
		}
		if name, ok := n.ParseScheduleSubject(tt.sched); !ok || name != "nightly" {
			t.Errorf("ParseScheduleSubject(%q) = %q, %v", tt.sched, name, ok)
		}
		for _, s := range []string{tt.delay, n.TasksKeepSubject(), n.TaskSubject("add", wire.TaskRoute{}), n.ScheduleSubject("a.b")} {
			if _, ok := n.ParseScheduleSubject(s); ok {
				t.Errorf("ParseScheduleSubject(%q) read a schedule", s)
			}
		}
	}
	if _, ok := ns.ParseScheduleSubject(wire.Names{}.ScheduleSubject("x")); ok {
		t.Error("a schedule subject of the default namespace reads as one of t1")
	}
	// Call IDs whose parts differ only in where the dot is must not share a delay subject.
	if (wire.Names{}).DelaySubject("a_b.c") == (wire.Names{}).DelaySubject("a.b_c") {
		t.Error("two call IDs share a delay subject")
	}
}

func TestTickID(t *testing.T) {
	due := time.Date(2025, 1, 2, 2, 0, 0, 0, time.UTC)
	id := wire.TickID("nightly", due)
	if id != "_schedule.nightly-20250102T020000Z" {
		t.Fatalf("TickID = %q", id)
	}
	if !wire.ValidCallID(id) || !wire.ValidCallID(wire.TickID(strings.Repeat("n", wire.MaxNameLen), due)) {
		t.Fatalf("%q is not a valid call ID", id)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data")
	}
	if wire.TickID("nightly", due.In(berlin)) != id {
		t.Error("TickID depends on the time's location")
	}
	name, at, ok := wire.ParseTickID(id)
	if !ok || name != "nightly" || !at.Equal(due) {
		t.Fatalf("ParseTickID = %q %v %v", name, at, ok)
	}
	if got := (wire.Names{}).ResultSubject(id); !subjectMatches((wire.Names{}).TickResultsFilter(), got) {
		t.Errorf("result subject %q is not matched by %q", got, (wire.Names{}).TickResultsFilter())
	}
	if name, _, ok := wire.ParseTickID(wire.TickID("a-b-c", due)); !ok || name != "a-b-c" {
		t.Errorf("a name with dashes reads back as %q, %v", name, ok)
	}
	for _, bad := range []string{"abc.def", "_schedule.x-2025", "_schedule.-20250102T020000Z", "_schedule.a.b-20250102T020000Z",
		"_schedule.x20250102T020000Z", "_s.x-20250102T020000Z"} {
		if _, _, ok := wire.ParseTickID(bad); ok {
			t.Errorf("ParseTickID(%q) read a tick", bad)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		spec, zone string
		ok         bool
	}{
		{"@every 1s", "", true},
		{"@every 1m0s", "", true},
		{"@every 500ms", "", false},
		{"@every 1500ms", "", false},
		{"@every 1m", "Europe/Berlin", false},
		{"@every soon", "", false},
		{"0 0 2 * * *", "", true},
		{"0 0 2 * * *", "Europe/Berlin", true},
		{"0 0 2 * * *", "Nowhere/Else", false},
		{"*/5 * * * * mon-fri", "", true},
		{"@daily", "", true},
		{"@hourly", "", true},
		{"0 0 2 * *", "", false},
		{"0 0 25 * * *", "", false},
		{"0 0 0 30 2 *", "", false}, // 30 February never comes
		{"@at 2025-01-01T00:00:00Z", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		_, err := wire.ParseSchedule(tt.spec, tt.zone)
		if (err == nil) != tt.ok {
			t.Errorf("ParseSchedule(%q, %q) = %v, want ok %v", tt.spec, tt.zone, err, tt.ok)
		}
		if err != nil && !errors.Is(err, wire.ErrBadSchedule) {
			t.Errorf("ParseSchedule(%q, %q) = %v, want ErrBadSchedule", tt.spec, tt.zone, err)
		}
	}
}

func TestScheduleNextAndDue(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, spec, zone string
		stored, after    string // stored: when the schedule was stored (intervals only)
		next, afterNext  string // the next run after `after`, and the one after it
	}{
		{"every second", "@every 1s", "", "2025-01-01T00:00:00.4Z", "2025-01-01T00:00:05Z", "2025-01-01T00:00:06Z", "2025-01-01T00:00:07Z"},
		{"every minute, phase from stored", "@every 1m0s", "", "2025-01-01T00:00:12.6Z", "2025-01-01T00:00:20Z", "2025-01-01T00:01:13Z", "2025-01-01T00:02:13Z"},
		{"nightly", "0 0 2 * * *", "", "", "2025-01-01T02:00:00Z", "2025-01-02T02:00:00Z", "2025-01-03T02:00:00Z"},
		{"nightly in Berlin", "0 0 2 * * *", "Europe/Berlin", "", "2025-01-01T12:00:00Z", "2025-01-02T01:00:00Z", "2025-01-03T01:00:00Z"},
		{"weekdays", "0 30 9 * * mon-fri", "", "", "2025-01-03T10:00:00Z", "2025-01-06T09:30:00Z", "2025-01-07T09:30:00Z"},
		{"every 5 s", "*/5 * * * * *", "", "", "2025-01-01T00:00:03Z", "2025-01-01T00:00:05Z", "2025-01-01T00:00:10Z"},
		{"yearly", "@yearly", "", "", "2025-03-01T00:00:00Z", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"leap day", "0 0 0 29 2 *", "", "", "2025-01-01T00:00:00Z", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := wire.ParseSchedule(tt.spec, tt.zone)
			if err != nil {
				if strings.Contains(err.Error(), "time zone") {
					t.Skip("no time zone data")
				}
				t.Fatal(err)
			}
			var stored time.Time
			if tt.stored != "" {
				stored = utc(tt.stored)
			}
			next := s.Next(stored, utc(tt.after))
			if !next.Equal(utc(tt.next)) {
				t.Fatalf("Next = %v, want %s", next.UTC(), tt.next)
			}
			afterNext := s.Next(stored, next)
			if !afterNext.Equal(utc(tt.afterNext)) {
				t.Fatalf("Next after %v = %v, want %s", next.UTC(), afterNext.UTC(), tt.afterNext)
			}
			// The run due at next names afterNext as its following run: Due reads it back.
			due, err := s.Due(afterNext)
			if err != nil || !due.Equal(next) {
				t.Fatalf("Due(%v) = %v, %v; want %v", afterNext.UTC(), due.UTC(), err, next.UTC())
			}
		})
	}
}

// TestTickCall checks how a worker names the calls a schedule generates: copies of one run
// share an ID, the next run gets another, a delayed call's message is no tick, and broken
// headers are an error, not a guess.
func TestTickCall(t *testing.T) {
	n := wire.Names{}
	tick := func(scheduler, next, spec string) nats.Header {
		h := nats.Header{}
		if scheduler != "" {
			h.Set(wire.HeaderScheduler, scheduler)
		}
		h.Set(wire.HeaderScheduleNext, next)
		h.Set(wire.HeaderSchedule, spec)
		return h
	}
	sched := n.ScheduleSubject("rollup")
	id, ok, err := n.TickCall(tick(sched, "2025-01-01T00:01:00Z", "@every 1m0s"))
	if err != nil || !ok || id != "_schedule.rollup-20250101T000000Z" {
		t.Fatalf("TickCall = %q %v %v", id, ok, err)
	}
	again, _, _ := n.TickCall(tick(sched, "2025-01-01T00:01:00Z", "@every 1m0s"))
	later, _, _ := n.TickCall(tick(sched, "2025-01-01T00:02:00Z", "@every 1m0s"))
	if again != id || later == id {
		t.Fatalf("copies %q %q, next run %q", id, again, later)
	}
	if id, _, _ := n.TickCall(tick(sched, "2025-01-02T02:00:00Z", "0 0 2 * * *")); id != "_schedule.rollup-20250101T020000Z" {
		t.Fatalf("cron TickCall = %q", id)
	}
	for _, h := range []nats.Header{
		{},
		tick("", "2025-01-01T00:01:00Z", "@every 1m0s"),
		tick(n.DelaySubject("c.1"), wire.ScheduleNextPurge, ""),
		tick(sched, wire.ScheduleNextPurge, ""),
		tick("elsewhere.task._schedule.rollup", "2025-01-01T00:01:00Z", "@every 1m0s"),
	} {
		if _, ok, err := n.TickCall(h); ok || err != nil {
			t.Errorf("TickCall(%v) = %v %v, want not a tick", h, ok, err)
		}
	}
	for _, h := range []nats.Header{
		tick(sched, "2025-01-01T00:01:00Z", ""),
		tick(sched, "2025-01-01T00:01:00Z", "@every 100ms"),
		tick(sched, "tomorrow", "@every 1m0s"),
	} {
		if _, ok, err := n.TickCall(h); !ok || !errors.Is(err, wire.ErrBadSchedule) {
			t.Errorf("TickCall(%v) = %v %v, want ErrBadSchedule", h, ok, err)
		}
	}
}

// TestScheduleArithmeticAgreesWithServer runs schedules on a real server: the server accepts
// an @at time with a fraction of a second and fires it within the second; the
// Nats-Schedule-Next of each generated message is what Schedule.Next computes; and Due of
// one message's Nats-Schedule-Next is the Nats-Schedule-Next of the one before (the run it
// names).
func TestScheduleArithmeticAgreesWithServer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for schedules to fire")
	}
	_, js := startJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := wire.Names{}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: n.TasksStream(), Subjects: []string{n.TasksStreamSubject()},
		Retention: jetstream.WorkQueuePolicy, AllowMsgSchedules: true})
	if err != nil {
		t.Fatal(err)
	}
	target := n.TaskSubject("t", wire.TaskRoute{})
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{FilterSubjects: n.TaskFilters("t"), AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]string{"every": "@every 1s", "cron": "*/2 * * * * *"}
	for name, spec := range specs {
		m := nats.NewMsg(n.ScheduleSubject(name))
		m.Header.Set(wire.HeaderNatsSchedule, spec)
		m.Header.Set(wire.HeaderNatsScheduleTarget, target)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatalf("schedule %s: %v", spec, err)
		}
	}
	at := time.Now().Add(1500 * time.Millisecond)
	m := nats.NewMsg(n.DelaySubject("c.1"))
	m.Header.Set(wire.HeaderNatsSchedule, wire.AtSpec(at))
	m.Header.Set(wire.HeaderNatsScheduleTarget, target)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatalf("@at with nanoseconds: %v", err)
	}
	stored := map[string]time.Time{}
	for name := range specs {
		sm, err := st.GetLastMsgForSubject(ctx, n.ScheduleSubject(name))
		if err != nil {
			t.Fatal(err)
		}
		stored[name] = sm.Time
	}
	last := map[string]time.Time{}
	seen := map[string]int{}
	atSeen := false
	for seen["every"] < 4 || seen["cron"] < 3 || !atSeen {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			_ = msg.Ack()
			h := msg.Headers()
			if h.Get(wire.HeaderScheduleNext) == wire.ScheduleNextPurge {
				late := time.Since(at)
				if late < 0 || late > time.Second {
					t.Errorf("@at %s fired %v after its time", at.Format(time.RFC3339Nano), late)
				}
				atSeen = true
				continue
			}
			name, ok := n.ParseScheduleSubject(h.Get(wire.HeaderScheduler))
			if !ok {
				t.Fatalf("message from %q", h.Get(wire.HeaderScheduler))
			}
			next, err := time.Parse(time.RFC3339Nano, h.Get(wire.HeaderScheduleNext))
			if err != nil {
				t.Fatal(err)
			}
			s, _ := wire.ParseSchedule(specs[name], "")
			if want := s.Next(stored[name], next.Add(-time.Second)); !want.Equal(next) {
				t.Errorf("%s: server's next run %v, Next computes %v", name, next, want)
			}
			if prev, ok := last[name]; ok {
				if due, err := s.Due(next); err != nil || !due.Equal(prev) {
					t.Errorf("%s: Due(%v) = %v %v, want the run before, %v", name, next, due, err, prev)
				}
			}
			last[name] = next
			seen[name]++
		}
	}
}
