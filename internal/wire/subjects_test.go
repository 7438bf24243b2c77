package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jetray/jetray/internal/wire"
)

func TestTaskSubjectRoundTrip(t *testing.T) {
	ns, _ := wire.For("t1")
	tests := []struct {
		name     string
		names    wire.Names
		task     string
		route    wire.TaskRoute
		subject  string
		consumer string
	}{
		{"default route", wire.Names{}, "add", wire.TaskRoute{}, "jetray.task.add", "task-add"},
		{"NoLabels is the default", wire.Names{}, "add", wire.TaskRoute{Labels: wire.NoLabels}, "jetray.task.add", "task-add"},
		{"high, no labels", wire.Names{}, "add", wire.TaskRoute{Priority: wire.PriorityHigh}, "jetray.task.add._.high", "task-add+_+high"},
		{"low, no labels", wire.Names{}, "add", wire.TaskRoute{Priority: wire.PriorityLow}, "jetray.task.add._.low", "task-add+_+low"},
		{"labels, normal", wire.Names{}, "resize", wire.TaskRoute{Labels: "gpu-3f9a"}, "jetray.task.resize.gpu-3f9a.normal", "task-resize+gpu-3f9a+normal"},
		{"labels, high", wire.Names{}, "resize", wire.TaskRoute{Labels: "L1", Priority: wire.PriorityHigh}, "jetray.task.resize.L1.high", "task-resize+L1+high"},
		{"actor creation", wire.Names{}, "_actor_Counter", wire.TaskRoute{}, "jetray.task._actor_Counter", "task-_actor_Counter"},
		{"namespaced", ns, "add", wire.TaskRoute{Priority: wire.PriorityHigh}, "jetray_t1.task.add._.high", "task-add+_+high"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.route.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := tt.names.TaskSubject(tt.task, tt.route); got != tt.subject {
				t.Fatalf("TaskSubject = %q, want %q", got, tt.subject)
			}
			if got := tt.names.TaskConsumer(tt.task, tt.route); got != tt.consumer {
				t.Fatalf("TaskConsumer = %q, want %q", got, tt.consumer)
			}
			name, route, err := tt.names.ParseTaskSubject(tt.subject)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.route
			if want.Labels == wire.NoLabels {
				want.Labels = ""
			}
			if name != tt.task || route != want {
				t.Fatalf("ParseTaskSubject = %q %+v, want %q %+v", name, route, tt.task, want)
			}
		})
	}
}

func TestParseTaskSubjectErrors(t *testing.T) {
	tests := []struct {
		name    string
		subject string
	}{
		{"other namespace", "jetray_t1.task.add"},
		{"other family", "jetray.result.add"},
		{"no name", "jetray.task."},
		{"two tokens after task", "jetray.task.add.high"},
		{"four tokens after task", "jetray.task.add._.high.x"},
		{"default route in long form", "jetray.task.add._.normal"},
		{"bad priority", "jetray.task.add._.urgent"},
		{"reserved label token", "jetray.task.add._x.high"},
		{"empty label token", "jetray.task.add..high"},
		{"bad name", "jetray.task.a+b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := (wire.Names{}).ParseTaskSubject(tt.subject); !errors.Is(err, wire.ErrBadSubject) {
				t.Fatalf("ParseTaskSubject(%q) = %v, want ErrBadSubject", tt.subject, err)
			}
		})
	}
}

func TestTaskFilters(t *testing.T) {
	got := (wire.Names{}).TaskFilters("add")
	if len(got) != 2 || got[0] != "jetray.task.add" || got[1] != "jetray.task.add.*.*" {
		t.Fatalf("TaskFilters = %v", got)
	}
}

// TestTasksKeepSubject checks that the keeper's subject lives in the tasks stream of its
// namespace, is never read as a call, and is matched by no task's filters, whatever the name
// (a task named like the keeper's name token included).
func TestTasksKeepSubject(t *testing.T) {
	ns, _ := wire.For("t1")
	for _, tt := range []struct {
		names wire.Names
		want  string
	}{
		{wire.Names{}, "jetray.task._jetray.keep"},
		{ns, "jetray_t1.task._jetray.keep"},
	} {
		got := tt.names.TasksKeepSubject()
		if got != tt.want {
			t.Fatalf("namespace %q: TasksKeepSubject = %q, want %q", tt.names.Namespace(), got, tt.want)
		}
		if !subjectMatches(tt.names.TasksStreamSubject(), got) {
			t.Errorf("%q is not in %q", got, tt.names.TasksStreamSubject())
		}
		if _, _, err := tt.names.ParseTaskSubject(got); !errors.Is(err, wire.ErrBadSubject) {
			t.Errorf("ParseTaskSubject(%q) = %v, want ErrBadSubject", got, err)
		}
		for _, name := range []string{"add", "_jetray", "_actor_Counter"} {
			for _, f := range tt.names.TaskFilters(name) {
				if subjectMatches(f, got) {
					t.Errorf("task %q's filter %q matches the keeper's subject %q", name, f, got)
				}
			}
		}
	}
	if (wire.Names{}).TasksKeepSubject() == ns.TasksKeepSubject() {
		t.Error("two namespaces share a keeper subject")
	}
}

// subjectMatches reports whether NATS filter (with * and > wildcards) matches subject.
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		switch {
		case tok == ">":
			return len(s) > i
		case i >= len(s) || (tok != "*" && tok != s[i]):
			return false
		}
	}
	return len(f) == len(s)
}

func TestActorSubjects(t *testing.T) {
	n := wire.Names{}
	tests := []struct {
		name, id, group, method string
		subject, groupFilter    string
		consumer                string
	}{
		{"default group", "abc.1", "", "incr", "jetray.actor.abc.1.incr", "jetray.actor.abc.1.*", "actor-abc-1-2"},
		{"group", "abc.1", "io", "read", "jetray.actor.abc.1.io.read", "jetray.actor.abc.1.io.*", "actor-abc-1-2+io"},
		{"method named like a group", "x-y.z", "io", "io", "jetray.actor.x-y.z.io.io", "jetray.actor.x-y.z.io.*", "actor-x-y-z-2+io"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := n.ActorSubject(tt.id, tt.group, tt.method); got != tt.subject {
				t.Fatalf("ActorSubject = %q, want %q", got, tt.subject)
			}
			if got := n.ActorGroupFilter(tt.id, tt.group); got != tt.groupFilter {
				t.Fatalf("ActorGroupFilter = %q, want %q", got, tt.groupFilter)
			}
			if got := n.ActorConsumer(tt.id, 2, tt.group); got != tt.consumer {
				t.Fatalf("ActorConsumer = %q, want %q", got, tt.consumer)
			}
			id, group, method, err := n.ParseActorSubject(tt.subject)
			if err != nil || id != tt.id || group != tt.group || method != tt.method {
				t.Fatalf("ParseActorSubject = %q %q %q %v", id, group, method, err)
			}
		})
	}
	for _, bad := range []string{"jetray.actor.abc.incr", "jetray.actor.abc.1.io.read.x", "jetray.actor.abc.1._io.read",
		"jetray.actor.abc.1..read", "jetray_x.actor.abc.1.incr", "jetray.task.abc.1.incr", "jetray.actor.abc.1.a+b"} {
		if _, _, _, err := n.ParseActorSubject(bad); !errors.Is(err, wire.ErrBadSubject) {
			t.Errorf("ParseActorSubject(%q) = %v, want ErrBadSubject", bad, err)
		}
	}
}

func TestSplitResultSubject(t *testing.T) {
	ns, _ := wire.For("t1")
	tests := []struct {
		name     string
		names    wire.Names
		subject  string
		id, item string
		ok       bool
	}{
		{"result", wire.Names{}, "jetray.result.abc.1z", "abc.1z", "", true},
		{"stream value", wire.Names{}, "jetray.result.abc.1z.12", "abc.1z", "12", true},
		{"namespaced", ns, "jetray_t1.result.abc.1", "abc.1", "", true},
		{"other namespace", ns, "jetray.result.abc.1", "", "", false},
		{"default reads no namespace", wire.Names{}, "jetray_t1.result.abc.1", "", "", false},
		{"other family", wire.Names{}, "jetray.resultx.abc.1", "", "", false},
		{"one token", wire.Names{}, "jetray.result.abc", "", "", false},
		{"empty seq", wire.Names{}, "jetray.result.abc.", "", "", false},
		{"empty client", wire.Names{}, "jetray.result..1", "", "", false},
		{"empty seq before item", wire.Names{}, "jetray.result.abc..1", "", "", false},
		{"empty item", wire.Names{}, "jetray.result.abc.1.", "", "", false},
		{"too many tokens", wire.Names{}, "jetray.result.abc.1.2.3", "", "", false},
		{"prefix only", wire.Names{}, "jetray.result.", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, item, ok := tt.names.SplitResultSubject(tt.subject)
			if ok != tt.ok || (ok && (id != tt.id || item != tt.item)) {
				t.Fatalf("SplitResultSubject(%q) = %q %q %v, want %q %q %v", tt.subject, id, item, ok, tt.id, tt.item, tt.ok)
			}
		})
	}
}

func TestCreditSubjects(t *testing.T) {
	ns, _ := wire.For("t1")
	if got := (wire.Names{}).CreditSubject("abc.1z"); got != "jetray.ctl.credit.abc.1z" {
		t.Fatalf("CreditSubject = %q", got)
	}
	if got := ns.ClientCreditFilter("abc"); got != "jetray_t1.ctl.credit.abc.*" {
		t.Fatalf("ClientCreditFilter = %q", got)
	}
	tests := []struct {
		name    string
		names   wire.Names
		subject string
		id      string
		ok      bool
	}{
		{"credit", wire.Names{}, "jetray.ctl.credit.abc.1z", "abc.1z", true},
		{"namespaced", ns, "jetray_t1.ctl.credit.abc.1", "abc.1", true},
		{"other namespace", ns, "jetray.ctl.credit.abc.1", "", false},
		{"actor control", wire.Names{}, "jetray.ctl.actors.w.abc", "", false},
		{"one token", wire.Names{}, "jetray.ctl.credit.abc", "", false},
		{"too many tokens", wire.Names{}, "jetray.ctl.credit.abc.1.2", "", false},
		{"empty seq", wire.Names{}, "jetray.ctl.credit.abc.", "", false},
		{"prefix only", wire.Names{}, "jetray.ctl.credit.", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := tt.names.CreditCallID(tt.subject)
			if ok != tt.ok || (ok && id != tt.id) {
				t.Fatalf("CreditCallID(%q) = %q %v, want %q %v", tt.subject, id, ok, tt.id, tt.ok)
			}
		})
	}
	if a := testing.AllocsPerRun(100, func() { ns.CreditCallID("jetray_t1.ctl.credit.abc.1") }); a != 0 {
		t.Fatalf("CreditCallID: %v allocations", a)
	}
}

func TestSubjectAllocs(t *testing.T) {
	ns, _ := wire.For("t1")
	tests := []struct {
		name  string
		allow float64
		f     func()
	}{
		{"split result", 0, func() { (wire.Names{}).SplitResultSubject("jetray.result.abc.1z.3") }},
		{"split namespaced result", 0, func() { ns.SplitResultSubject("jetray_t1.result.abc.1z.3") }},
		{"task subject", 1, func() { _ = (wire.Names{}).TaskSubject("add", wire.TaskRoute{}) }},
		{"namespaced task subject", 1, func() { _ = ns.TaskSubject("add", wire.TaskRoute{}) }},
		{"result subject", 1, func() { _ = ns.ResultSubject("abc.1z") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(100, tt.f); a > tt.allow {
				t.Fatalf("%v allocations, want at most %v", a, tt.allow)
			}
		})
	}
}

func TestPriority(t *testing.T) {
	for _, p := range []wire.Priority{wire.PriorityLow, wire.PriorityNormal, wire.PriorityHigh} {
		got, err := wire.ParsePriority(p.String())
		if err != nil || got != p || !p.Valid() {
			t.Errorf("ParsePriority(%q) = %v, %v", p.String(), got, err)
		}
	}
	if wire.Priority(5).Valid() || wire.Priority(5).String() != "priority(5)" {
		t.Error("Priority(5) is valid or has a token")
	}
	if err := (wire.TaskRoute{Priority: 5}).Validate(); !errors.Is(err, wire.ErrInvalidName) {
		t.Errorf("Validate of priority 5 = %v", err)
	}
	if _, err := wire.ParsePriority("urgent"); !errors.Is(err, wire.ErrBadSubject) {
		t.Errorf("ParsePriority(urgent) = %v", err)
	}
}

// FuzzTaskSubject checks that every valid route has one subject and one consumer name, that
// parsing gives the route back, and that no extended consumer name equals a default one.
func FuzzTaskSubject(f *testing.F) {
	f.Add("add", "", int8(0))
	f.Add("a-b", "gpu", int8(1))
	f.Add("_actor_X", "L", int8(-1))
	f.Fuzz(func(t *testing.T, name, labels string, p int8) {
		r := wire.TaskRoute{Labels: labels, Priority: wire.Priority(p)}
		if wire.ValidName(name) != nil || r.Validate() != nil {
			return
		}
		n := wire.Names{}
		gotName, gotRoute, err := n.ParseTaskSubject(n.TaskSubject(name, r))
		if err != nil || gotName != name || gotRoute != r {
			t.Fatalf("round trip of %q %+v: %q %+v %v", name, r, gotName, gotRoute, err)
		}
		c := n.TaskConsumer(name, r)
		if r.IsDefault() != (c == "task-"+name) {
			t.Fatalf("consumer %q for %q %+v", c, name, r)
		}
	})
}
