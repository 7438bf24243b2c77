// Package failpoint lets fault-injection tests stop a real process at a named point of the
// runtime, where no outside signal could be timed: between an actor host's lease check and
// its result publish, for example. Points are armed only through the environment variable
// JETRAY_FAILPOINTS of the process, read once, so a process started without it pays one
// atomic load per Hit.
//
//	JETRAY_FAILPOINTS="actors.before-publish=sigstop"
//
// Actions: "sigstop" raises SIGSTOP on the process the first time the point is hit (the test
// then sends SIGCONT); "sigstop-after:<n>" does so on hit n+1.
package failpoint

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// EnvVar names the environment variable that arms failpoints.
const EnvVar = "JETRAY_FAILPOINTS"

type point struct {
	after int64        // hits to let pass first
	hits  atomic.Int64 // hits so far
}

var points = sync.OnceValue(func() map[string]*point {
	spec := os.Getenv(EnvVar)
	if spec == "" {
		return nil
	}
	m := map[string]*point{}
	for _, item := range strings.Split(spec, ";") {
		name, action, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		p := &point{}
		switch {
		case action == "sigstop":
		case strings.HasPrefix(action, "sigstop-after:"):
			n, err := strconv.ParseInt(strings.TrimPrefix(action, "sigstop-after:"), 10, 64)
			if err != nil {
				continue
			}
			p.after = n
		default:
			continue
		}
		m[name] = p
	}
	return m
})

// Hit runs the action armed for name, if any. Each armed point fires once.
func Hit(name string) {
	pts := points()
	if pts == nil {
		return
	}
	p := pts[name]
	if p == nil {
		return
	}
	if p.hits.Add(1) == p.after+1 {
		// Sent to this very thread: a SIGSTOP sent to the process may be taken by another
		// thread, and this one then runs on for a moment (seen: it published the result the
		// point was meant to hold back). The whole process stops either way.
		runtime.LockOSThread()
		_ = syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGSTOP)
		runtime.UnlockOSThread()
	}
}

// Armed reports whether a point is armed for name, for work that only a test stopping there
// needs (flushing an answer that must get out before the process stops).
func Armed(name string) bool {
	return points()[name] != nil
}
