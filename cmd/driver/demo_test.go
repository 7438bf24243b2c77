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
		"serving add, echo, fail, noop, panic, sleep, some_task",
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
