// Package frameworktest helps users test their own jetray tasks, the way net/http/httptest
// helps with handlers: New gives a client backed by an embedded NATS server and an in-process
// worker serving the given definitions, all stopped when the test ends.
package frameworktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
)

// Env is a running test environment: server, client and worker.
type Env struct {
	Server *framework.EmbeddedServer
	Client *framework.Client
	Worker *framework.Worker
}

// New starts an embedded server with memory-free defaults, connects a client, and runs a
// worker serving defs; t.Cleanup stops the worker (draining it), closes the client and shuts
// the server down. It fails the test on any setup error.
func New(t testing.TB, defs ...framework.Definition) *framework.Client {
	t.Helper()
	return NewEnv(t, nil, defs...).Client
}

// NewEnv is New with worker options, returning every part.
func NewEnv(t testing.TB, workerOpts []framework.WorkerOption, defs ...framework.Definition) *Env {
	t.Helper()
	srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
	if err != nil {
		t.Fatalf("frameworktest: start server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := framework.Connect(ctx, srv.ClientURL())
	if err != nil {
		t.Fatalf("frameworktest: connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	w := framework.NewWorker(c, append([]framework.WorkerOption{framework.WithDrainTimeout(10 * time.Second)}, workerOpts...)...)
	if err := w.Register(defs...); err != nil {
		t.Fatalf("frameworktest: register: %v", err)
	}
	StartWorker(t, w)
	return &Env{Server: srv, Client: c, Worker: w}
}

// StartWorker runs w in the background until the test ends; cleanup cancels it and waits for
// Run to return, reporting a Run error as a test error.
func StartWorker(t testing.TB, w *framework.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("frameworktest: worker run: %v", err)
		}
	})
}
