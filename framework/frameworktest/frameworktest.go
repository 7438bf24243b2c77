// Package frameworktest helps users test their own jetray tasks, the way net/http/httptest
// helps with handlers: New gives a client backed by an embedded NATS server and an in-process
// worker serving the given definitions, all stopped when the test ends. StartExtraWorker and
// Env.AddWorker add workers on their own clients, for tests that need an actor placed on one
// worker and taken over by another, or a worker that goes away mid-test.
package frameworktest

import (
	"context"
	"errors"
	"sync"
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
	c := connect(t, srv.ClientURL())
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

// connect connects a client to url, failing the test on an error.
func connect(t testing.TB, url string) *framework.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := framework.Connect(ctx, url)
	if err != nil {
		t.Fatalf("frameworktest: connect: %v", err)
	}
	return c
}

// ExtraWorker is a worker running on its own client, started by StartExtraWorker or
// Env.AddWorker.
type ExtraWorker struct {
	// Client is the worker's own client; closing its connection makes the worker vanish
	// without a goodbye, as a crashed process would.
	Client *framework.Client
	// Worker is the running worker.
	Worker *framework.Worker

	stop func()
}

// StartExtraWorker connects a client of its own to url and runs a worker on it serving defs,
// with opts applied after a 10 s drain timeout. Stop, or the end of the test, stops it.
func StartExtraWorker(t testing.TB, url string, opts []framework.WorkerOption, defs ...framework.Definition) *ExtraWorker {
	t.Helper()
	c := connect(t, url)
	w := framework.NewWorker(c, append([]framework.WorkerOption{framework.WithDrainTimeout(10 * time.Second)}, opts...)...)
	if err := w.Register(defs...); err != nil {
		_ = c.Close()
		t.Fatalf("frameworktest: register: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			_ = c.Close()
		})
	}
	t.Cleanup(stop)
	return &ExtraWorker{Client: c, Worker: w, stop: stop}
}

// AddWorker starts another worker on e's server, as StartExtraWorker does.
func (e *Env) AddWorker(t testing.TB, opts []framework.WorkerOption, defs ...framework.Definition) *ExtraWorker {
	t.Helper()
	return StartExtraWorker(t, e.Server.ClientURL(), opts, defs...)
}

// Stop stops the worker: it cancels Run, waits for it to return (draining as the worker's
// options say) and closes the worker's client. It does not report Run's error, since a test
// may have cut the worker's connection on purpose. Calling it again does nothing.
func (x *ExtraWorker) Stop() { x.stop() }
