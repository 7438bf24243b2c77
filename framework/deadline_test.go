package framework_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// registerOnly records defs in the registry through a worker that never runs: the names are
// known, and no worker takes their calls.
func registerOnly(t *testing.T, url string, defs ...framework.Definition) {
	t.Helper()
	newWorker(t, connect(t, url), nil, defs...)
}

// wantDeadline fails the test unless err is a KindDeadline TaskError matching ErrDeadline.
func wantDeadline(t *testing.T, what string, err error) *framework.TaskError {
	t.Helper()
	var te *framework.TaskError
	if !errors.Is(err, framework.ErrDeadline) || !errors.As(err, &te) || te.Kind != framework.KindDeadline {
		t.Fatalf("%s: err = %v, want a KindDeadline TaskError matching ErrDeadline", what, err)
	}
	return te
}

// subjectMessages returns the messages stored on subject in JETRAY_RESULTS, oldest first.
func subjectMessages(t *testing.T, c *framework.Client, subject string) []jetstream.Msg {
	t.Helper()
	ctx := testCtx(t)
	s, err := rawJS(t, c).Stream(ctx, framework.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	n := int(info.State.Subjects[subject])
	if n == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for range n {
		m, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// A call that no worker starts in time fails at its start deadline, with the failure stored
// by the broker: its submitter has closed and no worker serves the name, yet another client
// reads the deadline error by ID. A worker that comes later answers the queued call with
// the same error without running it.
func TestStartDeadlineWithNoWorkerAndNoSubmitter(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	var runs atomic.Int32
	late := framework.NewTask("dl_late", func(context.Context, int) (int, error) { runs.Add(1); return 1, nil })
	registerOnly(t, srv.ClientURL(), late)
	ctx := testCtx(t)

	sub := connect(t, srv.ClientURL())
	start := time.Now()
	f := late.Options(framework.StartWithin(time.Second)).Remote(ctx, sub, 1)
	id := f.ID()
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Await(ctx); !errors.Is(err, framework.ErrClosed) {
		t.Fatalf("submitter's future after Close: %v, want ErrClosed", err)
	}

	reader := connect(t, srv.ClientURL())
	var v int
	err := reader.Resolve(ctx, id, &v)
	took := time.Since(start)
	te := wantDeadline(t, "Resolve", err)
	if te.TaskID != id || te.Task != "dl_late" || !strings.Contains(te.Message, "not started within 1s") {
		t.Errorf("stored failure = %+v", te)
	}
	if took < time.Second || took > 15*time.Second {
		t.Errorf("deadline failure read %v after submission, want about 1s", took)
	}
	t.Logf("start deadline of 1s stored after %v", took)

	// A worker for the name now pulls the call: answered, not run, acked.
	wc := connect(t, srv.ClientURL())
	runWorker(t, newWorker(t, wc, nil, late))
	waitDrained(t, wc, "dl_late")
	if n := runs.Load(); n != 0 {
		t.Fatalf("the expired call ran %d times", n)
	}
	if err := reader.Resolve(ctx, id, &v); !errors.Is(err, framework.ErrDeadline) {
		t.Fatalf("after the worker answered it: %v", err)
	}
}

// waitDrained waits until the consumer of task name has nothing pending or unacked.
func waitDrained(t *testing.T, c *framework.Client, name string) {
	t.Helper()
	ctx := testCtx(t)
	for {
		cons, err := c.JetStream().Consumer(ctx, framework.TasksStream, "task-"+name)
		if err == nil {
			info, err := cons.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Consumer > 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer task-%s not drained", name)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A call started before its start deadline runs to its end however long it takes: the
// worker's start removed the start schedule, so nothing fires later.
func TestStartDeadlineMetRunsLong(t *testing.T) {
	slow := framework.NewTask("dl_slow", func(ctx context.Context, ms int) (int, error) {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return ms, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	env := newEnv(t, slow)
	ctx := testCtx(t)
	f := slow.Options(framework.StartWithin(time.Second)).Remote(ctx, env.client, 2500)
	if v, err := f.Await(ctx); err != nil || v != 2500 {
		t.Fatalf("call started in time = %v, %v", v, err)
	}
	rs := framework.ResultSubjectPrefix + f.ID()
	if n := len(subjectMessages(t, env.client, rs+"._start")); n != 0 {
		t.Errorf("start schedule still stored (%d messages)", n)
	}
	if ms := subjectMessages(t, env.client, rs+"._started"); len(ms) != 1 {
		t.Errorf("start records = %d, want 1", len(ms))
	}
	if ms := subjectMessages(t, env.client, rs); len(ms) != 1 || ms[0].Headers().Get(wire.HeaderDeadline) != "" {
		t.Errorf("result subject holds %d messages, want the one result", len(ms))
	}
}

// env is a server, a client and a running worker serving defs.
type env struct {
	url    string
	client *framework.Client
	worker *framework.Client
}

func newEnv(t *testing.T, defs ...framework.Definition) env {
	t.Helper()
	srv := startServer(t, framework.EmbeddedConfig{})
	wc := connect(t, srv.ClientURL())
	runWorker(t, newWorker(t, wc, []framework.WorkerOption{framework.WithConcurrency(4)}, defs...))
	return env{url: srv.ClientURL(), client: connect(t, srv.ClientURL()), worker: wc}
}

// A running call over its FinishWithin deadline is cancelled as by Cancel: its ctx ends with
// cause ErrDeadline (and carries the deadline), the call it submitted is cancelled, and
// every reader gets the deadline error although the handler returned a value.
func TestFinishDeadlineCancelsRunningCall(t *testing.T) {
	childStarted := make(chan string, 1)
	child := framework.NewTask("dl_child", func(ctx context.Context, _ int) (int, error) {
		childStarted <- framework.CallFromContext(ctx).ID
		<-ctx.Done()
		return 0, ctx.Err()
	})
	type seen struct {
		cause       error
		hasDeadline bool
		childErr    error
	}
	seenCh := make(chan seen, 1)
	parent := framework.NewTask("dl_parent", func(ctx context.Context, _ int) (int, error) {
		_, hasDeadline := ctx.Deadline()
		cf := child.Remote(ctx, framework.ClientFromContext(ctx), 0)
		<-ctx.Done()
		actx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, childErr := cf.Await(actx)
		seenCh <- seen{context.Cause(ctx), hasDeadline, childErr}
		return 42, nil // a value after the deadline does not count
	})
	env := newEnv(t, parent, child)
	ctx := testCtx(t)
	start := time.Now()
	f := parent.Options(framework.FinishWithin(1500*time.Millisecond)).Remote(ctx, env.client, 0)
	recv(t, childStarted, 30*time.Second, "the child to start")
	_, err := f.Await(ctx)
	wantDeadline(t, "parent", err)
	if took := time.Since(start); took < 1500*time.Millisecond || took > 15*time.Second {
		t.Errorf("failed after %v, want about 1.5s", took)
	}
	s := recv(t, seenCh, 30*time.Second, "the parent to return")
	if s.cause != framework.ErrDeadline || !s.hasDeadline {
		t.Errorf("parent's ctx: cause %v, deadline set %v; want ErrDeadline, true", s.cause, s.hasDeadline)
	}
	if !errors.Is(s.childErr, framework.ErrCancelled) {
		t.Errorf("child: %v, want ErrCancelled", s.childErr)
	}
	var v int
	wantDeadline(t, "Resolve from another client", connect(t, env.url).Resolve(ctx, f.ID(), &v))
}

// A call answered before its FinishWithin deadline keeps its value: the result deleted the
// close schedule as it was stored, so nothing fires at the deadline.
func TestFinishDeadlineMetLeavesNoSchedule(t *testing.T) {
	env := newEnv(t, addTask)
	ctx := testCtx(t)
	f := addTask.Options(framework.FinishWithin(time.Second)).Remote(ctx, env.client, addIn{2, 3})
	if v, err := f.Await(ctx); err != nil || v != 5 {
		t.Fatalf("add = %v, %v", v, err)
	}
	rs := framework.ResultSubjectPrefix + f.ID()
	if n := len(subjectMessages(t, env.client, rs+"._close")); n != 0 {
		t.Fatalf("close schedule still stored (%d messages) after the result", n)
	}
	// Past the deadline: still one message, the value.
	waitUntil(t, time.Now().Add(2*time.Second))
	if ms := subjectMessages(t, env.client, rs); len(ms) != 1 {
		t.Fatalf("result subject holds %d messages after the deadline, want 1", len(ms))
	}
	var v int
	if err := connect(t, env.url).Resolve(ctx, f.ID(), &v); err != nil || v != 5 {
		t.Fatalf("Resolve after the deadline = %v, %v", v, err)
	}
}

// waitUntil blocks until the wall clock passes at: time itself is the condition here.
func waitUntil(t *testing.T, at time.Time) {
	t.Helper()
	<-time.After(time.Until(at))
}

// The deadline kind survives task boundaries: a task that awaited a call which missed its
// start deadline fails with an error its own caller matches with errors.Is(ErrDeadline).
func TestDeadlineKindCrossesTaskBoundary(t *testing.T) {
	unserved := framework.NewTask("dl_unserved", func(context.Context, int) (int, error) { return 0, nil })
	outer := framework.NewTask("dl_outer", func(ctx context.Context, _ int) (int, error) {
		c := framework.ClientFromContext(ctx)
		v, err := unserved.Options(framework.StartWithin(500*time.Millisecond)).Remote(ctx, c, 0).Await(ctx)
		if err != nil {
			return 0, fmt.Errorf("outer: %w", err)
		}
		return v, nil
	})
	env := newEnv(t, outer)
	registerOnly(t, env.url, unserved)
	ctx := testCtx(t)
	_, err := outer.Remote(ctx, env.client, 0).Await(ctx)
	te := wantDeadline(t, "outer", err)
	if te.Task != "dl_outer" || !strings.Contains(te.Message, "not started") {
		t.Errorf("outer's failure = %+v", te)
	}
}

// A deadline survives a broker restart: the schedule is a message of the results stream.
func TestDeadlineSurvivesBrokerRestart(t *testing.T) {
	srv := startRestartable(t)
	waits := framework.NewTask("dl_restart", func(context.Context, int) (int, error) { return 0, nil })
	registerOnly(t, srv.URL(), waits)
	ctx := testCtx(t)
	sub := connect(t, srv.URL())
	start := time.Now()
	f := waits.Options(framework.FinishWithin(3*time.Second)).Remote(ctx, sub, 0)
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	srv.stop()
	srv.start(t)
	if time.Since(start) > 3*time.Second {
		t.Skip("the restart took longer than the deadline: nothing to show")
	}
	var v int
	wantDeadline(t, "after a restart", connect(t, srv.URL()).Resolve(ctx, f.ID(), &v))
}

// Deadlines longer than the results TTL are refused: the failure could not be stored.
func TestDeadlineBeyondResultsTTL(t *testing.T) {
	c := frameworktest.New(t, addTask)
	ctx := testCtx(t)
	_, err := addTask.Options(framework.FinishWithin(2*time.Hour)).Remote(ctx, c, addIn{}).Await(ctx)
	if err == nil || !strings.Contains(err.Error(), "exceeds the results TTL") {
		t.Fatalf("err = %v, want the results TTL named", err)
	}
}

// A call's result is the first message on its subject: a deadline firing stored after it
// (which carries no expected-sequence check) does not change what any reader gets.
func TestFirstResultWinsOverLateDeadlineFiring(t *testing.T) {
	env := newEnv(t, addTask)
	ctx := testCtx(t)
	f := addTask.Remote(ctx, env.client, addIn{1, 1})
	if v, err := f.Await(ctx); err != nil || v != 2 {
		t.Fatal(v, err)
	}
	te, _ := json.Marshal(framework.TaskError{TaskID: f.ID(), Kind: framework.KindDeadline, Message: "late"})
	late := &nats.Msg{Subject: framework.ResultSubjectPrefix + f.ID(), Data: te, Header: nats.Header{
		wire.HeaderID: {f.ID()}, wire.HeaderStatus: {wire.StatusError}, wire.HeaderDeadline: {wire.DeadlineClose}}}
	if _, err := rawJS(t, env.client).PublishMsg(ctx, late); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := connect(t, env.url).Resolve(ctx, f.ID(), &v); err != nil || v != 2 {
		t.Fatalf("Resolve = %v, %v; want the first result, 2", v, err)
	}
}
