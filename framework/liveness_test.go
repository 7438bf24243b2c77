package framework_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/testsupport"
)

// A renewal the worker stopped waiting for can still be stored, so its next renewal asks for a
// revision that is no longer the last. That is the worker's own late write, not a lost lease:
// the worker keeps its key and renews on the stored revision. The test stores such a write
// itself (an Update on the worker's key with the revision it read); before the fix the worker
// took it for a lost lease, dropped its key and took the next generation's.
func TestLateRenewalKeepsTheLease(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	task := framework.NewTask("lease_noop", func(ctx context.Context, n int) (int, error) { return n, nil })
	w := newWorker(t, c, nil, task)
	runWorker(t, w)
	var key string
	testsupport.WaitFor(t, 10*time.Second, "a lease", func() bool {
		k, ok := framework.LeaseHeld(w)
		key = k
		return ok
	})
	ctx := testCtx(t)
	kv, err := c.JetStream().KeyValue(ctx, framework.WorkersBucket)
	if err != nil {
		t.Fatal(err)
	}
	var late uint64
	testsupport.WaitFor(t, 10*time.Second, "a late renewal stored", func() bool {
		e, err := kv.Get(ctx, key)
		if err != nil {
			t.Fatalf("lease key %s: %v", key, err)
		}
		late, err = kv.Update(ctx, key, e.Value(), e.Revision())
		return err == nil // the worker renewed in between: read again
	})
	// The worker renews on the late revision: two more renewals under the same key.
	testsupport.WaitFor(t, 3*framework.LivenessTTL, "renewals after the late one", func() bool {
		if k, ok := framework.LeaseHeld(w); k != key || !ok {
			t.Fatalf("lease is %q (valid %v) after a late renewal of %q: taken for lost", k, ok, key)
		}
		e, err := kv.Get(ctx, key)
		if err != nil {
			t.Fatalf("lease key %s after a late renewal: %v", key, err)
		}
		return e.Revision() >= late+2
	})
}
