package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/examples/asyncactor/seed"
	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// The actor steps of "driver demo", after the task steps. Like those, each returns an error
// only when the framework does not behave as the step explains.

// demoCounter is the name of the demo's named Counter actor.
const demoCounter = "demo-counter"

func stepCounterActor(ctx context.Context, c *framework.Client, t *tour) error {
	t.step("A named actor keeps state between calls",
		`counter = Counter.options(name="demo-counter").remote(0); ray.get([counter.incr.remote(1) for _ in range(3)])`,
		`h := demo.CounterClass.Options(actors.Name("demo-counter")).Remote(ctx, c, in); demo.CounterIncr.Remote(ctx, h, in)`)
	start := time.Now()
	h := demo.CounterClass.Options(actors.Name(demoCounter)).Remote(ctx, c, demo.CounterInput{Start: 0})
	t.note("Remote returned handle %s at once; calls may be sent before the actor is placed", h.ID())
	fs := make([]*futures.Future[int], 3)
	for i := range fs {
		fs[i] = demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1})
	}
	vals, err := futures.Gather(ctx, fs...)
	if err != nil {
		return err
	}
	if !slices.Equal(vals, []int{1, 2, 3}) {
		return fmt.Errorf("three incr calls returned %v, want [1 2 3]", vals)
	}
	t.result(start, "%v: max_concurrency 1, so the calls ran one at a time in the order sent", vals)
	if where, err := placement(ctx, c, h.ID()); err == nil {
		t.note("placed on worker %q (actors.List; `driver status` lists actors too)", where)
	}

	start = time.Now()
	t.note("a handle is a value: pass it to a task, which calls the actor with its own ctx")
	v, err := demo.CounterAdd.Remote(ctx, c, demo.CounterAddInput{Counter: h, By: 10}).Await(ctx)
	if err != nil {
		return err
	}
	t.result(start, "counter_add(handle, by 10) = %d", v)

	start = time.Now()
	got, err := actors.Get(ctx, c, demo.CounterClass, demoCounter) // ray.get_actor
	if err != nil {
		return err
	}
	if got.ID() != h.ID() {
		return fmt.Errorf("actors.Get(%q) = %s, want %s", demoCounter, got.ID(), h.ID())
	}
	v, err = demo.CounterGet.Remote(ctx, got, nil).Await(ctx)
	if err != nil {
		return err
	}
	t.result(start, `actors.Get(ctx, c, demo.CounterClass, %q) found %s; get = %d`, demoCounter, got.ID(), v)
	t.note("from a shell: driver call -actor %s Counter.incr '{\"by\":1}'", demoCounter)

	start = time.Now()
	if err := actors.Kill(ctx, got); err != nil { // ray.kill
		return err
	}
	_, err = demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1}).Await(ctx)
	if !errors.Is(err, actors.ErrDied) {
		return fmt.Errorf("incr after Kill: got %v, want ErrDied", err)
	}
	t.result(start, "after actors.Kill, incr fails: %v", err)
	if _, err := actors.Get(ctx, c, demo.CounterClass, demoCounter); !errors.Is(err, actors.ErrNotFound) {
		return fmt.Errorf("Get after Kill: got %v, want ErrNotFound", err)
	}
	t.note("errors.Is(err, actors.ErrActorDied) == true; the name is free again (Get: ErrActorNotFound)")
	return nil
}

// placement returns the worker the actor id is placed on, from its record.
func placement(ctx context.Context, c *framework.Client, id string) (string, error) {
	recs, err := actors.List(ctx, c)
	if err != nil {
		return "", err
	}
	for _, r := range recs {
		if r.ID == id {
			return r.Worker, nil
		}
	}
	return "", actors.ErrNotFound
}

// stepAsyncActor plays Ray's async actor example (examples/asyncactor/seed) on the demo's
// worker: 50 calls of a 1 s method, first with the default max_concurrency, then with 10.
func stepAsyncActor(ctx context.Context, c *framework.Client, t *tour) error {
	t.step("An async actor runs many calls at once, up to max_concurrency",
		"actor = AsyncActor.remote(); ray.get([actor.run_task.remote() for _ in range(50)])",
		"h := AsyncActor.Remote(ctx, c, struct{}{}); futures.Gather(ctx, fs...) of 50 RunTask.Remote(ctx, h, struct{}{})")
	t.note("run_task prints \"started\", sleeps 1s, prints \"ended\" (go run ./examples/asyncactor shows the lines)")
	start := time.Now()
	sc, err := demo.AsyncActor.Scenario(ctx, c)
	if err != nil {
		return err
	}
	if sc.Stats.Peak != seed.Calls {
		return fmt.Errorf("max_concurrency %d: peak %d calls at once, want all %d", sc.MaxConcurrency, sc.Stats.Peak, seed.Calls)
	}
	t.result(start, "max_concurrency %d: %d calls in %.2fs; peak %d running at once; %d had started when the first ended",
		sc.MaxConcurrency, sc.Calls, sc.Elapsed.Seconds(), sc.Stats.Peak, sc.Stats.StartedBeforeFirstEnd)

	t.note("AsyncActor.options(max_concurrency=10).remote()  ->  AsyncActor.Options(actors.MaxConcurrency(10)).Remote(...)")
	start = time.Now()
	sc, err = demo.AsyncActor.Scenario(ctx, c, actors.MaxConcurrency(10))
	if err != nil {
		return err
	}
	if sc.Stats.Peak > 10 {
		return fmt.Errorf("max_concurrency 10: peak %d calls at once", sc.Stats.Peak)
	}
	t.result(start, "max_concurrency %d: %d calls in %.2fs; peak %d running at once; %d had started when the first ended",
		sc.MaxConcurrency, sc.Calls, sc.Elapsed.Seconds(), sc.Stats.Peak, sc.Stats.StartedBeforeFirstEnd)
	t.note("the broker enforces the limit: the actor's consumer has MaxAckPending = max_concurrency")
	t.note("unlike Ray's event loop, the calls run on goroutines in parallel: shared state needs a mutex or atomics")
	return nil
}
