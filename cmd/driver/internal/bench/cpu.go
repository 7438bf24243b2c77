//go:build unix

package bench

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user plus system) the process has used so far: the embedded
// server, the in-process worker and the driver together, as they share the process. It
// returns 0 if the system does not say.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
