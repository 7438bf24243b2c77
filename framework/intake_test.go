package framework_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// Calls a worker has taken but not started yet are kept alive, however long they wait: with
// one slot, a prefetch of 8, AckWait 1 s and calls of 400 ms, the last calls taken wait about
// 3 s for the slot. None may be delivered again meanwhile, which would count as an attempt
// (an attempt is a run started, not a delivery): the broker delivers each call once, and
// every MaxRetries(0) call succeeds, runs once with attempt 1, and its result says attempt 1.
func TestWaitingCallsUseNoAttempt(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)

	var mu sync.Mutex
	attempts := map[int][]int{} // input -> Call.Attempt of each run
	task := framework.NewTask("slow_queued", func(ctx context.Context, i int) (int, error) {
		mu.Lock()
		attempts[i] = append(attempts[i], framework.CallFromContext(ctx).Attempt)
		mu.Unlock()
		select { // simulated work
		case <-time.After(400 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return 10 * i, nil
	}, framework.MaxRetries(0))
	opts := []framework.WorkerOption{framework.WithConcurrency(1), framework.WithPrefetch(8), framework.WithAckWait(time.Second)}
	runWorker(t, newWorker(t, c, opts, task))

	const n = 20
	fs := make([]*futures.Future[int], n)
	for i := range fs {
		fs[i] = task.Remote(ctx, c, i)
	}
	for i, f := range fs {
		v, err := f.Await(ctx)
		var te *framework.TaskError
		if errors.As(err, &te) {
			t.Errorf("call %d: %v (kind %s, attempts %d)", i, err, te.Kind, te.Attempts)
			continue
		}
		if err != nil || v != 10*i {
			t.Errorf("call %d = %d, %v; want %d", i, v, err, 10*i)
		}
	}
	// Every call was acked once its result was stored; a call delivered again, even if that
	// delivery was not run, counted an attempt that never started.
	var delivered uint64
	waitFor(t, 10*time.Second, "every call acked", func() bool {
		info, err := taskConsumerInfo(ctx, c, task.Name())
		if err != nil || info.NumAckPending > 0 {
			return false
		}
		delivered = info.Delivered.Consumer
		return true
	})
	if delivered != n {
		t.Errorf("the broker made %d deliveries of %d calls; want one each", delivered, n)
	}
	mu.Lock()
	for i := range n {
		if got := attempts[i]; len(got) != 1 || got[0] != 1 {
			t.Errorf("call %d ran with attempts %v; want one run, attempt 1", i, got)
		}
	}
	mu.Unlock()
	results, err := c.JetStream().Stream(ctx, "JETRAY_RESULTS")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range fs {
		m, err := results.GetLastMsgForSubject(ctx, framework.ResultSubject(f.ID()))
		if err != nil {
			t.Errorf("call %d: result: %v", i, err)
			continue
		}
		if a := m.Header.Get("Jetray-Attempt"); a != "1" {
			t.Errorf("call %d: result of attempt %q; want 1", i, a)
		}
	}
}
