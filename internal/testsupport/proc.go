package testsupport

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logTail is how much of a process's stderr a failed test logs.
const logTail = 16 << 10

// Proc is a child process whose output is kept for assertions.
type Proc struct {
	// Name names the process in failures and logs.
	Name string
	// Cmd is the running command.
	Cmd *exec.Cmd
	// Stdout and Stderr hold what the process wrote; with CombinedOutput both go to Stderr.
	Stdout, Stderr *Buffer

	done   chan struct{} // closed when the process has exited
	err    error         // Wait's error, set before done closes
	exitAt time.Time     // when Wait returned, set before done closes
}

// ProcOption changes how Start runs a process.
type ProcOption func(*exec.Cmd, *Proc)

// CombinedOutput sends the process's stdout to its Stderr buffer too, interleaved as written.
func CombinedOutput() ProcOption {
	return func(cmd *exec.Cmd, p *Proc) { p.Stdout = p.Stderr; cmd.Stdout = p.Stderr }
}

// Start starts the program at path with args. The process's environment is the test's, with
// GORACE=atexit_sleep_ms=0 (a -race binary otherwise sleeps 1 s at exit, and exit times
// should measure the program). t.Cleanup kills the process if it still runs (SIGKILL works on
// a stopped process too), waits for it, and logs the end of its stderr when the test failed.
func Start(t testing.TB, name, path string, args []string, opts ...ProcOption) *Proc {
	t.Helper()
	p := &Proc{Name: name, Stdout: &Buffer{}, Stderr: &Buffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(path, args...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.Stdout, p.Stderr
	p.Cmd.Env = processEnv()
	for _, o := range opts {
		o(p.Cmd, p)
	}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		p.exitAt = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s stderr (last %d bytes):\n%s", name, logTail, p.Stderr.Tail(logTail))
		}
	})
	return p
}

// processEnv is the environment of the programs tests run: the test's, with
// GORACE=atexit_sleep_ms=0, since a -race binary otherwise sleeps 1 s at exit.
func processEnv() []string {
	return append(os.Environ(), "GORACE=atexit_sleep_ms=0")
}

// kill sends SIGKILL unless the process has exited, and waits for it.
func (p *Proc) kill() {
	if !p.Exited() {
		_ = p.Cmd.Process.Kill()
	}
	<-p.done
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns Wait's error once the process has exited (nil before, and after a 0 exit).
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// ExitedAt returns when the process was seen to exit (zero before).
func (p *Proc) ExitedAt() time.Time {
	if !p.Exited() {
		return time.Time{}
	}
	return p.exitAt
}

// Pid returns the process ID.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Send sends sig without waiting; it fails when the process has already exited.
func (p *Proc) Send(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s already exited (%v)", p.Name, p.err)
	}
	return p.Cmd.Process.Signal(sig)
}

// WaitExit waits up to d for the process to exit and reports whether it did.
func (p *Proc) WaitExit(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}

// Signal sends sig and waits up to timeout for the process to exit, failing the test if it
// does not; it returns Wait's error and how long the exit took.
func (p *Proc) Signal(t testing.TB, sig syscall.Signal, timeout time.Duration) (error, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s to %s: %v", sig, p.Name, err)
	}
	if !p.WaitExit(timeout) {
		t.Fatalf("%s did not exit within %s of %s", p.Name, timeout, sig)
	}
	return p.err, time.Since(start)
}

// Term sends SIGTERM and waits up to timeout for the process to exit, as Signal does.
func (p *Proc) Term(t testing.TB, timeout time.Duration) (error, time.Duration) {
	t.Helper()
	return p.Signal(t, syscall.SIGTERM, timeout)
}

// Kill sends SIGKILL and waits up to 30 s for the process to be gone.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	p.Signal(t, syscall.SIGKILL, 30*time.Second)
}

// Stopped reports whether the process is stopped by a signal (state T in /proc/PID/stat).
func (p *Proc) Stopped() bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'T'
}

// WaitFor polls cond as Poll does, failing the test after timeout or when the process exits
// first.
func (p *Proc) WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	exited := false
	ok := Poll(timeout, func() bool {
		if cond() {
			return true
		}
		exited = p.Exited()
		return exited
	})
	switch {
	case exited:
		t.Fatalf("%s exited (%v) while waiting for %s; stderr ends:\n%s", p.Name, p.err, what, p.Stderr.Tail(logTail))
	case !ok:
		t.Fatalf("no %s within %s", what, timeout)
	}
}

// WaitLine waits up to timeout for a line of the process's stderr holding every one of
// substrs, failing the test if none comes or the process exits first.
func (p *Proc) WaitLine(t testing.TB, timeout time.Duration, substrs ...string) {
	t.Helper()
	p.WaitFor(t, timeout, fmt.Sprintf("%s stderr line with %q", p.Name, substrs), func() bool {
		return p.Stderr.HasLine(substrs...)
	})
}
