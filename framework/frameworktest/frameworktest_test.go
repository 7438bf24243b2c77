package frameworktest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

var greet = framework.NewTask("greet", func(ctx context.Context, name string) (string, error) {
	return "hello " + name, nil
})

func TestNew(t *testing.T) {
	c := frameworktest.New(t, greet)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := greet.Remote(ctx, c, "ray").Await(ctx)
	if err != nil || got != "hello ray" {
		t.Fatalf("greet = %q, %v; want \"hello ray\", nil", got, err)
	}
}

// NewEnv exposes every part: another worker can join the same client and server.
func TestNewEnvSecondWorker(t *testing.T) {
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithConcurrency(2), framework.WithWorkerName("first")}, greet)
	if env.Server == nil || env.Client == nil || env.Worker == nil || env.Worker.Name() != "first" {
		t.Fatalf("env = %+v", env)
	}
	double := framework.NewTask("double", func(ctx context.Context, n int) (int, error) { return 2 * n, nil })
	w := framework.NewWorker(env.Client)
	if err := w.Register(double); err != nil {
		t.Fatal(err)
	}
	frameworktest.StartWorker(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if v, err := double.Remote(ctx, env.Client, 21).Await(ctx); err != nil || v != 42 {
		t.Fatalf("double = %v, %v; want 42, nil", v, err)
	}
}

// AddWorker runs another worker on its own client; Stop ends it and may be called again.
func TestAddWorker(t *testing.T) {
	env := frameworktest.NewEnv(t, nil, greet)
	triple := framework.NewTask("triple", func(ctx context.Context, n int) (int, error) { return 3 * n, nil })
	x := env.AddWorker(t, []framework.WorkerOption{framework.WithWorkerName("extra")}, triple)
	if x.Client == env.Client || x.Worker.Name() != "extra" {
		t.Fatalf("extra worker shares the env's client or has name %q", x.Worker.Name())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if v, err := triple.Remote(ctx, env.Client, 14).Await(ctx); err != nil || v != 42 {
		t.Fatalf("triple = %v, %v; want 42, nil", v, err)
	}
	x.Stop()
	x.Stop()
	if x.Client.Conn().IsConnected() {
		t.Fatal("extra worker's client still connected after Stop")
	}
}

func TestWaitActor(t *testing.T) {
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithWorkerName("first")}, counter)
	ctx := context.Background()
	h := counter.Remote(ctx, env.Client, 0)
	rec := frameworktest.WaitActorOn(t, env.Client, h.ID(), "first")
	if rec.ID != h.ID() || rec.Class != "FTCounter" {
		t.Fatalf("record %+v", rec)
	}
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	if rec := frameworktest.WaitActorState(t, env.Client, h.ID(), actors.StateDead); rec.State != actors.StateDead {
		t.Fatalf("record %+v", rec)
	}
}

type ftCounter struct{ n int }

var counter = actors.Define("FTCounter", func(context.Context, int) (*ftCounter, error) { return &ftCounter{}, nil })
