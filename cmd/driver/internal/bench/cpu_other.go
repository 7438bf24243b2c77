//go:build !unix

package bench

import "time"

// cpuTime returns 0: process CPU time is read with getrusage, which only unix systems have.
func cpuTime() time.Duration { return 0 }
