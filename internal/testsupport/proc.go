package testsupport

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// logTail is how much of a process's stderr a failed test logs by default; errTail, how much
// an error of Await carries (the cleanup logs more when the test fails).
const (
	logTail = 16 << 10
	errTail = 2 << 10
)

// Proc is a child process whose output is kept for assertions.
type Proc struct {
	// Name names the process in failures and logs.
	Name string
	// Cmd is the running command.
	Cmd *exec.Cmd
	// Stdout and Stderr hold what the process wrote; with CombinedOutput both go to Stderr.
	Stdout, Stderr *Buffer

	failureLog int // bytes of stderr the cleanup logs when the test failed

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

// FailureLog sets how many bytes of the end of the process's stderr its cleanup logs when the
// test failed: 16 KiB by default, none with 0 (for a test that starts many processes and
// saves their output itself).
func FailureLog(n int) ProcOption {
	return func(_ *exec.Cmd, p *Proc) { p.failureLog = n }
}

// Start starts the program at path with args. The process's environment is the test's, with
// GORACE=atexit_sleep_ms=0 (a -race binary otherwise sleeps 1 s at exit, and exit times
// should measure the program). t.Cleanup stops the process as Stop does and logs the end of
// its stderr when the test failed (see FailureLog).
func Start(t testing.TB, name, path string, args []string, opts ...ProcOption) *Proc {
	t.Helper()
	p := &Proc{Name: name, Stdout: &Buffer{}, Stderr: &Buffer{}, failureLog: logTail, done: make(chan struct{})}
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
		p.Stop()
		if t.Failed() && p.failureLog > 0 {
			t.Logf("%s stderr (last %d bytes):\n%s", name, p.failureLog, p.Stderr.Tail(p.failureLog))
		}
	})
	return p
}

// processEnv is the environment of the programs tests run: the test's, with
// GORACE=atexit_sleep_ms=0, since a -race binary otherwise sleeps 1 s at exit.
func processEnv() []string {
	return append(os.Environ(), "GORACE=atexit_sleep_ms=0")
}

// Stop ends the process with SIGKILL unless it has exited (SIGKILL ends a process stopped by
// SIGSTOP too) and waits for it. Calling it again is safe; Start's cleanup calls it, so a
// test calls it only to be sure every process is gone at a point of its own, such as before
// a goroutine leak check.
func (p *Proc) Stop() {
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

// ErrExited is returned by Await when the process exits before its condition holds.
var ErrExited = errors.New("process exited")

// Await polls cond as Poll does until it holds, and returns nil then. It returns an error
// wrapping ErrExited, with the end of the process's stderr, when the process exits first, and
// one naming what (the condition) when cond does not hold within timeout. WaitFor is Await
// that fails the test; Await is for a test that records the failure and goes on.
func (p *Proc) Await(timeout time.Duration, what string, cond func() bool) error {
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
		return fmt.Errorf("%s %w (%v) while waiting for %s; stderr ends:\n%s", p.Name, ErrExited, p.err, what, p.Stderr.Tail(errTail))
	case !ok:
		return fmt.Errorf("no %s within %s", what, timeout)
	}
	return nil
}

// WaitFor polls cond as Poll does, failing the test after timeout or when the process exits
// first.
func (p *Proc) WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := p.Await(timeout, what, cond); err != nil {
		t.Fatal(err)
	}
}

// AwaitLine waits up to timeout for a line of the process's stderr holding every one of
// substrs, as Await waits for a condition.
func (p *Proc) AwaitLine(timeout time.Duration, substrs ...string) error {
	return p.Await(timeout, fmt.Sprintf("%s stderr line with %q", p.Name, substrs), func() bool {
		return p.Stderr.HasLine(substrs...)
	})
}

// WaitLine waits up to timeout for a line of the process's stderr holding every one of
// substrs, failing the test if none comes or the process exits first.
func (p *Proc) WaitLine(t testing.TB, timeout time.Duration, substrs ...string) {
	t.Helper()
	if err := p.AwaitLine(timeout, substrs...); err != nil {
		t.Fatal(err)
	}
}
