package faulttest

import (
	"bytes"
	"context"
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

	"github.com/jetray/jetray/framework"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.bins.dir != "" {
		_ = os.RemoveAll(built.bins.dir)
	}
	os.Exit(code)
}

// binaries are the programs the tests run.
type binaries struct {
	dir, worker, natsServer string
}

// built holds the binaries, built once per test binary run.
var built struct {
	once sync.Once
	bins binaries
	err  error
}

// buildBinaries builds cmd/worker (with -race when this test binary has it) and, unless
// JETRAY_NATS_SERVER names one (make test sets it to bin/nats-server), nats-server into a
// temporary directory the first time it is called. Tests calling it are skipped with -short.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs nats-server and worker processes")
	}
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "jetray-faulttest-*")
		if err != nil {
			built.err = err
			return
		}
		b := binaries{dir: dir, worker: filepath.Join(dir, "worker"), natsServer: os.Getenv("JETRAY_NATS_SERVER")}
		built.bins = b
		args := []string{"build", "-o", b.worker}
		if raceEnabled {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, "github.com/jetray/jetray/cmd/worker")...).CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build cmd/worker: %w\n%s", err, out)
			return
		}
		if b.natsServer == "" {
			built.bins.natsServer = filepath.Join(dir, "nats-server")
			out, err := exec.Command("go", "build", "-o", built.bins.natsServer, "github.com/nats-io/nats-server/v2").CombinedOutput()
			if err != nil {
				built.err = fmt.Errorf("go build nats-server: %w\n%s", err, out)
			}
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

// startProc starts a program; t.Cleanup kills it if it still runs and logs the end of its
// stderr when the test failed.
func startProc(t *testing.T, name, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	// A -race binary sleeps 1 s at exit by default; exit times should measure the program.
	p.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			s := p.stderr.String()
			t.Logf("%s stderr (last 4000 bytes):\n%s", name, s[max(0, len(s)-4000):])
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

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGKILL)
}

// signal sends sig and waits up to 30 s for the process to be gone.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s to %s: %v", sig, p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still running 30s after %s", p.name, sig)
	}
}

// term sends SIGTERM and waits up to timeout for the process to exit; it returns Wait's
// error and how long the exit took.
func (p *proc) term(t *testing.T, timeout time.Duration) (error, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.done:
		return p.err, time.Since(start)
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s of SIGTERM", p.name, timeout)
		return nil, 0
	}
}

// waitFor polls cond until it holds, failing the test after timeout or when p (if not nil)
// exits first.
func waitFor(t *testing.T, p *proc, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; !cond(); delay = min(2*delay, 50*time.Millisecond) {
		if p != nil && p.exited() {
			t.Fatalf("%s exited (%v) while waiting for %s", p.name, p.err, what)
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

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startNATS starts nats-server with JetStream on 127.0.0.1:port, file storage in dir, and
// waits until it accepts connections.
func startNATS(t *testing.T, bins binaries, port int, dir string) *proc {
	t.Helper()
	p := startProc(t, "nats-server", bins.natsServer, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", dir)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitFor(t, p, 30*time.Second, "nats-server listening on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return p
}

// startWorker starts cmd/worker named name on url with extra flags and waits for its
// "worker running" log line.
func startWorker(t *testing.T, bins binaries, url, name string, flags ...string) *proc {
	t.Helper()
	args := append([]string{"-nats", url, "-name", name, "-log-format", "json"}, flags...)
	w := startProc(t, name, bins.worker, args...)
	want := fmt.Sprintf(`"worker":%q`, name)
	waitFor(t, w, time.Minute, name+` "worker running" log line`, func() bool {
		for line := range strings.Lines(w.stderr.String()) {
			if strings.Contains(line, `"message":"worker running"`) && strings.Contains(line, want) {
				return true
			}
		}
		return false
	})
	return w
}

// connect dials url (retrying while the server starts); the client is closed when the test
// ends.
func connect(t *testing.T, url string, opts ...framework.Option) *framework.Client {
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

// taskConsumer returns the info of the durable consumer serving task name.
func taskConsumer(ctx context.Context, c *framework.Client, name string) (*jetstream.ConsumerInfo, error) {
	cons, err := c.JetStream().Consumer(ctx, framework.TasksStream, "task-"+name)
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

// storedResults reads every result JETRAY_RESULTS holds for client c with an ordered
// consumer and returns their headers by call ID, in stream order.
func storedResults(t *testing.T, ctx context.Context, c *framework.Client) map[string][]nats.Header {
	t.Helper()
	prefix := framework.ResultSubjectPrefix + c.ID() + "."
	cons, err := c.JetStream().OrderedConsumer(ctx, framework.ResultsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"},
		HeadersOnly:    true,
	})
	if err != nil {
		t.Fatalf("results consumer: %v", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatalf("results consumer info: %v", err)
	}
	out := map[string][]nats.Header{}
	for left := info.NumPending; left > 0; {
		batch, err := cons.Fetch(int(min(left, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("read results: %v", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			id := strings.TrimPrefix(m.Subject(), framework.ResultSubjectPrefix)
			out[id] = append(out[id], m.Headers())
		}
		if err := batch.Error(); err != nil {
			t.Fatalf("read results: %v", err)
		}
		if got == 0 {
			t.Fatalf("read results: nothing more with %d left", left)
		}
		left -= uint64(got)
	}
	return out
}

// checkOneResultEach fails the test unless JETRAY_RESULTS holds exactly one result for each
// of ids and nothing else for client c. It returns each call's result headers.
func checkOneResultEach(t *testing.T, ctx context.Context, c *framework.Client, ids []string) map[string]nats.Header {
	t.Helper()
	stored := storedResults(t, ctx, c)
	if len(stored) != len(ids) {
		t.Errorf("results stream holds results for %d calls of this client, want %d", len(stored), len(ids))
	}
	out := make(map[string]nats.Header, len(ids))
	bad := 0
	for _, id := range ids {
		hs := stored[id]
		if len(hs) != 1 {
			if bad++; bad <= 5 {
				t.Errorf("call %s has %d stored results, want 1", id, len(hs))
			}
		}
		if len(hs) > 0 {
			out[id] = hs[0]
		}
	}
	if bad > 5 {
		t.Errorf("... %d calls in all without exactly one stored result", bad)
	}
	return out
}
