package framework_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// createResults makes JETRAY_RESULTS on the server at url before any client does, with a
// results TTL (MaxAge) and a duplicate window short enough for a test to outlive them.
// Connect keeps an existing stream's settings.
func createResults(t *testing.T, url string, maxAge, dup time.Duration) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = js.CreateStream(testCtx(t), jetstream.StreamConfig{
		Name:        framework.ResultsStream,
		Subjects:    []string{framework.ResultSubjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.MemoryStorage,
		MaxAge:      maxAge,
		Duplicates:  dup,
		AllowDirect: true,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rawJS is a JetStream context on c's connection, for looking at streams directly.
func rawJS(t *testing.T, c *framework.Client) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(c.Conn())
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// resultMessages counts the messages stored on call id's result subject.
func resultMessages(t *testing.T, c *framework.Client, id string) uint64 {
	t.Helper()
	ctx := testCtx(t)
	s, err := rawJS(t, c).Stream(ctx, framework.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	subj := framework.ResultSubject(id)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subj]
}

// outliveDedupWindow returns once the results stream no longer remembers a Nats-Msg-Id
// published now: a probe republished under the same ID is stored again, not dropped.
func outliveDedupWindow(t *testing.T, c *framework.Client) {
	t.Helper()
	ctx := testCtx(t)
	js := rawJS(t, c)
	probe := func() *jetstream.PubAck {
		m := &nats.Msg{Subject: framework.ResultSubject("dedup-probe.1"), Header: nats.Header{jetstream.MsgIDHeader: {"dedup-probe"}}}
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	probe()
	deadline := time.Now().Add(30 * time.Second)
	for probe().Duplicate {
		if time.Now().After(deadline) {
			t.Fatal("duplicate window did not pass within 30s")
		}
		<-time.After(20 * time.Millisecond)
	}
}

// A result published for a call that already has one, after the duplicate window (so
// Nats-Msg-Id no longer protects it), does not replace the first: Resolve, a reference and
// the caller's future read the first result.
func TestSecondResultAfterDedupWindowLoses(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	createResults(t, srv.ClientURL(), time.Hour, 100*time.Millisecond)
	answer := framework.NewTask("oneresult_answer", func(_ context.Context, n int) (int, error) { return n, nil })
	c := connect(t, srv.ClientURL())
	runWorker(t, newWorker(t, c, nil, answer))
	other := connect(t, srv.ClientURL())
	ctx := testCtx(t)

	f := answer.Remote(ctx, c, 42)
	if v, err := f.Await(ctx); err != nil || v != 42 {
		t.Fatalf("call: %v, %v", v, err)
	}
	outliveDedupWindow(t, c)

	// A late failure for the same call, as the actor reaper publishes: refused, not an error.
	late := &framework.TaskError{Task: answer.Name(), TaskID: f.ID(), Kind: "actor_died", Message: "late"}
	if err := framework.PublishFailure(ctx, c, late); err != nil {
		t.Fatalf("PublishFailure on an answered call: %v", err)
	}
	if err := framework.PublishFailure(ctx, other, late); err != nil {
		t.Fatalf("PublishFailure from another client: %v", err)
	}
	// A cancel of the finished call changes nothing either.
	ref := refTo[int](t, f.ID())
	if err := framework.Cancel(ctx, other, ref); err != nil {
		t.Fatalf("Cancel of a finished call: %v", err)
	}

	if n := resultMessages(t, c, f.ID()); n != 1 {
		t.Fatalf("%d results stored for %s, want 1", n, f.ID())
	}
	var v int
	if err := other.Resolve(ctx, f.ID(), &v); err != nil || v != 42 {
		t.Fatalf("Resolve: %v, %v; want 42", v, err)
	}
	if v, err := ref.Await(futures.WithResolver(ctx, other)); err != nil || v != 42 {
		t.Fatalf("reference: %v, %v; want 42", v, err)
	}
	if v, err := f.Await(ctx); err != nil || v != 42 {
		t.Fatalf("caller's future: %v, %v; want 42", v, err)
	}
}

// refTo makes a reference to call id, as a process that received the future inside a value.
func refTo[T any](t *testing.T, id string) *futures.Future[T] {
	t.Helper()
	data, err := json.Marshal(map[string]string{"jetray_future": id})
	if err != nil {
		t.Fatal(err)
	}
	var f futures.Future[T]
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// A worker whose call already has a result (cancelled while the handler ignored its ctx) has
// its own result refused: it acks the call (no redelivery, no second run), and what Resolve
// reads does not change.
func TestAnsweredCallAckedNotRedelivered(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	createResults(t, srv.ClientURL(), time.Hour, 100*time.Millisecond)
	started := make(chan string, 1)
	release := make(chan struct{})
	var runs atomic.Int64
	stubborn := framework.NewTask("oneresult_stubborn", func(ctx context.Context, n int) (int, error) {
		runs.Add(1)
		started <- framework.CallFromContext(ctx).ID
		<-release // ignores its ctx
		return n, nil
	})
	c := connect(t, srv.ClientURL())
	runWorker(t, newWorker(t, c, []framework.WorkerOption{framework.WithConcurrency(1)}, stubborn))
	other := connect(t, srv.ClientURL())
	ctx := testCtx(t)

	f := stubborn.Remote(ctx, c, 7)
	recv(t, started, 30*time.Second, "the call to start")
	if err := framework.Cancel(ctx, c, f); err != nil {
		t.Fatal(err)
	}
	if !f.Resolved() {
		t.Fatal("Cancel returned nil and the future is still pending")
	}
	outliveDedupWindow(t, c) // the worker's result is refused by the one-result rule alone
	close(release)

	if info := waitSettled(t, c, "task-"+stubborn.Name(), 1); info.NumRedelivered != 0 {
		t.Fatalf("call redelivered %d times", info.NumRedelivered)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("handler ran %d times", n)
	}
	if n := resultMessages(t, c, f.ID()); n != 1 {
		t.Fatalf("%d results stored, want 1", n)
	}
	var v int
	if err := other.Resolve(ctx, f.ID(), &v); !errors.Is(err, framework.ErrCancelled) {
		t.Fatalf("Resolve: %v, %v; want ErrCancelled", v, err)
	}
	if _, err := f.Await(ctx); !errors.Is(err, framework.ErrCancelled) {
		t.Fatalf("caller's future: %v; want ErrCancelled", err)
	}
}

// A Put value follows the one-result rule too: a later failure for its ID is refused.
func TestPutValueIsFirstResult(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	createResults(t, srv.ClientURL(), time.Hour, 100*time.Millisecond)
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)
	p := framework.Put(ctx, c, "first")
	if _, err := p.Await(ctx); err != nil {
		t.Fatal(err)
	}
	outliveDedupWindow(t, c)
	late := &framework.TaskError{TaskID: p.ID(), Kind: "actor_died", Message: "late"}
	if err := framework.PublishFailure(ctx, c, late); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := c.Resolve(ctx, p.ID(), &v); err != nil || v != "first" {
		t.Fatalf("Resolve: %q, %v", v, err)
	}
}

// A worker's result carries no Nats-Msg-Id: the one-result rule alone refuses a republish of
// the very same message (what a worker retries after a lost PubAck), so the call keeps its
// one result and the worker's retry path (confirm by direct get, ack) is what answers it.
func TestResultRepublishRefusedWithoutMsgID(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	answer := framework.NewTask("oneresult_republish", func(_ context.Context, n int) (int, error) { return n, nil })
	c := connect(t, srv.ClientURL())
	runWorker(t, newWorker(t, c, nil, answer))
	ctx := testCtx(t)

	f := answer.Remote(ctx, c, 5)
	if v, err := f.Await(ctx); err != nil || v != 5 {
		t.Fatalf("call: %v, %v", v, err)
	}
	js := rawJS(t, c)
	s, err := js.Stream(ctx, framework.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.GetLastMsgForSubject(ctx, framework.ResultSubject(f.ID()))
	if err != nil {
		t.Fatal(err)
	}
	if id := stored.Header.Get(jetstream.MsgIDHeader); id != "" {
		t.Fatalf("result stored with Nats-Msg-Id %q", id)
	}
	again := &nats.Msg{Subject: stored.Subject, Header: nats.Header{}, Data: stored.Data}
	for k, v := range stored.Header {
		again.Header[k] = v
	}
	again.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0") // as the worker sends it
	_, err = js.PublishMsg(ctx, again)
	var ae *jetstream.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("republish of the stored result: %v; want error %d (wrong last sequence)", err, jetstream.JSErrCodeStreamWrongLastSequence)
	}
	if n := resultMessages(t, c, f.ID()); n != 1 {
		t.Fatalf("%d results stored for %s, want 1", n, f.ID())
	}
}
