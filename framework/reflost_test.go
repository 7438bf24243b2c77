package framework_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// refTTL is the client TTL of these tests (the default is 30 s): references start asking
// about their calls a third of it into their wait.
const refTTL = 2 * time.Second

// refServer starts a server whose clients bucket has TTL refTTL, and returns a client of it
// made first (so it creates the bucket) and connected for a full TTL (so it may judge).
func refServer(t *testing.T) (*framework.EmbeddedServer, *framework.Client) {
	t.Helper()
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL(), framework.WithClientTTL(refTTL))
	testsupport.WaitFor(t, 30*time.Second, "clients bucket", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := c.JetStream().KeyValue(ctx, c.Names().ClientsBucket)
		return err == nil
	})
	waitJudge(t, c)
	return srv, c
}

// waitJudge waits until c may judge other clients (connected a full TTL, the clients bucket
// older than a TTL): until its judgement finds a client that never existed gone.
func waitJudge(t *testing.T, c *framework.Client) {
	t.Helper()
	const nobody = "nobody0judgeprobe"
	testsupport.WaitFor(t, 30*time.Second, "client "+c.ID()+" ready to judge", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return framework.ClientsGone(ctx, c, []string{nobody})[nobody]
	})
}

// resolveAsync resolves id with c in the background; the result comes on the channel.
func resolveAsync(ctx context.Context, c *framework.Client, id string) <-chan error {
	done := make(chan error, 1)
	go func() {
		var v json.RawMessage
		done <- c.Resolve(ctx, id, &v)
	}()
	return done
}

// TestReferenceToUnknownCallFails: a reference to a call nobody issued fails with
// ErrReferenceLost within a bounded time instead of waiting until ctx ends: a client that
// never existed (ErrOwnerDied too), a sequence a live client never reached, and an ID that is
// no call ID. A task awaiting such a reference fails with the same kind.
func TestReferenceToUnknownCallFails(t *testing.T) {
	awaitRef := framework.NewTask("await_ref", func(ctx context.Context, in struct {
		F *futures.Future[int] `json:"f"`
	}) (int, error) {
		return in.F.Await(ctx)
	})
	srv, c := refServer(t)
	runWorker(t, newWorker(t, connect(t, srv.ClientURL(), framework.WithClientTTL(refTTL)), nil, awaitRef))
	other := connect(t, srv.ClientURL(), framework.WithClientTTL(refTTL))
	ctx := testCtx(t)
	for _, tc := range []struct {
		id        string
		ownerDied bool
	}{
		{"nobody0client.1", true},
		{other.ID() + ".zzzzzz", false},
		{"not-a-call-id", false},
	} {
		start := time.Now()
		var v int
		err := c.Resolve(ctx, tc.id, &v)
		took := time.Since(start)
		t.Logf("%s: %v after %v", tc.id, err, took.Round(time.Millisecond))
		if !errors.Is(err, framework.ErrReferenceLost) || errors.Is(err, framework.ErrOwnerDied) != tc.ownerDied {
			t.Fatalf("Resolve(%s) = %v; want ErrReferenceLost, ErrOwnerDied %v", tc.id, err, tc.ownerDied)
		}
		if took > 4*refTTL+5*time.Second {
			t.Fatalf("Resolve(%s) took %v", tc.id, took)
		}
	}
	// Through a task boundary: the task's error keeps the kind.
	ref := futures.Failed[int]("nobody0client.2", errors.New("local")) // only its ID travels
	_, err := awaitRef.Remote(ctx, c, struct {
		F *futures.Future[int] `json:"f"`
	}{ref}).Await(ctx)
	var te *framework.TaskError
	if !errors.As(err, &te) || te.Kind != framework.KindOwnerDied || !errors.Is(err, framework.ErrOwnerDied) ||
		!errors.Is(err, framework.ErrReferenceLost) {
		t.Fatalf("task awaiting a lost reference: %v; want kind owner_died matching ErrOwnerDied and ErrReferenceLost", err)
	}
}

// TestReferenceToHeldCall: a call held by RemoteFrom on its client (its dependency pending)
// is not stored anywhere. While the client is alive, a reference to it keeps waiting (the
// client says it is pending) and resolves once the call runs; once the client vanishes
// without storing it, the reference fails with ErrOwnerDied.
func TestReferenceToHeldCall(t *testing.T) {
	release := make(chan struct{})
	gate := framework.NewTask("ref_gate", func(ctx context.Context, n int) (int, error) {
		select {
		case <-release:
			return n, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	double := framework.NewTask("ref_double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	srv, reader := refServer(t)
	runWorker(t, newWorker(t, connect(t, srv.ClientURL(), framework.WithClientTTL(refTTL)), nil, gate, double))
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	ctx := testCtx(t)

	// Alive: held, then submitted and answered.
	owner := connect(t, srv.ClientURL(), framework.WithClientTTL(refTTL))
	held := double.RemoteFrom(ctx, owner, gate.Remote(ctx, owner, 21))
	done := resolveAsync(ctx, reader, held.ID())
	select {
	case err := <-done:
		t.Fatalf("reference to a held call of a live client returned %v", err)
	case <-time.After(3 * refTTL): // several checks: each asks the owner, who says pending
	}
	close(release)
	if err := recv(t, done, 30*time.Second, "the held call's result"); err != nil {
		t.Fatalf("reference after the call ran: %v", err)
	}

	// Dead: the owner vanishes while it still holds the call.
	dead := connect(t, srv.ClientURL(), framework.WithClientTTL(refTTL))
	never := futures.NewPromise[int]("") // a dependency that never resolves
	lost := double.RemoteFrom(ctx, dead, never.Future())
	done = resolveAsync(ctx, reader, lost.ID())
	select {
	case err := <-done:
		t.Fatalf("reference to a held call of a live client returned %v", err)
	case <-time.After(refTTL): // a window, not a condition: the reference asks the live owner first
	}
	dead.Conn().Close() // no Close: its key expires, its responder is gone
	cut := time.Now()
	err := recv(t, done, 60*time.Second, "the lost reference")
	t.Logf("reference to the held call of a vanished client: %v after %v", err, time.Since(cut).Round(time.Millisecond))
	if !errors.Is(err, framework.ErrOwnerDied) || !errors.Is(err, framework.ErrReferenceLost) {
		t.Fatalf("got %v, want ErrOwnerDied and ErrReferenceLost", err)
	}
}

// TestReferenceToQueuedCallOfDeadOwner: a call that its client stored before it died is
// answered once a worker runs it, however long it waits: a reference to it never fails.
func TestReferenceToQueuedCallOfDeadOwner(t *testing.T) {
	add := framework.NewTask("ref_queued", func(_ context.Context, n int) (int, error) { return n + 1, nil })
	srv, reader := refServer(t)
	wc := connect(t, srv.ClientURL(), framework.WithClientTTL(refTTL))
	w := newWorker(t, wc, nil, add) // registered, not running: calls queue
	ctx := testCtx(t)
	owner := connect(t, srv.ClientURL(), framework.WithClientTTL(refTTL))
	f := add.Remote(ctx, owner, 41)
	testsupport.WaitFor(t, 10*time.Second, "the call stored", func() bool { return owner.Pending() == 1 && storedCalls(owner) >= 1 })
	_ = owner.Close() // its key goes, its responder too: the owner is gone
	done := resolveAsync(ctx, reader, f.ID())
	select {
	case err := <-done:
		t.Fatalf("reference to a queued call of a gone client returned %v", err)
	case <-time.After(5 * refTTL): // several checks, each finding the call stored
	}
	runWorker(t, w)
	if err := recv(t, done, 30*time.Second, "the queued call's result"); err != nil {
		t.Fatalf("reference after the call ran: %v", err)
	}
}

// storedCalls counts the messages in the tasks stream.
func storedCalls(c *framework.Client) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := c.JetStream().Stream(ctx, c.Names().TasksStream)
	if err != nil {
		return 0
	}
	return s.CachedInfo().State.Msgs
}

// TestClientJudgedGoneNeedsBothSignals: a client is judged gone only with no liveness key and
// no answer to a probe; a responder without a key, or a key without a responder, is alive.
// (Actor hosts kill owned actors on this judgement; references fail on it.)
func TestClientJudgedGoneNeedsBothSignals(t *testing.T) {
	srv, judge := refServer(t)
	ctx := testCtx(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// "answers": no key, but a responder.
	sub, err := nc.Subscribe(wire.Names{}.ClientControlSubject("answers"), func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"ok":true}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// "keyed": a fresh key, no responder.
	kv, err := judge.JetStream().KeyValue(ctx, judge.Names().ClientsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "keyed", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	gone := framework.ClientsGone(ctx, judge, []string{"answers", "keyed", "silent", judge.ID()})
	if !gone["silent"] || gone["answers"] || gone["keyed"] || gone[judge.ID()] {
		t.Fatalf("judged gone: %v; want only silent", gone)
	}
	// A judge that has not been connected for a full TTL judges nobody.
	fresh := connect(t, srv.ClientURL())
	if g := framework.ClientsGone(ctx, fresh, []string{"silent"}); len(g) != 0 {
		t.Fatalf("a fresh judge judged %v gone", g)
	}
}

// TestReferenceToBrokerHeldCalls: calls the broker holds for later are waited for, whoever
// submitted them: a delayed call whose client closed before it was due (the broker stores the
// call at its time), and a periodic schedule's run (TickID), which no client submits.
func TestReferenceToBrokerHeldCalls(t *testing.T) {
	add := framework.NewTask("ref_delayed", func(_ context.Context, n int) (int, error) { return n + 1, nil })
	srv, reader := refServer(t)
	runWorker(t, newWorker(t, connect(t, srv.ClientURL(), framework.WithClientTTL(refTTL)), nil, add))
	ctx := testCtx(t)
	owner := connect(t, srv.ClientURL(), framework.WithClientTTL(refTTL))
	due := 4 * refTTL
	f := add.Options(framework.Delay(due)).Remote(ctx, owner, 41)
	if err := f.Err(); err != nil {
		t.Fatal(err)
	}
	_ = owner.Close() // gone long before its call is due
	submitted := time.Now()
	var v int
	if err := reader.Resolve(ctx, f.ID(), &v); err != nil || v != 42 {
		t.Fatalf("reference to a delayed call of a gone client: %d, %v", v, err)
	}
	if took := time.Since(submitted); took < due-time.Second {
		t.Fatalf("answered after %v, before the call was due (%v)", took, due)
	}
	tctx, cancel := context.WithTimeout(ctx, 3*refTTL)
	defer cancel()
	tick := framework.TickID("nightly", time.Now().Add(time.Hour).Truncate(time.Second))
	if err := reader.Resolve(tctx, tick, &v); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reference to a future periodic run: %v, want it still waiting when its ctx ends", err)
	}
}
