package framework_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// gatedCall is the input of a gated task: its handler reports its label on started, then
// waits for a release.
type gatedCall struct {
	Label string `json:"label"`
}

// gatedTask returns a task named name whose calls report their label when they start and
// return only when released (one release per call).
func gatedTask(name string, started chan<- string, release <-chan struct{}) *framework.Task[gatedCall, string] {
	return framework.NewTask(name, func(ctx context.Context, in gatedCall) (string, error) {
		started <- in.Label
		select {
		case <-release:
			return in.Label, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
}

// TestHighPriorityOvertakesBacklog: on a worker with one task slot busy with a call and a
// backlog of low (or normal) calls behind it, a high call runs as soon as the running call
// returns: it is delayed by one running call, not by the backlog. The worker holds queued
// calls of the backlog already (prefetch), so FIFO order would start the next backlog call.
func TestHighPriorityOvertakesBacklog(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	for _, backlog := range []framework.PriorityLevel{framework.Low, framework.Normal} {
		t.Run(backlog.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := connect(t, srv.ClientURL())
			started, release := make(chan string, 64), make(chan struct{}, 64)
			name := "gated_" + backlog.String()
			task := gatedTask(name, started, release)
			w := newWorker(t, c, []framework.WorkerOption{framework.WithConcurrency(1), framework.WithDrainTimeout(2 * time.Second)}, task)
			runWorker(t, w)

			const n = 8
			var fs []*futures.Future[string]
			for i := range n {
				fs = append(fs, task.Options(framework.Priority(backlog)).Remote(ctx, c, gatedCall{Label: fmt.Sprintf("b%d", i)}))
			}
			if got := recv(t, started, 30*time.Second, "the first backlog call"); got != "b0" {
				t.Fatalf("first call to start: %s, want b0", got)
			}
			high := task.Options(framework.Priority(framework.High)).Remote(ctx, c, gatedCall{Label: "high"})
			// Wait until the worker has queued the high call beside the backlog it holds (the
			// backlog's queue is full), so both are there when the running call returns.
			waitFor(t, 30*time.Second, "the high call queued", func() bool {
				return framework.QueuedCalls(w, framework.High) == 1 && framework.QueuedCalls(w, backlog) == 1
			})
			release <- struct{}{} // b0 returns
			if got := recv(t, started, 30*time.Second, "the call after b0"); got != "high" {
				t.Fatalf("call started after the running one: %s, want high", got)
			}
			for range n {
				release <- struct{}{}
			}
			for range n - 1 {
				recv(t, started, 30*time.Second, "the rest of the backlog")
			}
			if _, err := futures.Gather(ctx, append(fs, high)...); err != nil {
				t.Fatal(err)
			}
		})
	}
}
