package testsupport

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Send sends sig without waiting; it fails when the process has already exited.
func (p *Proc) Send(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s already exited (%v)", p.Name, p.err)
	}
	return p.Cmd.Process.Signal(sig)
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

// suspendAck bounds the wait for a process to show as stopped after SIGSTOP.
const suspendAck = 5 * time.Second

// Suspend stops the process with SIGSTOP, waits (up to 5 s) until it shows as stopped, keeps
// it stopped for d, then continues it with SIGCONT: a process that neither runs nor exits, as
// on a machine that hangs. It returns an error if the process has exited before the SIGSTOP
// or does not show as stopped (it is continued then too); one that exits while stopped (killed
// meanwhile) is not an error.
func (p *Proc) Suspend(d time.Duration) (err error) {
	if err := p.Send(syscall.SIGSTOP); err != nil {
		return err
	}
	defer func() {
		if cerr := p.Send(syscall.SIGCONT); cerr != nil && !p.Exited() && err == nil {
			err = cerr
		}
	}()
	if err := p.Await(suspendAck, p.Name+" stopped by SIGSTOP", p.Stopped); err != nil {
		return err
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-p.done:
	}
	return nil
}
