package wire_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jetray/jetray/internal/wire"
)

func TestValidNamespace(t *testing.T) {
	tests := []struct {
		name string
		ns   string
		ok   bool
	}{
		{"default", "", true},
		{"letters", "team", true},
		{"digits and dash", "ci-42", true},
		{"one char", "a", true},
		{"max length", strings.Repeat("a", wire.MaxNamespaceLen), true},
		{"too long", strings.Repeat("a", wire.MaxNamespaceLen+1), false},
		{"upper case", "Team", false},
		{"underscore", "a_b", false},
		{"dot", "a.b", false},
		{"leading dash", "-a", false},
		{"trailing dash", "a-", false},
		{"space", "a b", false},
		{"wildcard", "a*", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wire.ValidNamespace(tt.ns)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidNamespace(%q) = %v, want ok %v", tt.ns, err, tt.ok)
			}
			_, ferr := wire.For(tt.ns)
			if (ferr == nil) != tt.ok {
				t.Fatalf("For(%q) = %v, want ok %v", tt.ns, ferr, tt.ok)
			}
			if !tt.ok && !errors.Is(ferr, wire.ErrInvalidNamespace) {
				t.Fatalf("For(%q) error %v is not ErrInvalidNamespace", tt.ns, ferr)
			}
		})
	}
}

// TestDefaultNamesAreToday checks the default namespace against the names deployments made
// before this package have (framework/wire.go, client.go, events.go, objects.go, liveness.go,
// worker.go and actors at the time of writing).
func TestDefaultNamesAreToday(t *testing.T) {
	mustFor := func(ns string) wire.Names {
		t.Helper()
		n, err := wire.For(ns)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, n := range []wire.Names{{}, mustFor("")} {
		got := map[string]string{
			"tasks":          n.TasksStream(),
			"results":        n.ResultsStream(),
			"actors":         n.ActorsStream(),
			"dead":           n.DeadStream(),
			"events":         n.EventsStream(),
			"registry":       n.RegistryBucket(),
			"actorsKV":       n.ActorsBucket(),
			"cancel":         n.CancelBucket(),
			"workers":        n.WorkersBucket(),
			"handbacks":      n.HandbacksBucket(),
			"clients":        n.ClientsBucket(),
			"objects":        n.ObjectsBucket(),
			"tasks subj":     n.TasksStreamSubject(),
			"results subj":   n.ResultsStreamSubject(),
			"actors subj":    n.ActorsStreamSubject(),
			"dead subj":      n.DeadStreamSubject(),
			"events subj":    n.EventsStreamSubject(),
			"task":           n.TaskSubject("add", wire.TaskRoute{}),
			"creation":       n.TaskSubject(wire.ActorCreationName("Counter"), wire.TaskRoute{}),
			"result":         n.ResultSubject("abc.1z"),
			"item":           n.ResultItemSubject("abc.1z", 7),
			"client results": n.ClientResultsFilter("abc"),
			"actor call":     n.ActorSubject("abc.2", "", "incr"),
			"actor filter":   n.ActorFilter("abc.2"),
			"dead letter":    n.DeadSubject("Counter.incr"),
			"event":          n.EventSubject("abc.1z"),
			"control":        n.ActorControlSubject("host.12 x*>", "abc"),
			"client control": n.ClientControlSubject("abc"),
			"task consumer":  n.TaskConsumer("add", wire.TaskRoute{}),
			"actor consumer": n.ActorConsumer("abc.2", 3, ""),
			"legacy actor":   n.ActorConsumer("abc.2", 0, ""),
		}
		want := map[string]string{
			"tasks":          "JETRAY_TASKS",
			"results":        "JETRAY_RESULTS",
			"actors":         "JETRAY_ACTORS",
			"dead":           "JETRAY_DEAD",
			"events":         "JETRAY_EVENTS",
			"registry":       "jetray_registry",
			"actorsKV":       "jetray_actors",
			"cancel":         "jetray_cancel",
			"workers":        "jetray_workers",
			"handbacks":      "jetray_handbacks",
			"clients":        "jetray_clients",
			"objects":        "jetray_objects",
			"tasks subj":     "jetray.task.>",
			"results subj":   "jetray.result.>",
			"actors subj":    "jetray.actor.>",
			"dead subj":      "jetray.dead.>",
			"events subj":    "jetray.events.task.>",
			"task":           "jetray.task.add",
			"creation":       "jetray.task._actor_Counter",
			"result":         "jetray.result.abc.1z",
			"item":           "jetray.result.abc.1z.7",
			"client results": "jetray.result.abc.>",
			"actor call":     "jetray.actor.abc.2.incr",
			"actor filter":   "jetray.actor.abc.2.>",
			"dead letter":    "jetray.dead.Counter.incr",
			"event":          "jetray.events.task.abc.1z",
			"control":        "jetray.ctl.actors.host_12_x__.abc",
			"client control": "jetray.ctl.client.abc",
			"task consumer":  "task-add",
			"actor consumer": "actor-abc-2-3",
			"legacy actor":   "actor-abc-2",
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: got %q, want %q", k, got[k], w)
			}
		}
		if md := n.Metadata(); len(md) != 1 || md[wire.MetadataVersion] != "1" {
			t.Errorf("Metadata() = %v, want only %s=1", md, wire.MetadataVersion)
		}
	}
}

func TestNamespacedNames(t *testing.T) {
	n, err := wire.For("ci-7")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, got, want string
	}{
		{"tasks stream", n.TasksStream(), "JETRAY_CI-7_TASKS"},
		{"results stream", n.ResultsStream(), "JETRAY_CI-7_RESULTS"},
		{"actors stream", n.ActorsStream(), "JETRAY_CI-7_ACTORS"},
		{"dead stream", n.DeadStream(), "JETRAY_CI-7_DEAD"},
		{"events stream", n.EventsStream(), "JETRAY_CI-7_EVENTS"},
		{"registry", n.RegistryBucket(), "jetray_ci-7_registry"},
		{"actors bucket", n.ActorsBucket(), "jetray_ci-7_actors"},
		{"cancel", n.CancelBucket(), "jetray_ci-7_cancel"},
		{"workers", n.WorkersBucket(), "jetray_ci-7_workers"},
		{"handbacks", n.HandbacksBucket(), "jetray_ci-7_handbacks"},
		{"clients", n.ClientsBucket(), "jetray_ci-7_clients"},
		{"objects", n.ObjectsBucket(), "jetray_ci-7_objects"},
		{"task", n.TaskSubject("add", wire.TaskRoute{}), "jetray_ci-7.task.add"},
		{"tasks subject", n.TasksStreamSubject(), "jetray_ci-7.task.>"},
		{"result", n.ResultSubject("c.1"), "jetray_ci-7.result.c.1"},
		{"actor", n.ActorSubject("c.1", "io", "read"), "jetray_ci-7.actor.c.1.io.read"},
		{"event", n.EventSubject("c.1"), "jetray_ci-7.events.task.c.1"},
		{"dead", n.DeadSubject("add"), "jetray_ci-7.dead.add"},
		{"control", n.ActorControlSubject("w", "c"), "jetray_ci-7.ctl.actors.w.c"},
		{"client control", n.ClientControlSubject("c"), "jetray_ci-7.ctl.client.c"},
		{"task consumer is not namespaced", n.TaskConsumer("add", wire.TaskRoute{}), "task-add"},
		{"namespace", n.Namespace(), "ci-7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	md := n.Metadata()
	if md[wire.MetadataVersion] != "1" || md[wire.MetadataNamespace] != "ci-7" {
		t.Fatalf("Metadata() = %v", md)
	}
}

// TestNamespacesDoNotCollide checks that no two namespaces (the default included) share a
// stream, bucket or stream subject, including namespaces named after kinds and tokens.
func TestNamespacesDoNotCollide(t *testing.T) {
	seen := map[string]string{}
	for _, ns := range []string{"", "task", "result", "actor", "tasks", "registry", "jetray", "a", "a-b", "b"} {
		n, err := wire.For(ns)
		if err != nil {
			t.Fatal(err)
		}
		all := slices.Concat(n.Streams(), n.KVBuckets(), []string{n.ObjectsBucket(),
			n.TasksStreamSubject(), n.ResultsStreamSubject(), n.ActorsStreamSubject(), n.DeadStreamSubject(), n.EventsStreamSubject()})
		for _, name := range all {
			if other, dup := seen[name]; dup {
				t.Errorf("%q used by namespaces %q and %q", name, other, ns)
			}
			seen[name] = ns
		}
		for _, subj := range all[len(all)-5:] {
			root := subj[:strings.IndexByte(subj, '.')]
			if (ns == "") != (root == "jetray") {
				t.Errorf("namespace %q has root %q", ns, root)
			}
		}
	}
}
