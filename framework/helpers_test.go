package framework_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
)

// startServer starts an embedded server that is shut down when the test ends.
func startServer(t testing.TB, cfg framework.EmbeddedConfig) *framework.EmbeddedServer {
	t.Helper()
	srv, err := framework.StartEmbedded(cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// connect dials url; the client is closed when the test ends.
func connect(t testing.TB, url string, opts ...framework.Option) *framework.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := framework.Connect(ctx, url, opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newWorker makes a worker on c serving defs.
func newWorker(t testing.TB, c *framework.Client, opts []framework.WorkerOption, defs ...framework.Definition) *framework.Worker {
	t.Helper()
	w := framework.NewWorker(c, opts...)
	if err := w.Register(defs...); err != nil {
		t.Fatalf("register: %v", err)
	}
	return w
}

// runningWorker is a Worker.Run in the background that the test stops explicitly or at
// cleanup.
type runningWorker struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed
}

// runWorker runs w until stop or the end of the test; cleanup waits for Run to return.
func runWorker(t testing.TB, w *framework.Worker) *runningWorker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningWorker{cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = w.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Errorf("worker %s did not stop within 30s", w.Name())
		}
	})
	return r
}

// stop cancels Run's ctx and waits up to timeout for Run to return its error.
func (r *runningWorker) stop(t testing.TB, timeout time.Duration) error {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(timeout):
		t.Fatalf("Run did not return within %v of its ctx ending", timeout)
		return nil
	}
}

// recv waits for a value on ch for up to timeout, failing the test otherwise.
func recv[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
		var zero T
		return zero
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// restartableServer is an embedded server on a kept store and a fixed port, which a test can
// shut down and start again: its streams and the clients' connections come back. Every
// server it started is shut down when the test ends.
type restartableServer struct {
	cfg     framework.EmbeddedConfig
	current *framework.EmbeddedServer
}

// startRestartable starts a restartableServer; tests that use it are skipped with -short.
func startRestartable(t *testing.T) *restartableServer {
	t.Helper()
	if testing.Short() {
		t.Skip("restarts a broker")
	}
	r := &restartableServer{cfg: framework.EmbeddedConfig{StoreDir: t.TempDir(), Port: freePort(t)}}
	r.start(t)
	return r
}

// start starts the server (again) on the same store and port.
func (r *restartableServer) start(t *testing.T) {
	t.Helper()
	srv, err := framework.StartEmbedded(r.cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	r.current = srv
	t.Cleanup(srv.Shutdown)
}

// URL is the server's client URL, the same across restarts.
func (r *restartableServer) URL() string { return r.current.ClientURL() }

// stop shuts the server down.
func (r *restartableServer) stop() { r.current.Shutdown() }
