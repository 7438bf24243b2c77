package framework_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/nats-io/nats.go/jetstream"
)

// A call delivered after the results TTL has passed since it was stored is terminated
// without running: a result it had is gone, and a new one could be a second result.
func TestExpiredCallTerminated(t *testing.T) {
	const ttl = 2 * time.Second
	srv := startServer(t, framework.EmbeddedConfig{})
	createResults(t, srv.ClientURL(), ttl, ttl)
	var mu sync.Mutex
	var ran []int
	record := framework.NewTask("expired_record", func(_ context.Context, n int) (int, error) {
		mu.Lock()
		ran = append(ran, n)
		mu.Unlock()
		return n, nil
	})
	c := connect(t, srv.ClientURL())
	w := newWorker(t, c, nil, record) // registered, not running yet
	ctx := testCtx(t)

	old := record.Remote(ctx, c, 1)
	tasks, err := rawJS(t, c).Stream(ctx, framework.TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	var storedAt time.Time
	deadline := time.Now().Add(30 * time.Second)
	for storedAt.IsZero() {
		m, err := tasks.GetLastMsgForSubject(ctx, framework.TaskSubject(record.Name()))
		switch {
		case err == nil:
			storedAt = m.Time
		case time.Now().After(deadline):
			t.Fatalf("call not stored: %v", err)
		default:
			<-time.After(20 * time.Millisecond)
		}
	}
	<-time.After(time.Until(storedAt.Add(ttl + 200*time.Millisecond))) // the call outlives the TTL

	runWorker(t, w)
	waitSettled(t, c, "task-"+record.Name(), 1)
	if v, err := record.Remote(ctx, c, 2).Await(ctx); err != nil || v != 2 {
		t.Fatalf("fresh call: %v, %v", v, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != 1 || ran[0] != 2 {
		t.Fatalf("handler ran with %v, want only the fresh call [2]", ran)
	}
	if old.Resolved() {
		t.Fatalf("the expired call got a result: %v", old.Err())
	}
}

// waitSettled polls task consumer name (once it exists) until it has delivered at least
// delivered messages and none is pending or awaiting an ack.
func waitSettled(t *testing.T, c *framework.Client, name string, delivered uint64) *jetstream.ConsumerInfo {
	t.Helper()
	ctx := testCtx(t)
	js := rawJS(t, c)
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := js.Consumer(ctx, framework.TasksStream, name)
		var ci *jetstream.ConsumerInfo
		if err == nil {
			ci, err = info.Info(ctx)
		}
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatal(err)
		}
		if ci != nil && ci.NumAckPending == 0 && ci.NumPending == 0 && ci.Delivered.Consumer >= delivered {
			return ci
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s not settled within 30s: %+v, %v", name, ci, err)
		}
		<-time.After(20 * time.Millisecond)
	}
}
