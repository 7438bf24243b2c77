package main

import (
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	out, errOut, code := runDriver(t, "demo")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"embedded server at nats://127.0.0.1:",
		"serving AsyncActor, Counter, add, counter_add, echo, fail, noop, panic, sleep, some_task",
		"1. Call a task and wait for its result",
		"ray.get(some_task.remote())",
		"-> 1  (",
		"-> 1 ready, 4 not ready",
		"all 5 ready",
		"first ready: sleep(50ms); 2 still running",
		"Gather: [600 50 300] in input order",
		"-> [0 2 4 6 8 10 12 14 16 18]",
		"awaited for 100ms: context deadline exceeded",
		"awaited again: 500",
		"failed (timeout)",
		"failed: something went wrong",
		`Kind="error" Message="something went wrong" Worker="demo-worker"`,
		"panicked: panic: demo: the panic task panicked",
		`unknown task: "no_such_task"`,
		"errors.Is(err, framework.ErrUnknownTask) == true",
		"8. A named actor keeps state between calls",
		"-> [1 2 3]: max_concurrency 1",
		`placed on worker "demo-worker"`,
		"counter_add(handle, by 10) = 13",
		`"demo-counter") found`,
		"get = 13",
		"after actors.Kill, incr fails: jetray: actor died: Counter",
		"9. An async actor runs many calls at once",
		"max_concurrency 1000: 50 calls in",
		"peak 50 running at once; 50 had started when the first ended",
		"max_concurrency 10: 50 calls in",
		"peak 10 running at once", // the step itself fails when more than 10 ran
		"worker drained and stopped cleanly",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
}
