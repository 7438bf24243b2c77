package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
)

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRun runs the worker in the background; the returned function stops it and returns
// run's error.
func startRun(t *testing.T, args ...string) (stderr *syncBuffer, stop func() error) {
	t.Helper()
	return startRunTo(t, &syncBuffer{}, args...)
}

// startRunTo is startRun with the worker's stdout going to stdout.
func startRunTo(t *testing.T, stdout *syncBuffer, args ...string) (stderr *syncBuffer, stop func() error) {
	t.Helper()
	stderr = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, stdout, stderr) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				err = errors.New("worker did not stop in 60s")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stderr, stop
}

// logLine waits until stderr holds a JSON log line with message msg and returns it.
func logLine(t *testing.T, stderr *syncBuffer, msg string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for delay := time.Millisecond; time.Now().Before(deadline); delay = min(2*delay, 50*time.Millisecond) {
		for line := range strings.Lines(stderr.String()) {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
				return m
			}
		}
		time.Sleep(delay)
	}
	t.Fatalf("no log line %q in 30s; stderr:\n%s", msg, stderr.String())
	return nil
}

func connect(t *testing.T, url string) *framework.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := framework.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRunServesCatalogAndDrains(t *testing.T) {
	srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	stderr, stop := startRun(t, "-nats", srv.ClientURL(), "-name", "w-test", "-log-format", "json", "-concurrency", "3")
	running := logLine(t, stderr, "worker running")
	if running["worker"] != "w-test" || running["concurrency"] != 3.0 {
		t.Errorf("worker running line = %v", running)
	}

	c := connect(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slow := demo.Sleep.Remote(ctx, c, demo.SleepInput{MS: 300})
	if v, err := demo.Add.Remote(ctx, c, demo.AddInput{A: 2, B: 3}).Await(ctx); err != nil || v != 5 {
		t.Fatalf("add = %v, %v", v, err)
	}
	waitAckPending(t, c, "task-sleep", 1)
	// Stopping drains: the running sleep still delivers its result.
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if v, err := slow.Await(ctx); err != nil || v != 300 {
		t.Fatalf("sleep across shutdown = %v, %v", v, err)
	}
	logLine(t, stderr, "worker stopped")
}

// waitAckPending waits until the task consumer has n calls delivered to a worker and not yet
// acknowledged: running.
func waitAckPending(t *testing.T, c *framework.Client, consumer string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		cons, err := c.JetStream().Consumer(ctx, framework.TasksStream, consumer)
		if err == nil {
			info, err := cons.Info(ctx)
			if err == nil && info.NumAckPending == n {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer %s never had %d calls running", consumer, n)
		case <-time.After(delay):
		}
	}
}

func TestRunEmbedded(t *testing.T) {
	stderr, stop := startRun(t, "-embedded", "127.0.0.1:0", "-nats", "nats://192.0.2.1:1", "-log-format", "json")
	url, _ := logLine(t, stderr, "embedded NATS server running")["url"].(string)
	logLine(t, stderr, "worker running")
	c := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if v, err := demo.SomeTask.Remote(ctx, c, nil).Await(ctx); err != nil || v != 1 {
		t.Fatalf("some_task = %v, %v", v, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunConsoleLogs(t *testing.T) {
	stderr, stop := startRun(t, "-embedded", "127.0.0.1:0", "-name", "console-w")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "worker running") {
		if time.Now().After(deadline) {
			t.Fatalf("no worker running line; stderr:\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
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
	srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	stdout := &syncBuffer{}
	stderr, stop := startRunTo(t, stdout, "-nats", srv.ClientURL(), "-name", "w-actors", "-log-format", "json")
	logLine(t, stderr, "worker running")

	c := connect(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	counter := demo.CounterClass.Remote(ctx, c, demo.CounterInput{Start: 1})
	if v, err := demo.CounterAdd.Remote(ctx, c, demo.CounterAddInput{Counter: counter, By: 2}).Await(ctx); err != nil || v != 3 {
		t.Fatalf("counter_add = %v, %v; want 3", v, err)
	}
	a := demo.AsyncActor.AsyncActor.Remote(ctx, c, struct{}{})
	if _, err := demo.AsyncActor.RunTask.Remote(ctx, a, struct{}{}).Await(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); got != "started\nended\n" {
		t.Errorf("stdout = %q, want the actor's started and ended lines", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	// Stopping the worker stopped its actors.
	if _, err := demo.CounterGet.Remote(ctx, counter, nil).Await(ctx); !errors.Is(err, actors.ErrActorDied) {
		t.Errorf("get after the worker stopped: err = %v, want ErrActorDied", err)
	}
}
