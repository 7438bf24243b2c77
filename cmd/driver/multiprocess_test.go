package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// TestMain removes the binaries the multi-process test built.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.bins.dir != "" {
		_ = os.RemoveAll(built.bins.dir)
	}
	os.Exit(code)
}

// binaries are the programs the multi-process test runs.
type binaries struct {
	dir, worker, driver, natsServer string
}

// built holds the binaries, built once per test binary run.
var built struct {
	once sync.Once
	bins binaries
	err  error
}

// buildBinaries builds cmd/worker, cmd/driver and nats-server into a temporary directory the
// first time it is called. JETRAY_NATS_SERVER names a nats-server binary to use instead of
// building one (make test sets it to bin/nats-server).
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "jetray-driver-test-*")
		if err != nil {
			built.err = err
			return
		}
		b := binaries{dir: dir, worker: filepath.Join(dir, "worker"), driver: filepath.Join(dir, "driver"),
			natsServer: filepath.Join(dir, "nats-server")}
		pkgs := []string{"github.com/jetray/jetray/cmd/worker", "github.com/jetray/jetray/cmd/driver"}
		if p := os.Getenv("JETRAY_NATS_SERVER"); p != "" {
			b.natsServer = p
		} else {
			pkgs = append(pkgs, "github.com/nats-io/nats-server/v2")
		}
		built.bins = b
		out, err := exec.Command("go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...).CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bins
}

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

// proc is a child process whose output is kept for assertions.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{} // closed when the process has exited
	err            error         // Wait's error, set before done closes
}

// startProc starts a program; t.Cleanup kills it if it still runs and logs its stderr when
// the test failed.
func startProc(t *testing.T, name, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	return p
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to timeout for the process to exit; it returns Wait's error.
func (p *proc) stop(t *testing.T, timeout time.Duration) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s of SIGTERM", p.name, timeout)
		return nil
	}
}

// waitFor polls cond until it holds, failing the test after timeout or when p exits first.
func waitFor(t *testing.T, p *proc, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; !cond(); delay = min(2*delay, 100*time.Millisecond) {
		if p != nil && p.exited() {
			t.Fatalf("%s exited (%v) while waiting for %s; stderr:\n%s", p.name, p.err, what, p.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, timeout)
		}
		time.Sleep(delay)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runBinary runs a program to completion and returns its output and exit status.
func runBinary(t *testing.T, path string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run %s %q: %v", path, args, err)
	}
	return out.String(), errb.String(), code
}

// deployment is a real nats-server with two worker processes, mp-w1 and mp-w2, serving the
// demo catalog, and a client of it.
type deployment struct {
	bins    binaries
	url     string
	c       *framework.Client
	workers []*proc
}

// startDeployment starts a deployment and waits until both workers run. Tests using it are
// skipped with -short.
func startDeployment(t *testing.T) *deployment {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs nats-server, worker and driver binaries")
	}
	bins := buildBinaries(t)
	port := strconv.Itoa(freePort(t))
	url := "nats://127.0.0.1:" + port
	startProc(t, "nats-server", bins.natsServer, "-js", "-a", "127.0.0.1", "-p", port, "-sd", t.TempDir())

	ctx := testCtx(t)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := framework.Connect(cctx, url) // retries until the server accepts connections
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	workers := []*proc{}
	for _, name := range []string{"mp-w1", "mp-w2"} {
		w := startProc(t, name, bins.worker, "-nats", url, "-name", name, "-concurrency", "2", "-log-format", "json", "-drain", "10s")
		workers = append(workers, w)
	}
	for _, w := range workers {
		want := fmt.Sprintf(`"worker":%q`, w.name)
		waitFor(t, w, 30*time.Second, w.name+` "worker running" log line`, func() bool {
			for line := range strings.Lines(w.stderr.String()) {
				if strings.Contains(line, `"message":"worker running"`) && strings.Contains(line, want) {
					return true
				}
			}
			return false
		})
	}
	return &deployment{bins: bins, url: url, c: c, workers: workers}
}

// stopWorkers sends SIGTERM to every worker and checks each exits 0 after a clean stop.
func (d *deployment) stopWorkers(t *testing.T) {
	t.Helper()
	for _, w := range d.workers {
		if w.exited() {
			t.Fatalf("%s exited early: %v", w.name, w.err)
		}
	}
	for _, w := range d.workers {
		if err := w.stop(t, 30*time.Second); err != nil {
			t.Errorf("%s: exit after SIGTERM: %v", w.name, err)
		}
		if !strings.Contains(w.stderr.String(), `"message":"worker stopped"`) {
			t.Errorf("%s: no worker stopped log line", w.name)
		}
	}
}

// TestMultiProcess runs a real nats-server, two worker processes and the driver binary, the
// way a deployment does.
func TestMultiProcess(t *testing.T) {
	d := startDeployment(t)
	bins, url, c, ctx := d.bins, d.url, d.c, testCtx(t)

	const n = 200
	fs := make([]*futures.Future[int], n)
	for i := range fs {
		fs[i] = demo.Add.Remote(ctx, c, demo.AddInput{A: i, B: 2 * i})
	}
	sums, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sums {
		if s != 3*i {
			t.Fatalf("add(%d, %d) = %d", i, 2*i, s)
		}
	}
	// Each stored result names the worker that produced it.
	results, err := c.JetStream().Stream(ctx, framework.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	byWorker := map[string]int{}
	for _, f := range fs {
		msg, err := results.GetLastMsgForSubject(ctx, framework.ResultSubject(f.ID()))
		if err != nil {
			t.Fatalf("result of %s: %v", f.ID(), err)
		}
		byWorker[msg.Header.Get(framework.HeaderWorker)]++
	}
	if byWorker["mp-w1"] == 0 || byWorker["mp-w2"] == 0 || byWorker["mp-w1"]+byWorker["mp-w2"] != n {
		t.Errorf("results by worker = %v; want both workers, %d in all", byWorker, n)
	}
	t.Logf("results by worker: %v", byWorker)

	out, errOut, code := runBinary(t, bins.driver, "call", "-nats", url, "add", `{"a":2,"b":3}`)
	if code != 0 || out != "5\n" {
		t.Errorf("driver call add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runBinary(t, bins.driver, "call", "-nats", url, "fail", `{"message":"x"}`)
	if code != 1 || out != "" || !strings.Contains(errOut, "failed: x") {
		t.Errorf("driver call fail: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runBinary(t, bins.driver, "status", "-nats", url)
	if code != 0 || !strings.Contains(out, "task-add") || row(out, "add", "task") == nil {
		t.Errorf("driver status: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}

	d.stopWorkers(t)
}
