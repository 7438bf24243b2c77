package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// The steps of "driver demo", in order. Each returns an error only when the framework does
// not behave as the step explains.

func stepAwait(ctx context.Context, c *framework.Client, t *tour) error {
	t.step("Call a task and wait for its result",
		"ray.get(some_task.remote())   /   await some_task.remote()",
		"demo.SomeTask.Remote(ctx, c, nil).Await(ctx)")
	start := time.Now()
	f := demo.SomeTask.Remote(ctx, c, nil)
	t.note("Remote returned future %s without waiting for the task (%s)", f.ID(), round(time.Since(start)))
	v, err := f.Await(ctx)
	if err != nil {
		return err
	}
	t.result(start, "%d", v)
	return nil
}

func stepWait(ctx context.Context, c *framework.Client, t *tour) error {
	t.step("Wait until some of several calls are done",
		"ray.wait([some_task.remote() for _ in range(5)], num_returns=1)   /   asyncio.wait",
		"ready, notReady, err := futures.Wait(ctx, fs, 1)")
	start := time.Now()
	fs := make([]*futures.Future[int], 5)
	for i := range fs {
		fs[i] = demo.SomeTask.Remote(ctx, c, nil)
	}
	ready, notReady, err := futures.Wait(ctx, fs, 1)
	if err != nil {
		return err
	}
	t.result(start, "%d ready, %d not ready (Wait returns as soon as num_returns are done)", len(ready), len(notReady))
	ready, _, err = futures.Wait(ctx, fs, len(fs))
	if err != nil {
		return err
	}
	t.result(start, "futures.Wait(ctx, fs, %d): all %d ready", len(fs), len(ready))
	return nil
}

func stepWaitOrder(ctx context.Context, c *framework.Client, t *tour) error {
	t.step("Wait reports calls in the order they finish; they run in parallel",
		"ray.wait([sleep.remote(600), sleep.remote(50), sleep.remote(300)], num_returns=1)",
		"futures.Wait(ctx, fs, 1), then futures.Gather(ctx, fs...)")
	start := time.Now()
	var fs []*futures.Future[int]
	for _, ms := range []int{600, 50, 300} {
		fs = append(fs, demo.Sleep.Remote(ctx, c, demo.SleepInput{MS: ms}))
	}
	ready, notReady, err := futures.Wait(ctx, fs, 1)
	if err != nil {
		return err
	}
	first, err := ready[0].Await(ctx)
	if err != nil {
		return err
	}
	t.result(start, "first ready: sleep(%dms); %d still running", first, len(notReady))
	all, err := futures.Gather(ctx, fs...)
	if err != nil {
		return err
	}
	t.result(start, "Gather: %v in input order", all)
	t.note("about 600ms in all, not 950ms: the worker ran the three calls at once")
	return nil
}

func stepGather(ctx context.Context, c *framework.Client, t *tour) error {
	t.step("Gather the results of many calls",
		"ray.get([add.remote(i, i) for i in range(10)])   /   await asyncio.gather(*refs)",
		"sums, err := futures.Gather(ctx, fs...)")
	start := time.Now()
	fs := make([]*futures.Future[int], 10)
	for i := range fs {
		fs[i] = demo.Add.Remote(ctx, c, demo.AddInput{A: i, B: i})
	}
	sums, err := futures.Gather(ctx, fs...)
	if err != nil {
		return err
	}
	t.result(start, "%v", sums)
	return nil
}

func stepTimeout(ctx context.Context, c *framework.Client, t *tour) error {
	t.step("Timeouts are contexts",
		"ray.get(ref, timeout=0.1)   /   asyncio.wait_for(ref, 0.1)",
		"tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond); f.Await(tctx)")
	start := time.Now()
	f := demo.Sleep.Remote(ctx, c, demo.SleepInput{MS: 500})
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err := f.Await(tctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("awaiting sleep(500ms) for 100ms: got %v, want a deadline error", err)
	}
	t.result(start, "sleep(500ms) awaited for 100ms: %v", err)
	v, err := f.Await(ctx)
	if err != nil {
		return err
	}
	t.result(start, "the call kept running; awaited again: %d", v)

	start = time.Now()
	t.note("a timeout for the task itself travels with the call: Sleep.Options(framework.Timeout(100*time.Millisecond))")
	_, err = demo.Sleep.Options(framework.Timeout(100*time.Millisecond)).Remote(ctx, c, demo.SleepInput{MS: 5000}).Await(ctx)
	var te *framework.TaskError
	if !errors.As(err, &te) || te.Kind != framework.KindTimeout {
		return fmt.Errorf("sleep(5s) with a 100ms task timeout: got %v, want a TaskError of kind timeout", err)
	}
	t.result(start, "%v", err)
	t.note("errors.Is(err, context.DeadlineExceeded) == %t; the worker cancelled the task's ctx", errors.Is(err, context.DeadlineExceeded))
	return nil
}

func stepFailure(ctx context.Context, c *framework.Client, t *tour) error {
	t.step("A failing task fails its future",
		`ray.get(fail.remote("something went wrong"))  # raises RayTaskError`,
		"_, err := demo.Fail.Remote(ctx, c, in).Await(ctx); errors.As(err, &taskErr)")
	start := time.Now()
	_, err := demo.Fail.Remote(ctx, c, demo.FailInput{Message: "something went wrong"}).Await(ctx)
	var te *framework.TaskError
	if !errors.As(err, &te) {
		return fmt.Errorf("fail: got %v, want a TaskError", err)
	}
	t.result(start, "error: %v", err)
	t.note("TaskError: Kind=%q Message=%q Worker=%q", te.Kind, te.Message, te.Worker)

	start = time.Now()
	_, err = demo.Panic.Remote(ctx, c, nil).Await(ctx)
	if !errors.As(err, &te) || !te.Panic {
		return fmt.Errorf("panic: got %v, want a TaskError with Panic set", err)
	}
	t.result(start, "error: %v", err)
	t.note("a panic is caught on the worker: Panic=true, Stack has %d lines; the worker keeps serving",
		strings.Count(te.Stack, "\n"))
	return nil
}

func stepUnknown(ctx context.Context, c *framework.Client, t *tour) error {
	t.step("Calling a name no worker serves fails after a short grace (here 1 s: WithUnknownNameGrace)",
		"(no equivalent: Ray ships the function's code with the call)",
		`framework.NewTask[json.RawMessage, json.RawMessage]("no_such_task", nil).Remote(ctx, c, nil)`)
	start := time.Now()
	_, err := rawTask("no_such_task").Remote(ctx, c, nil).Await(ctx)
	if !errors.Is(err, framework.ErrUnknownTask) {
		return fmt.Errorf("no_such_task: got %v, want ErrUnknownTask", err)
	}
	t.result(start, "error: %v", err)
	t.note("errors.Is(err, framework.ErrUnknownTask) == true; nothing was queued (a worker registering the name within the grace would have taken the call)")
	return nil
}
