package framework_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
)

// Environment of the submitter process TestIdempotencyKeyAcrossProcesses starts.
const (
	idemURL = "JETRAY_TEST_IDEM_URL" // the server to connect to
	idemOut = "JETRAY_TEST_IDEM_OUT" // file the submitter writes its call's ID to
)

// idemRequest is the keyed call both processes submit.
func idemRequest(key string) framework.Request {
	return framework.Request{Name: "idem_gate", Options: []framework.TaskOption{framework.IdempotencyKey(key)}}
}

// A call submitted with a key by one process (which then exits) is the call every later
// submission with the key gets, from other clients, before and after it finished: it runs
// once. Another input, or another name, under the key is a conflict and submits nothing.
func TestIdempotencyKeyAcrossProcesses(t *testing.T) {
	if url := os.Getenv(idemURL); url != "" { // the submitter process
		c := connect(t, url)
		f := framework.Submit[int](testCtx(t), c, idemRequest("order-42"), 21)
		if err := os.WriteFile(os.Getenv(idemOut), []byte(f.ID()), 0o600); err != nil {
			t.Fatal(err)
		}
		return // Close (cleanup) waits until the broker has the call
	}
	release := make(chan struct{})
	var once sync.Once
	var runs atomic.Int32
	gate := framework.NewTask("idem_gate", func(ctx context.Context, n int) (int, error) {
		runs.Add(1)
		select {
		case <-release:
			return 2 * n, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	env := frameworktest.NewEnv(t, nil, gate, addTask)
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	ctx := testCtx(t)

	out := filepath.Join(t.TempDir(), "id")
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestIdempotencyKeyAcrossProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), idemURL+"="+env.Server.ClientURL(), idemOut+"="+out)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		t.Fatalf("submitter process: %v\n%s", err, output.String())
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}

	a, b := env.Client, connect(t, env.Server.ClientURL())
	fa := gate.Options(framework.IdempotencyKey("order-42")).Remote(ctx, a, 21)
	fb := framework.Submit[int](ctx, b, idemRequest("order-42"), 21)
	if fa.ID() != string(first) || fb.ID() != string(first) {
		t.Fatalf("futures %s and %s, want the first call %s", fa.ID(), fb.ID(), first)
	}
	once.Do(func() { close(release) })
	for _, f := range []*futures.Future[int]{fa, fb} {
		if v, err := f.Await(ctx); err != nil || v != 42 {
			t.Fatalf("keyed future = %v, %v", v, err)
		}
	}

	// After it finished: its stored result, from a client that was not there before.
	c := connect(t, env.Server.ClientURL())
	fc := gate.Options(framework.IdempotencyKey("order-42")).Remote(ctx, c, 21)
	if v, err := fc.Await(ctx); err != nil || v != 42 || fc.ID() != string(first) {
		t.Fatalf("after completion: %s = %v, %v", fc.ID(), v, err)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the keyed call ran %d times, want 1", n)
	}

	for name, f := range map[string]*futures.Future[int]{
		"other input": gate.Options(framework.IdempotencyKey("order-42")).Remote(ctx, c, 22),
		"other name":  addTask.Options(framework.IdempotencyKey("order-42")).Remote(ctx, c, addIn{21, 0}),
	} {
		if _, err := f.Await(ctx); !errors.Is(err, framework.ErrIdempotencyConflict) {
			t.Errorf("%s under the key: %v, want ErrIdempotencyConflict", name, err)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("conflicting submissions ran: %d runs", n)
	}
}

// Keys are independent, and a call whose submission fails after it claimed its key stores
// that failure: a later submission with the key reads it instead of waiting.
func TestIdempotencyKeyFailedSubmissionIsStored(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL(), framework.WithUnknownNameGrace(0))
	ctx := testCtx(t)
	nobody := framework.NewTask("idem_nobody", func(context.Context, int) (int, error) { return 0, nil })
	f1 := nobody.Options(framework.IdempotencyKey("k1")).Remote(ctx, c, 1)
	if _, err := f1.Await(ctx); !errors.Is(err, framework.ErrUnknownTask) {
		t.Fatalf("first: %v", err)
	}
	f2 := nobody.Options(framework.IdempotencyKey("k1")).Remote(ctx, connect(t, srv.ClientURL()), 1)
	var te *framework.TaskError
	if _, err := f2.Await(ctx); f2.ID() != f1.ID() || !errors.As(err, &te) || te.TaskID != f1.ID() {
		t.Fatalf("second: %s %v, want the first call's stored failure", f2.ID(), err)
	}
	if _, err := nobody.Options(framework.IdempotencyKey("k2")).Remote(ctx, c, 1).Await(ctx); !errors.Is(err, framework.ErrUnknownTask) {
		t.Fatalf("another key: %v", err)
	}
	stream := framework.NewStreamTask("idem_stream", func(context.Context, int, func(int) error) error { return nil })
	if _, err := stream.Options(framework.IdempotencyKey("k3")).Remote(ctx, c, 1).Next(ctx); err == nil {
		t.Fatal("a streaming call took an idempotency key")
	}
}

// Submissions racing with one key, from two clients, all get the one call that won the key.
func TestIdempotencyKeyConcurrentSubmissions(t *testing.T) {
	var runs atomic.Int32
	count := framework.NewTask("idem_count", func(_ context.Context, n int) (int, error) { runs.Add(1); return n, nil })
	env := frameworktest.NewEnv(t, nil, count)
	clients := []*framework.Client{env.Client, connect(t, env.Server.ClientURL())}
	ctx := testCtx(t)
	const n = 20
	fs := make([]*futures.Future[int], n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fs[i] = count.Options(framework.IdempotencyKey("race")).Remote(ctx, clients[i%2], 5) })
	}
	wg.Wait()
	for _, f := range fs {
		if v, err := f.Await(ctx); err != nil || v != 5 || f.ID() != fs[0].ID() {
			t.Fatalf("future %s = %v, %v; want call %s's 5", f.ID(), v, err, fs[0].ID())
		}
	}
	if r := runs.Load(); r != 1 {
		t.Fatalf("ran %d times, want 1", r)
	}
}
