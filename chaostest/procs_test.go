package chaostest

import (
	"bytes"
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
)

// The processes of the chaos run: nats-server and chaosworker binaries built once per test
// binary run (the worker with -race when this test binary has it), as faulttest does.

var built struct {
	once                    sync.Once
	dir, worker, natsServer string
	err                     error
}

func buildBinaries(t *testing.T) (worker, natsServer string) {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "jetray-chaos-*")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		built.worker = filepath.Join(dir, "chaosworker")
		args := []string{"build", "-o", built.worker}
		if raceEnabled {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, "github.com/jetray/jetray/chaostest/chaosworker")...).CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build chaosworker: %w\n%s", err, out)
			return
		}
		built.natsServer = os.Getenv("JETRAY_NATS_SERVER")
		if built.natsServer == "" {
			built.natsServer = filepath.Join(dir, "nats-server")
			if out, err := exec.Command("go", "build", "-o", built.natsServer, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
				built.err = fmt.Errorf("go build nats-server: %w\n%s", err, out)
			}
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.worker, built.natsServer
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

// proc is a child process; its stderr is kept (worker logs, race reports).
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's error, set before done closes
	exitAt time.Time     // when Wait returned, set before done closes
}

// startProc starts a program. Cleanup kills it (SIGKILL works on a stopped process too) and
// waits for it.
func startProc(t *testing.T, name, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stderr, &p.stderr
	p.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.exitAt = time.Now()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop kills the process if it still runs and waits for it.
func (p *proc) stop() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(sig syscall.Signal) error {
	if p.exited() {
		return fmt.Errorf("%s already exited (%v)", p.name, p.err)
	}
	return p.cmd.Process.Signal(sig)
}

// waitExit waits up to d for the process to exit and reports whether it did.
func (p *proc) waitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// poll calls cond until it holds or d has passed; it reports whether cond held.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
	}
}

// startNATS starts nats-server with JetStream on 127.0.0.1:port storing in dir, and waits
// until it accepts connections.
func startNATS(t *testing.T, bin string, port int, dir string, gen int) *proc {
	t.Helper()
	p := startProc(t, fmt.Sprintf("nats-server-%d", gen), bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", dir)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if !poll(60*time.Second, func() bool {
		if p.exited() {
			return true
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}) || p.exited() {
		t.Fatalf("nats-server on %s not listening within 60s (exited: %v)\n%s", addr, p.err, tail(p.stderr.String(), 2000))
	}
	return p
}

// running reports whether a worker process logged that it runs.
func (p *proc) running() bool {
	for line := range strings.Lines(p.stderr.String()) {
		if strings.Contains(line, `"message":"worker running"`) {
			return true
		}
	}
	return false
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }
