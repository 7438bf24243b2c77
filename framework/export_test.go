package framework

import "time"

// SetAckWaitRefresh sets how often running workers reread their consumers' AckWait, for
// workers started afterwards; the returned func restores the previous period.
func SetAckWaitRefresh(d time.Duration) (restore func()) {
	old := ackWaitRefresh
	ackWaitRefresh = d
	return func() { ackWaitRefresh = old }
}
