package actors

import "time"

// SetRecoverRound sets how long a liveness round starts recoveries of a dead host's actors
// and returns the function that restores it. Call it before any worker starts and restore
// once they have stopped.
func SetRecoverRound(d time.Duration) (restore func()) {
	old := recoverRound
	recoverRound = d
	return func() { recoverRound = old }
}
