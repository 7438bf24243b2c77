package faulttest

import (
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/jetray/jetray/internal/wire"
)

// Requirement 9: SIGTERM to a worker process serving 1,000 queued 5 ms calls with
// concurrency 4 (so most of what it holds is queued or prefetched, not running). It exits 0
// well within its -drain deadline, handing back what it has not started; a worker started
// afterwards completes the rest, and every future resolves once with its value.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	url, c, ctx := startBroker(t, 2*time.Minute)

	const n, ms, drain = 1000, 5, 10 * time.Second
	a := testsupport.StartWorker(t, url, "drain-a", "-concurrency", "4", "-drain", drain.String())
	fs, ids := sleeps(ctx, c, n, ms)
	a.WaitFor(t, 30*time.Second, "50 calls done by worker A", func() bool { return resolved(fs) >= 50 })
	ci, err := taskConsumer(ctx, c, "sleep")
	if err != nil {
		t.Fatal(err)
	}
	err, took := a.Term(t, drain+5*time.Second)
	doneByA := resolved(fs)
	t.Logf("worker A held %d calls (%d not yet delivered) at SIGTERM; exited after %s (-drain %s) with %d of %d done",
		ci.NumAckPending, ci.NumPending, took.Round(time.Millisecond), drain, doneByA, n)
	if err != nil {
		t.Fatalf("worker A: exit after SIGTERM: %v (want 0)", err)
	}
	if took > drain {
		t.Errorf("worker A took %s to exit, past its -drain %s", took, drain)
	}
	if s := a.Stderr.String(); !strings.Contains(s, `"message":"worker stopped"`) || strings.Contains(s, "drain timeout") {
		t.Errorf("worker A did not stop cleanly; its log ends:\n%s", testsupport.Tail(s, 2000))
	}
	if doneByA >= n {
		t.Fatalf("worker A finished all %d calls before stopping; want it stopped mid-way", n)
	}
	// What A handed back (Nak) is redelivered at once to the next worker, without waiting
	// for AckWait.
	testsupport.StartWorker(t, url, "drain-b", "-concurrency", "4")
	bStarted := time.Now()
	vals, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatalf("gather after the drain: %v", err)
	}
	t.Logf("worker B finished the remaining %d calls in %s", n-doneByA, time.Since(bStarted).Round(time.Millisecond))
	for i, v := range vals {
		if v != ms {
			t.Errorf("future %d = %d, want %d", i, v, ms)
		}
	}
	results := checkOneResultEach(t, ctx, c, ids)
	by := map[string]int{}
	for _, id := range ids {
		h := results[id]
		by[h.Get(wire.HeaderWorker)+" attempt "+h.Get(wire.HeaderAttempt)]++
	}
	t.Logf("results: %v", by)
	if by["drain-a attempt 1"] != doneByA {
		t.Errorf("worker A stored %d first-attempt results, want %d (one per call it finished)", by["drain-a attempt 1"], doneByA)
	}
}
