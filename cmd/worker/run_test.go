package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/testsupport"
)

// startRun runs the worker in-process in the background with args; the returned function
// stops it and returns run's error.
func startRun(t *testing.T, args ...string) (stderr *testsupport.Buffer, stop func() error) {
	t.Helper()
	return startRunTo(t, &testsupport.Buffer{}, args...)
}

// startRunTo is startRun with the worker's stdout going to stdout.
func startRunTo(t *testing.T, stdout *testsupport.Buffer, args ...string) (stderr *testsupport.Buffer, stop func() error) {
	t.Helper()
	stderr = &testsupport.Buffer{}
	return stderr, testsupport.Background(t, func(ctx context.Context) error { return run(ctx, args, stdout, stderr) })
}

// stopRun stops a worker startRun started, failing the test if run returned an error.
func stopRun(t *testing.T, stop func() error) {
	t.Helper()
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// served is the worker run in-process on an embedded server, and a client of that server.
type served struct {
	stdout, stderr *testsupport.Buffer
	stop           func() error      // stops the worker and returns run's error
	running        map[string]any    // the worker's "worker running" log line
	c              *framework.Client // a client of the server
	ctx            context.Context   // ends after 30 s
}

// serve starts an embedded server and runs the worker on it with JSON logs and more args,
// waits for its "worker running" line, and connects a client.
func serve(t *testing.T, args ...string) *served {
	t.Helper()
	url := testsupport.Embedded(t, framework.EmbeddedConfig{}).ClientURL()
	s := &served{stdout: &testsupport.Buffer{}, ctx: testsupport.Context(t, 30*time.Second)}
	s.stderr, s.stop = startRunTo(t, s.stdout, append([]string{"-nats", url, "-log-format", "json"}, args...)...)
	s.running = logLine(t, s.stderr, "worker running")
	s.c = testsupport.Connect(t, url)
	return s
}

// logLine waits until stderr holds a JSON log line with message msg and returns it.
func logLine(t *testing.T, stderr *testsupport.Buffer, msg string) map[string]any {
	t.Helper()
	var found map[string]any
	if !testsupport.Poll(30*time.Second, func() bool {
		for line := range strings.Lines(stderr.String()) {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
				found = m
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no log line %q in 30s; stderr:\n%s", msg, stderr.String())
	}
	return found
}

func TestRunServesCatalogAndDrains(t *testing.T) {
	w := serve(t, "-name", "w-test", "-concurrency", "3")
	if w.running["worker"] != "w-test" || w.running["concurrency"] != 3.0 {
		t.Errorf("worker running line = %v", w.running)
	}
	ctx, c := w.ctx, w.c
	slow := demo.Sleep.Remote(ctx, c, demo.SleepInput{MS: 300})
	if v, err := demo.Add.Remote(ctx, c, demo.AddInput{A: 2, B: 3}).Await(ctx); err != nil || v != 5 {
		t.Fatalf("add = %v, %v", v, err)
	}
	waitAckPending(t, c, "task-sleep", 1)
	// Stopping drains: the running sleep still delivers its result.
	stopRun(t, w.stop)
	if v, err := slow.Await(ctx); err != nil || v != 300 {
		t.Fatalf("sleep across shutdown = %v, %v", v, err)
	}
	logLine(t, w.stderr, "worker stopped")
}

// waitAckPending waits until the task consumer has n calls delivered to a worker and not yet
// acknowledged: running.
func waitAckPending(t *testing.T, c *framework.Client, consumer string, n int) {
	t.Helper()
	ctx := testsupport.Context(t, 30*time.Second)
	testsupport.WaitFor(t, 30*time.Second, fmt.Sprintf("%d calls running on consumer %s", n, consumer), func() bool {
		cons, err := c.JetStream().Consumer(ctx, framework.TasksStream, consumer)
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == n
	})
}

func TestRunEmbedded(t *testing.T) {
	stderr, stop := startRun(t, "-embedded", "127.0.0.1:0", "-nats", "nats://192.0.2.1:1", "-log-format", "json")
	url, _ := logLine(t, stderr, "embedded NATS server running")["url"].(string)
	logLine(t, stderr, "worker running")
	c := testsupport.Connect(t, url)
	ctx := testsupport.Context(t, 30*time.Second)
	if v, err := demo.SomeTask.Remote(ctx, c, nil).Await(ctx); err != nil || v != 1 {
		t.Fatalf("some_task = %v, %v", v, err)
	}
	stopRun(t, stop)
}

func TestRunConsoleLogs(t *testing.T) {
	stderr, stop := startRun(t, "-embedded", "127.0.0.1:0", "-name", "console-w")
	testsupport.WaitFor(t, 30*time.Second, "worker running line", func() bool { return stderr.HasLine("worker running") })
	stopRun(t, stop)
	out := stderr.String()
	if !strings.Contains(out, "INF worker running") || !strings.Contains(out, "worker=console-w") || strings.Contains(out, "\x1b[") {
		t.Errorf("console output not plain human-readable lines:\n%s", out)
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-bogus"}, "bogus"},
		{"positional", []string{"extra"}, `unexpected argument "extra"`},
		{"log format", []string{"-log-format", "xml"}, "-log-format"},
		{"log level", []string{"-log-level", "loud"}, "-log-level"},
		{"name", []string{"-name", "a.b"}, "-name"},
		{"embedded addr", []string{"-embedded", "nocolon"}, "-embedded"},
		{"embedded port", []string{"-embedded", "127.0.0.1:http"}, "bad port"},
		{"label without value", []string{"-label", "gpu"}, "want key=value"},
		{"label without key", []string{"-label", "=a100"}, "empty key"},
		{"resource without amount", []string{"-resource", "gpu"}, "want name=amount"},
		{"resource not a number", []string{"-resource", "gpu=many"}, "not a number"},
		{"negative resource", []string{"-resource", "gpu=-1"}, "at least 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want a usage error mentioning %q", err, tt.want)
			}
		})
	}
	var help bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &bytes.Buffer{}, &help); !errors.Is(err, flag.ErrHelp) ||
		!strings.Contains(help.String(), "-concurrency") {
		t.Fatalf("-h: err %v, output %q", err, help.String())
	}
}

func TestRunConnectTimeout(t *testing.T) {
	start := time.Now()
	err := run(context.Background(), []string{"-nats", "nats://127.0.0.1:1", "-connect-timeout", "300ms", "-log-level", "disabled"},
		&bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 20*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

// The worker serves the demo actors; AsyncActor's lines go to its stdout.
func TestRunServesActors(t *testing.T) {
	w := serve(t, "-name", "w-actors")
	ctx, c := w.ctx, w.c
	counter := demo.CounterClass.Remote(ctx, c, demo.CounterInput{Start: 1})
	if v, err := demo.CounterAdd.Remote(ctx, c, demo.CounterAddInput{Counter: counter, By: 2}).Await(ctx); err != nil || v != 3 {
		t.Fatalf("counter_add = %v, %v; want 3", v, err)
	}
	a := demo.AsyncActor.AsyncActor.Remote(ctx, c, struct{}{})
	if _, err := demo.AsyncActor.RunTask.Remote(ctx, a, struct{}{}).Await(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.stdout.String(); got != "started\nended\n" {
		t.Errorf("stdout = %q, want the actor's started and ended lines", got)
	}
	stopRun(t, w.stop)
	// Stopping the worker stopped its actors.
	if _, err := demo.CounterGet.Remote(ctx, counter, nil).Await(ctx); !errors.Is(err, actors.ErrActorDied) {
		t.Errorf("get after the worker stopped: err = %v, want ErrActorDied", err)
	}
}
