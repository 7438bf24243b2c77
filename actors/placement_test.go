package actors_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/testsupport"
)

// gpuProbe is a task that needs one GPU and returns at once.
var gpuProbe = framework.NewTask("gpu_probe", func(context.Context, int) (int, error) { return 1, nil },
	framework.NumGPUs(1))

// stillPending reports whether f stays unresolved for d: a call that must not run meanwhile.
func stillPending(f interface{ Done() <-chan struct{} }, d time.Duration) bool {
	select {
	case <-f.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// TestActorHoldsResources: an actor that needs both GPUs of its worker holds them while it
// lives, so a task needing one GPU waits; once the actor is killed the task runs, and another
// such actor can be placed.
func TestActorHoldsResources(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	frameworktest.StartExtraWorker(t, srv.ClientURL(), []framework.WorkerOption{
		framework.WithResources(map[string]float64{"gpu": 2})}, Ident, gpuProbe)
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	big := Ident.Options(actors.NumGPUs(2))
	h := big.Remote(ctx, drv, IdentSpec{Tag: "gpu-holder"})
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := testsupport.ActorRecord(t, ctx, drv, h.ID()); rec.Resources["gpu"] != 2 {
		t.Fatalf("record resources %v, want gpu 2", rec.Resources)
	}
	probe := gpuProbe.Remote(ctx, drv, 0)
	if !stillPending(probe, time.Second) {
		t.Fatalf("a 1-GPU task ran while an actor held both GPUs: %v", probe.Err())
	}
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Await(ctx); err != nil {
		t.Fatalf("task after the actor died: %v", err)
	}
	h2 := big.Remote(ctx, drv, IdentSpec{Tag: "gpu-holder-2"})
	if err := h2.Ready(ctx); err != nil {
		t.Fatalf("second 2-GPU actor: %v", err)
	}
}

// TestHandOverPlacesOnMatchingWorker: an actor with a label selector and a GPU need is handed
// over, when its worker stops, only to a worker with the label and a free GPU: not to a worker
// serving the class without them, and not to the matching worker while another actor holds its
// GPU; once that GPU is free the actor is placed there with its queued call.
func TestHandOverPlacesOnMatchingWorker(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	gpuOpts := []framework.WorkerOption{framework.WithDrainTimeout(5 * time.Second),
		framework.WithLabels(map[string]string{"gpu": "a100"}), framework.WithResources(map[string]float64{"gpu": 1})}
	w1 := frameworktest.StartExtraWorker(t, srv.ClientURL(), gpuOpts, Ident)
	plain := frameworktest.StartExtraWorker(t, srv.ClientURL(), nil, Ident)
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	cls := Ident.Options(actors.MaxRestarts(-1), actors.LabelSelector(map[string]string{"gpu": "a100"}), actors.NumGPUs(1))
	kept := cls.Remote(ctx, drv, IdentSpec{Tag: "placed"})
	if err := kept.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := testsupport.ActorRecord(t, ctx, drv, kept.ID()); rec.Worker != w1.Worker.Name() {
		t.Fatalf("placed on %s, want %s", rec.Worker, w1.Worker.Name())
	}
	w2 := frameworktest.StartExtraWorker(t, srv.ClientURL(), gpuOpts, Ident)
	blocker := cls.Remote(ctx, drv, IdentSpec{Tag: "blocker"}) // w1's GPU is taken: w2's
	if err := blocker.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := testsupport.ActorRecord(t, ctx, drv, blocker.ID()); rec.Worker != w2.Worker.Name() {
		t.Fatalf("blocker placed on %s, want %s", rec.Worker, w2.Worker.Name())
	}
	w1.Stop() // hands kept over: w2 matches but its GPU is held, the plain worker does not match
	call := Who.Remote(ctx, kept, struct{}{})
	if !stillPending(call, 2*time.Second) {
		t.Fatalf("call answered while no matching worker had a free GPU: %v", call.Err())
	}
	if rec := testsupport.ActorRecord(t, ctx, drv, kept.ID()); rec.State != actors.StatePending {
		t.Fatalf("handed-over actor %s on %q, want PENDING (waiting for a GPU)", rec.State, rec.Worker)
	}
	if err := actors.Kill(ctx, blocker); err != nil {
		t.Fatal(err)
	}
	if _, err := call.Await(ctx); err != nil {
		t.Fatalf("call after the GPU was freed: %v", err)
	}
	rec := testsupport.ActorRecord(t, ctx, drv, kept.ID())
	if rec.Worker != w2.Worker.Name() || rec.Worker == plain.Worker.Name() {
		t.Fatalf("handed over to %s, want %s", rec.Worker, w2.Worker.Name())
	}
}
