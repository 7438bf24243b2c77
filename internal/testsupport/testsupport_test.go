package testsupport

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBuffer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    int
		writes int
		want   int // bytes String returns
	}{
		{"unbounded", 0, 100, 900},
		{"bounded", 64, 100, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Buffer{Max: tc.max}
			var wg sync.WaitGroup
			for i := range tc.writes {
				wg.Go(func() { fmt.Fprintf(b, "line %03d\n", i) })
				_ = b.String() // concurrent reads
			}
			wg.Wait()
			if got := len(b.String()); got != tc.want {
				t.Fatalf("String holds %d bytes, want %d", got, tc.want)
			}
			if tc.max == 0 && (!b.HasLine("line", "042") || b.HasLine("line", "100")) {
				t.Fatalf("HasLine wrong on:\n%s", b.String())
			}
			if got := b.Tail(9); !strings.HasPrefix(got, "line ") {
				t.Fatalf("Tail(9) = %q", got)
			}
		})
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if !Poll(time.Second, func() bool { n++; return n == 3 }) || n != 3 {
		t.Fatalf("Poll: cond checked %d times", n)
	}
	start := time.Now()
	if Poll(20*time.Millisecond, func() bool { return false }) || time.Since(start) < 20*time.Millisecond {
		t.Fatal("Poll held a false condition or gave up early")
	}
}

func TestFreePorts(t *testing.T) {
	ports := FreePorts(t, 4)
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v", ports)
		}
		seen[p] = true
	}
	if LocalURL(ports[0]) != fmt.Sprintf("nats://127.0.0.1:%d", ports[0]) {
		t.Fatal(LocalURL(ports[0]))
	}
}

// sh starts a shell running script, its stderr kept.
func sh(t *testing.T, script string) *Proc {
	t.Helper()
	bin, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	return Start(t, "sh", bin, []string{"-c", script})
}

func TestProcAwait(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		want   string // "": the line comes; "exited": ErrExited; "timeout": another error
	}{
		{"line comes", "echo ready >&2; exec sleep 60", ""},
		{"process exits first", "echo bye >&2", "exited"},
		{"no line in time", "exec sleep 60", "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := sh(t, tc.script)
			err := p.AwaitLine(300*time.Millisecond, "ready")
			got := ""
			switch {
			case errors.Is(err, ErrExited):
				got = "exited"
			case err != nil:
				got = "timeout"
			}
			if got != tc.want {
				t.Fatalf("AwaitLine: %v; want %q", err, tc.want)
			}
			p.Stop()
			p.Stop() // again: safe
			if !p.Exited() || p.ExitedAt().IsZero() {
				t.Fatal("Stop returned before the process exited")
			}
		})
	}
}

func TestProcSuspend(t *testing.T) {
	p := sh(t, "exec sleep 60")
	done := make(chan error, 1)
	go func() { done <- p.Suspend(time.Second) }()
	WaitFor(t, 5*time.Second, "sh stopped", p.Stopped)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 5*time.Second, "sh continued", func() bool { return !p.Stopped() })
	p.Stop()
	if err := p.Suspend(time.Millisecond); err == nil {
		t.Fatal("Suspend of an exited process: no error")
	}
}

func TestBackground(t *testing.T) {
	errStopped := errors.New("stopped")
	started := make(chan struct{})
	stop := Background(t, func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return errStopped
	})
	<-started
	if err := stop(); !errors.Is(err, errStopped) {
		t.Fatalf("stop: %v", err)
	}
	if err := stop(); !errors.Is(err, errStopped) { // again: the same error
		t.Fatalf("stop again: %v", err)
	}
}
