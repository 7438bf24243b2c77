package framework_test

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/jetray/jetray/framework"
)

// TestNamespacesShareAnAccount runs two deployments, in namespaces "blue" and "green", on
// one server: each one's calls run on its own workers, results come back to its own
// clients, a name registered in one namespace is unknown in the other, and the default
// namespace sees neither.
func TestNamespacesShareAnAccount(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	type deployment struct {
		ns     string
		client *framework.Client
	}
	var deps []deployment
	for _, ns := range []string{"blue", "green"} {
		whoami := framework.NewTask("whoami", func(context.Context, int) (string, error) { return ns, nil })
		only := framework.NewTask("only_"+ns, func(_ context.Context, n int) (int, error) { return n, nil })
		wc := connect(t, srv.ClientURL(), framework.WithNamespace(ns))
		runWorker(t, newWorker(t, wc, nil, whoami, only))
		deps = append(deps, deployment{ns, connect(t, srv.ClientURL(), framework.WithNamespace(ns), framework.WithUnknownNameGrace(0))})
	}
	for _, d := range deps {
		t.Run(d.ns, func(t *testing.T) {
			for i := range 20 { // every call lands on this namespace's worker
				got, err := framework.Submit[string](ctx, d.client, framework.Request{Name: "whoami"}, i).Await(ctx)
				if err != nil || got != d.ns {
					t.Fatalf("whoami in %s = %q, %v", d.ns, got, err)
				}
			}
			for _, other := range deps {
				if other.ns == d.ns {
					continue
				}
				_, err := framework.Submit[int](ctx, d.client, framework.Request{Name: "only_" + other.ns}, 1).Await(ctx)
				if !errors.Is(err, framework.ErrUnknownTask) {
					t.Fatalf("only_%s from %s: err = %v, want ErrUnknownTask", other.ns, d.ns, err)
				}
			}
		})
	}
	def := connect(t, srv.ClientURL(), framework.WithUnknownNameGrace(0))
	if _, err := framework.Submit[string](ctx, def, framework.Request{Name: "whoami"}, 0).Await(ctx); !errors.Is(err, framework.ErrUnknownTask) {
		t.Fatalf("whoami in the default namespace: err = %v, want ErrUnknownTask", err)
	}
	for _, name := range []string{"JETRAY_BLUE_TASKS", "JETRAY_GREEN_RESULTS", "KV_jetray_blue_registry", "JETRAY_TASKS"} {
		if _, err := def.JetStream().Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
}

func TestNamespaceInvalid(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	for _, ns := range []string{"Blue", "a.b", "a_b", "-a", strings.Repeat("x", 33)} {
		t.Run(ns, func(t *testing.T) {
			c, err := framework.Connect(ctx, srv.ClientURL(), framework.WithNamespace(ns))
			if err == nil {
				_ = c.Close()
				t.Fatalf("Connect with namespace %q succeeded", ns)
			}
			if !errors.Is(err, framework.ErrInvalidNamespace) {
				t.Fatalf("Connect with namespace %q: err = %v, want ErrInvalidNamespace", ns, err)
			}
		})
	}
}

// TestConnectRefusesOtherWireVersion checks that Connect on streams made by a build speaking
// another wire version fails, naming the stream and both versions, and leaves them alone.
func TestConnectRefusesOtherWireVersion(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	c := connect(t, srv.ClientURL(), framework.WithNamespace("future"))
	js := c.JetStream()
	s, err := js.Stream(ctx, "JETRAY_FUTURE_TASKS")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.Metadata = map[string]string{"jetray_wire": "99"}
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	_, err = framework.Connect(ctx, srv.ClientURL(), framework.WithNamespace("future"))
	if !errors.Is(err, framework.ErrWireVersion) {
		t.Fatalf("Connect: err = %v, want ErrWireVersion", err)
	}
	for _, want := range []string{"JETRAY_FUTURE_TASKS", "99", "1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	info, err := js.Stream(ctx, "JETRAY_FUTURE_TASKS")
	if err != nil {
		t.Fatal(err)
	}
	if v := info.CachedInfo().Config.Metadata["jetray_wire"]; v != "99" {
		t.Fatalf("Connect changed the stream's wire version to %q", v)
	}
}

// TestNamespaceFlag checks the -namespace connection flag of both binaries and its
// $JETRAY_NAMESPACE default.
func TestNamespaceFlag(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	for _, tc := range []struct {
		name, env string
		args      []string
		want      string
	}{
		{"flag", "", []string{"-namespace", "blue"}, "blue"},
		{"environment", "green", nil, "green"},
		{"flag over environment", "green", []string{"-namespace", "blue"}, "blue"},
		{"none", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("JETRAY_NAMESPACE", tc.env)
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			a := framework.AuthFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			opts, err := a.ClientOptions()
			if err != nil {
				t.Fatal(err)
			}
			if c := connect(t, srv.ClientURL(), opts...); c.Namespace() != tc.want {
				t.Fatalf("Namespace() = %q, want %q", c.Namespace(), tc.want)
			}
		})
	}
}

func TestRegistrations(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	c := connect(t, srv.ClientURL(), framework.WithNamespace("reg"))
	b := framework.NewTask("reg_b", func(context.Context, int) (int, error) { return 0, nil })
	a := framework.NewTask("reg_a", func(context.Context, int) (int, error) { return 0, nil })
	newWorker(t, c, []framework.WorkerOption{framework.WithWorkerName("regw")}, b, a)
	got, err := framework.Registrations(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "reg_a" || got[1].Name != "reg_b" {
		t.Fatalf("Registrations = %+v, want reg_a and reg_b in order", got)
	}
	for _, r := range got {
		if r.Kind != "task" || r.Worker != "regw" || r.At.IsZero() {
			t.Errorf("registration %+v: want kind task, worker regw, a time", r)
		}
	}
	other, err := framework.Registrations(ctx, connect(t, srv.ClientURL()))
	if err != nil || len(other) != 0 {
		t.Fatalf("Registrations in the default namespace = %+v, %v; want none", other, err)
	}
}

func TestClientNames(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	def := connect(t, srv.ClientURL()).Names()
	want := framework.Names{TasksStream: framework.TasksStream, ResultsStream: framework.ResultsStream,
		ActorsStream: framework.ActorsStream, DeadStream: framework.DeadStream, EventsStream: framework.EventsStream,
		RegistryBucket: framework.RegistryBucket, ActorsBucket: framework.ActorsBucket, CancelBucket: framework.CancelBucket,
		WorkersBucket: framework.WorkersBucket, HandbacksBucket: framework.HandbacksBucket, ObjectsBucket: framework.ObjectsBucket,
		IdempotencyBucket: framework.IdempotencyBucket, ClientsBucket: framework.ClientsBucket, StateBucket: framework.StateBucket,
		TaskSubjectPrefix: framework.TaskSubjectPrefix, ResultSubjectPrefix: framework.ResultSubjectPrefix,
		ActorSubjectPrefix: framework.ActorSubjectPrefix}
	if def != want {
		t.Fatalf("default names\n %+v\nwant\n %+v", def, want)
	}
	blue := connect(t, srv.ClientURL(), framework.WithNamespace("blue")).Names()
	if blue.Namespace != "blue" || blue.TasksStream != "JETRAY_BLUE_TASKS" || blue.RegistryBucket != "jetray_blue_registry" ||
		blue.ResultSubjectPrefix != "jetray_blue.result." {
		t.Fatalf("names in blue: %+v", blue)
	}
	ctx := testCtx(t)
	for _, s := range blue.Streams() {
		if _, err := connect(t, srv.ClientURL()).JetStream().Stream(ctx, s); err != nil {
			t.Errorf("stream %s: %v", s, err)
		}
	}
}
