package framework

import (
	"context"
	"time"

	"github.com/jetray/jetray/internal/wire"
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

// CreditRequests returns how many stream credit requests c has taken and how many it holds
// unanswered (0, 0 before its first call with a StreamWindow).
func CreditRequests(c *Client) (taken uint64, held int) {
	c.extMu.Lock()
	v, ok := c.ext[creditKey{}]
	c.extMu.Unlock()
	if !ok {
		return 0, 0
	}
	cs := v.(*creditServer)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.requests.Load(), len(cs.held)
}

// QueuedCalls returns how many calls wait in w's run queue of priority p (received, held,
// not yet taken by a runner).
func QueuedCalls(w *Worker, p PriorityLevel) int {
	w.queueMu.RLock()
	defer w.queueMu.RUnlock()
	return len(w.queueOf(wire.Priority(p)))
}

// ClientsGone exposes the judgement of clients that actor hosts reach through internal/seam.
func ClientsGone(ctx context.Context, c *Client, ids []string) map[string]bool {
	return c.clientsGone(ctx, ids)
}

// LeaseHeld returns the key of w's lease and whether it is valid now ("", false before its
// first renewal and after it was lost).
func LeaseHeld(w *Worker) (key string, valid bool) { return w.ls.Held() }
