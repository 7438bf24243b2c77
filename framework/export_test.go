package framework

import (
	"context"
	"time"
)

// SetAckWaitRefresh sets how often running workers reread their consumers' AckWait, for
// workers started afterwards; the returned func restores the previous period.
func SetAckWaitRefresh(d time.Duration) (restore func()) {
	old := ackWaitRefresh
	ackWaitRefresh = d
	return func() { ackWaitRefresh = old }
}

// PublishFailure exposes the failure publish runtimes reach through internal/seam.
func PublishFailure(ctx context.Context, c *Client, te *TaskError) error {
	return c.publishFailure(ctx, te)
}
