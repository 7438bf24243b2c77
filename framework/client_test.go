package framework_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
	"github.com/nats-io/nats.go"
)

func TestCallIDs(t *testing.T) {
	env := frameworktest.NewEnv(t, nil, addTask)
	c := env.Client
	ctx := testCtx(t)

	const goroutines, each = 4, 50
	var mu sync.Mutex
	var fs []*futures.Future[int]
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				f := addTask.Remote(ctx, c, addIn{g, i})
				mu.Lock()
				fs = append(fs, f)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool, len(fs))
	for _, f := range fs {
		id := f.ID()
		if seen[id] {
			t.Fatalf("duplicate future ID %q", id)
		}
		seen[id] = true
		if !strings.HasPrefix(id, c.ID()+".") || framework.ClientIDOf(id) != c.ID() {
			t.Fatalf("future ID %q: want prefix %q and ClientIDOf = client ID", id, c.ID()+".")
		}
	}
	if id := c.NewID(); seen[id] || framework.ClientIDOf(id) != c.ID() {
		t.Errorf("NewID = %q: reused or not of client %q", id, c.ID())
	}
	if _, err := futures.Gather(ctx, fs...); err != nil {
		t.Fatal(err)
	}

	// Another client has another ID; a fixed ID prefixes that client's calls.
	other := connect(t, env.Server.ClientURL(), framework.WithClientID("driver-7"))
	if other.ID() != "driver-7" || other.ID() == c.ID() {
		t.Fatalf("client IDs %q and %q", other.ID(), c.ID())
	}
	f := addTask.Remote(ctx, other, addIn{1, 2})
	if v, err := f.Await(ctx); err != nil || v != 3 || framework.ClientIDOf(f.ID()) != "driver-7" {
		t.Fatalf("call %q from a fixed-ID client = %v, %v", f.ID(), v, err)
	}
	if _, err := framework.Connect(ctx, env.Server.ClientURL(), framework.WithClientID("bad.id")); !errors.Is(err, framework.ErrInvalidName) {
		t.Errorf("Connect with an invalid client ID: err = %v, want ErrInvalidName", err)
	}
}

func TestClientIDOf(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"abc.1", "abc"},
		{"abc.1z.2", "abc"},
		{"abc", ""},
		{".1", ""},
		{"", ""},
	} {
		if got := framework.ClientIDOf(tc.id); got != tc.want {
			t.Errorf("ClientIDOf(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

func TestInvalidTaskName(t *testing.T) {
	c := frameworktest.New(t, someTask)
	ctx := testCtx(t)
	bad := framework.NewTask("no spaces", func(ctx context.Context, _ int) (int, error) { return 0, nil })
	if _, err := bad.Remote(ctx, c, 1).Await(ctx); !errors.Is(err, framework.ErrInvalidName) {
		t.Errorf("Remote with an invalid name: err = %v, want ErrInvalidName", err)
	}
	w := framework.NewWorker(c)
	if err := w.Register(bad); !errors.Is(err, framework.ErrInvalidName) {
		t.Errorf("Register with an invalid name: err = %v, want ErrInvalidName", err)
	}
	if err := w.Register(someTask, someTask); !errors.Is(err, framework.ErrDuplicateName) {
		t.Errorf("Register twice: err = %v, want ErrDuplicateName", err)
	}
}

// Input and output past the server's max payload fail their call only.
func TestOversizePayload(t *testing.T) {
	length := framework.NewTask("payload_len", func(ctx context.Context, s string) (int, error) { return len(s), nil })
	big := framework.NewTask("payload_big", func(ctx context.Context, n int) (string, error) {
		return strings.Repeat("x", n), nil
	})
	c := frameworktest.New(t, length, big)
	ctx := testCtx(t)
	huge := strings.Repeat("x", 2<<20) // 2 MiB; the default max payload is 1 MiB

	_, err := length.Remote(ctx, c, huge).Await(ctx)
	if err == nil || !strings.Contains(err.Error(), "max payload") || !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("oversize input: err = %v, want one mentioning max payload", err)
	}
	_, err = big.Remote(ctx, c, 2<<20).Await(ctx)
	var te *framework.TaskError
	if !errors.As(err, &te) || te.Kind != framework.KindEncode || !strings.Contains(te.Message, "max payload") {
		t.Fatalf("oversize output: err = %#v, want a TaskError of kind %q mentioning max payload", err, framework.KindEncode)
	}
	if v, err := length.Remote(ctx, c, "four").Await(ctx); err != nil || v != 4 {
		t.Fatalf("call after oversize ones = %v, %v; want 4, nil", v, err)
	}
	if s, err := big.Remote(ctx, c, 3).Await(ctx); err != nil || s != "xxx" {
		t.Fatalf("call after oversize ones = %q, %v; want \"xxx\", nil", s, err)
	}
}

// A name no worker registered fails fast; once a worker registers it, calls succeed.
func TestUnknownTaskThenRegistered(t *testing.T) {
	env := frameworktest.NewEnv(t, nil, someTask)
	c := env.Client
	ctx := testCtx(t)
	late := framework.NewTask("late_task", func(ctx context.Context, n int) (int, error) { return n + 100, nil })

	start := time.Now()
	_, err := late.Remote(ctx, c, 1).Await(ctx)
	if !errors.Is(err, framework.ErrUnknownTask) {
		t.Fatalf("err = %v, want ErrUnknownTask", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("unknown task resolved after %v, want within 1s", d)
	}

	// A worker in another client (as another process would) registers the name.
	wc := connect(t, env.Server.ClientURL())
	runWorker(t, newWorker(t, wc, nil, late))
	v, err := late.Remote(ctx, c, 1).Await(ctx)
	if err != nil || v != 101 {
		t.Fatalf("after registration = %v, %v; want 101, nil", v, err)
	}
}

// Close fails unresolved futures with ErrClosed, and later calls too.
func TestCloseFailsPending(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	block := framework.NewTask("close_block", func(ctx context.Context, _ int) (int, error) {
		started <- struct{}{}
		<-release
		return 1, nil
	})
	env := frameworktest.NewEnv(t, nil, block)
	t.Cleanup(func() { close(release) }) // runs before the worker is stopped
	driver := connect(t, env.Server.ClientURL())
	ctx := testCtx(t)

	f := block.Remote(ctx, driver, 1)
	recv(t, started, 30*time.Second, "the call to start")
	if err := driver.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if _, err := f.Await(ctx); !errors.Is(err, framework.ErrClosed) {
		t.Fatalf("pending future after Close: err = %v, want ErrClosed", err)
	}
	if _, err := block.Remote(ctx, driver, 2).Await(ctx); !errors.Is(err, framework.ErrClosed) {
		t.Fatalf("Remote after Close: err = %v, want ErrClosed", err)
	}
	select {
	case <-driver.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if err := driver.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestResultsReadableByAnotherProcess(t *testing.T) {
	t.Skip("not exposed yet: reading a result by call ID from another client (Client.fetchResult) is unexported")
}
