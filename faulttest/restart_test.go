package faulttest

import (
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/jetray/jetray/internal/wire"
	"github.com/rs/zerolog"
)

// Requirement 4: the nats-server process (file storage) is stopped while this driver is still
// submitting 20,000 calls and thousands are outstanding, then restarted on the same port and
// store. The driver and two worker processes reconnect by themselves; every future resolves
// exactly once with its value, and the results stream holds one result per call. Killed with
// SIGKILL and back after 1 s, publishes made meanwhile wait in the client's reconnect buffer;
// stopped with SIGTERM and back after 12 s, past the 10 s publish acknowledgement timeout, the
// client also resubmits them (WithSubmitRetry, 2 minutes), and the broker drops the copies that
// landed twice by Nats-Msg-Id (2-minute window).
func TestBrokerRestart(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sig         syscall.Signal
		down        time.Duration
		resubmitted bool // the client must have resubmitted calls
	}{
		{"sigkill-1s", syscall.SIGKILL, time.Second, false},
		{"sigterm-12s", syscall.SIGTERM, 12 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testBrokerRestart(t, tc.sig, tc.down, tc.resubmitted) })
	}
}

func testBrokerRestart(t *testing.T, sig syscall.Signal, downFor time.Duration, wantResubmits bool) {
	srv := testsupport.StartNATS(t, testsupport.NATSConfig{})
	url := srv.URL
	var clientLog testsupport.Buffer
	c := testsupport.Connect(t, url, framework.WithLogger(zerolog.New(&clientLog).Level(zerolog.DebugLevel)))
	ctx := testsupport.Context(t, 3*time.Minute)
	w1 := testsupport.StartWorker(t, url, "restart-w1", "-concurrency", "8")
	w2 := testsupport.StartWorker(t, url, "restart-w2", "-concurrency", "8")

	const n = 20_000
	fs := make([]*futures.Future[int], n)
	var submitted atomic.Int64
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		for i := range fs {
			fs[i] = demo.Add.Remote(ctx, c, demo.AddInput{A: i, B: 1})
			submitted.Add(1)
		}
	}()
	testsupport.WaitFor(t, time.Minute, "half the calls submitted", func() bool { return submitted.Load() >= n/2 })
	srv.Signal(t, sig, 30*time.Second)
	down := time.Now()
	at := submitted.Load()
	t.Logf("nats-server stopped (%s) with %d calls submitted, %d futures resolved", sig, at, resolved(fs[:at]))
	time.Sleep(downFor - time.Since(down)) // the broker stays down: clients see the disconnect
	srv.Restart(t)
	t.Logf("nats-server back after %s", time.Since(down).Round(time.Millisecond))

	select {
	case <-subDone:
	case <-ctx.Done():
		t.Fatal("submission did not finish")
	}
	vals, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatalf("gather across the broker restart: %v", err)
	}
	t.Logf("every future resolved %s after the broker stopped", time.Since(down).Round(time.Millisecond))
	for i, v := range vals {
		if v != i+1 {
			t.Errorf("future %d = %d, want %d", i, v, i+1)
		}
	}
	ids := callIDs(fs)
	results := checkOneResultEach(t, ctx, c, ids)
	if p := c.Pending(); p != 0 {
		t.Errorf("client has %d pending calls after every future resolved", p)
	}
	// Calls whose result came from a later attempt ran again after the restart.
	rerun := 0
	for _, id := range ids {
		if results[id].Get(wire.HeaderAttempt) != "1" {
			rerun++
		}
	}
	resubmits := strings.Count(clientLog.String(), `"message":"resubmitting call"`)
	t.Logf("%d of %d calls answered by a later attempt; %d resubmissions by the client", rerun, n, resubmits)
	if wantResubmits && resubmits == 0 {
		t.Errorf("the broker was down past the publish acknowledgement timeout, yet no call was resubmitted")
	}
	for _, w := range []*testsupport.Proc{w1, w2} {
		if err, took := w.Term(t, 30*time.Second); err != nil {
			t.Errorf("%s: exit after SIGTERM (%s): %v", w.Name, took, err)
		}
	}
}
