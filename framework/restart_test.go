package framework_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// Calls in flight survive a broker restart on the same store and port: the client and the
// worker reconnect, and the ordered consumer reads the results stream back from where it was.
func TestBrokerRestart(t *testing.T) {
	srv := startRestartable(t)

	const n = 200
	started := make(chan struct{}, 4*n)
	nap := framework.NewTask("restart_nap", func(ctx context.Context, i int) (int, error) {
		started <- struct{}{}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return i * i, nil
	})
	c := connect(t, srv.URL())
	runWorker(t, newWorker(t, c, []framework.WorkerOption{framework.WithConcurrency(4), framework.WithAckWait(time.Second)}, nap))
	ctx := testCtx(t)

	fs := make([]*futures.Future[int], n+20)
	for i := range n {
		fs[i] = nap.Remote(ctx, c, i)
	}
	for range 20 {
		recv(t, started, 30*time.Second, "calls to start")
	}
	srv.stop()
	resolved := 0
	for _, f := range fs[:n] {
		if f.Resolved() {
			resolved++
		}
	}
	t.Logf("%d of %d futures resolved before the restart", resolved, n)
	// Calls submitted while the broker is down wait in the reconnect buffer.
	for i := n; i < len(fs); i++ {
		fs[i] = nap.Remote(ctx, c, i)
	}
	srv.start(t)

	vals, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatalf("gather across a restart: %v", err)
	}
	for i, v := range vals {
		if v != i*i {
			t.Errorf("future %d = %d, want %d", i, v, i*i)
		}
	}
}
