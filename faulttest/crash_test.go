package faulttest

import (
	"testing"
	"time"

	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/jetray/jetray/internal/wire"
)

// Requirement 1: a worker process killed with SIGKILL while it holds 200 two-second calls.
// Worker A takes all of them; worker B starts and gets nothing (every call is held by A, kept
// alive by its progress reports); A is killed. The broker redelivers A's calls to B once
// AckWait (6 s) passes after A's last progress report, B runs them as attempt 2, and every
// future resolves once with its value.
func TestWorkerCrash(t *testing.T) {
	url, c, ctx := startBroker(t, 2*time.Minute)

	const n, ms = 200, 2000
	a := testsupport.StartWorker(t, url, "crash-a", "-concurrency", "100")
	fs, ids := sleeps(ctx, c, n, ms)
	// A holds all n: 100 running, 100 in its queue.
	a.WaitFor(t, 30*time.Second, "worker A holding every call", func() bool {
		ci, err := taskConsumer(ctx, c, "sleep")
		return err == nil && ci.NumAckPending == n && ci.NumPending == 0
	})
	b := testsupport.StartWorker(t, url, "crash-b", "-concurrency", "100")

	doneBefore := resolved(fs)
	a.Kill(t)
	killed := time.Now()
	t.Logf("worker A killed with %d of %d futures resolved", doneBefore, n)

	// Redelivery: the consumer reports redelivered calls once AckWait has passed.
	var redelivered time.Duration
	b.WaitFor(t, 30*time.Second, "redelivery of A's calls", func() bool {
		ci, err := taskConsumer(ctx, c, "sleep")
		if err == nil && ci.NumRedelivered > 0 {
			redelivered = time.Since(killed)
			return true
		}
		return false
	})
	vals, err := futures.Gather(testsupport.Context(t, 30*time.Second), fs...)
	all := time.Since(killed)
	if err != nil {
		t.Fatalf("gather after the crash (%s): %v", all, err)
	}
	for i, v := range vals {
		if v != ms {
			t.Errorf("future %d = %d, want %d", i, v, ms)
		}
	}
	t.Logf("after SIGKILL: redelivery began after %s, every future resolved after %s", redelivered.Round(time.Millisecond), all.Round(time.Millisecond))
	if redelivered > 12*time.Second {
		t.Errorf("redelivery began %s after the crash; want within a few seconds (AckWait 6 s)", redelivered)
	}

	// Each call has one stored result: A's (attempt 1) if it finished before the kill,
	// otherwise B's, on attempt 2.
	results := checkOneResultEach(t, ctx, c, ids)
	by := map[string]int{}
	for _, id := range ids {
		h := results[id]
		w, att := h.Get(wire.HeaderWorker), h.Get(wire.HeaderAttempt)
		by[w+" attempt "+att]++
		if (w == "crash-a" && att != "1") || (w == "crash-b" && att != "2") || (w != "crash-a" && w != "crash-b") {
			t.Errorf("call %s: result from %q on attempt %s", id, w, att)
		}
	}
	t.Logf("results: %v", by)
	if by["crash-b attempt 2"] == 0 {
		t.Errorf("no call was re-run by worker B: %v", by)
	}
	if p := c.Pending(); p != 0 {
		t.Errorf("client has %d pending calls after every future resolved", p)
	}
	if err, took := b.Term(t, 20*time.Second); err != nil {
		t.Errorf("worker B: exit after SIGTERM (%s): %v", took, err)
	}
}
