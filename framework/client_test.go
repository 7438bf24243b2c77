package framework_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
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

// Inputs, results and Put values past the server's max payload go through the object store;
// a 50 MB value makes the round trip through a task.
func TestLargeValuesThroughObjectStore(t *testing.T) {
	length := framework.NewTask("payload_len", func(ctx context.Context, s string) (int, error) { return len(s), nil })
	echo := framework.NewTask("payload_echo", func(ctx context.Context, s string) (string, error) { return s + "!", nil })
	big := framework.NewTask("payload_big", func(ctx context.Context, n int) (string, error) {
		return strings.Repeat("x", n), nil
	})
	// A large result can still be stored when the test ends on a loaded machine: give the
	// worker's drain room for it.
	c := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithDrainTimeout(2 * time.Minute)}, length, echo, big).Client
	// A hang guard only.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// 50 MB (the default max payload is 1 MiB). Under the race detector the embedded server's
	// and the clients' copies of the value are instrumented too, and their cost grows faster
	// than the size (5 MB 21 s, 10 MB 77 s, 50 MB more than 4 minutes on a 2-core machine):
	// there 4 MB, still 32 chunks of the object store. make test also runs this test without
	// the race detector, so the 50 MB round trip is checked on every run.
	size := 50 << 20
	if testsupport.RaceEnabled {
		size = 4 << 20
	}
	huge := strings.Repeat("y", size)
	out, err := echo.Remote(ctx, c, huge).Await(ctx)
	if err != nil || len(out) != len(huge)+1 || out[len(out)-1] != '!' {
		t.Fatalf("%d MB round trip: len %d, err %v", size>>20, len(out), err)
	}
	f := length.Remote(ctx, c, huge[:2<<20])
	if v, err := f.Await(ctx); err != nil || v != 2<<20 {
		t.Fatalf("2 MiB input: %d, %v", v, err)
	}
	os, err := c.JetStream().ObjectStore(ctx, framework.ObjectsBucket)
	if err != nil {
		t.Fatal(err)
	}
	// The input object is deleted once its call is done (shortly after the result).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.GetInfo(ctx, f.ID()+".in"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("input object still stored 10 s after its result")
		}
		<-time.After(10 * time.Millisecond)
	}

	// Wait watches completion only: after deleting the result's object, Wait still reports
	// the future ready, and only Await (which downloads) fails.
	r := big.Remote(ctx, c, 3<<20)
	if _, _, err := futures.Wait(ctx, []*futures.Future[string]{r}, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.Delete(ctx, r.ID()+".out"); err != nil {
		t.Fatalf("delete result object: %v", err)
	}
	if _, err := r.Await(ctx); err == nil || !strings.Contains(err.Error(), "object") {
		t.Fatalf("Await after the object was deleted: %v, want a read error", err)
	}

	p := framework.Put(ctx, c, huge[:3<<20])
	if v, err := length.RemoteFrom(ctx, c, p).Await(ctx); err != nil || v != 3<<20 {
		t.Fatalf("large Put through RemoteFrom: %d, %v", v, err)
	}
	var back string
	if err := c.Resolve(ctx, p.ID(), &back); err != nil || len(back) != 3<<20 {
		t.Fatalf("Resolve large Put: %d, %v", len(back), err)
	}
}

// A name no worker registered fails once the client's unknown-name grace has passed; once a
// worker registers it, calls succeed.
func TestUnknownTaskThenRegistered(t *testing.T) {
	env := frameworktest.NewEnv(t, nil, someTask)
	const grace = 200 * time.Millisecond
	c := connect(t, env.Server.ClientURL(), framework.WithUnknownNameGrace(grace))
	ctx := testCtx(t)
	late := framework.NewTask("late_task", func(ctx context.Context, n int) (int, error) { return n + 100, nil })

	start := time.Now()
	_, err := late.Remote(ctx, c, 1).Await(ctx)
	if !errors.Is(err, framework.ErrUnknownTask) {
		t.Fatalf("err = %v, want ErrUnknownTask", err)
	}
	if d := time.Since(start); d < grace || d > grace+5*time.Second {
		t.Errorf("unknown task resolved after %v, want just after the %v grace", d, grace)
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

// Environment of the reader process TestResultsReadableByAnotherProcess starts: the test
// binary runs itself again with these set, and the test then plays the reader.
const (
	readerURL = "JETRAY_TEST_READER_URL" // the server to connect to
	readerIDs = "JETRAY_TEST_READER_IDS" // comma-separated call IDs to resolve
	readerOut = "JETRAY_TEST_READER_OUT" // file the reader writes its readings to (JSON)
)

// reading is what the reader process read for one call ID.
type reading struct {
	ID      string          `json:"id"`
	Value   json.RawMessage `json:"value,omitempty"` // the ok result, when short
	Len     int             `json:"len"`             // length of the encoded ok result
	Sum     string          `json:"sum,omitempty"`   // its SHA-256
	Kind    framework.Kind  `json:"kind,omitempty"`  // TaskError.Kind of an error result
	Message string          `json:"message,omitempty"`
	Err     string          `json:"err,omitempty"` // Resolve failed otherwise
}

// Results live in JetStream, not in the caller: a separate OS process that made none of the
// calls reads them by call ID with Client.Resolve. It reads a value, an error result, a Put
// value stored in the object store, and a call that is answered only while the reader is
// already waiting for it; each reads as the caller's future does.
func TestResultsReadableByAnotherProcess(t *testing.T) {
	if url := os.Getenv(readerURL); url != "" {
		readResults(t, url, strings.Split(os.Getenv(readerIDs), ","), os.Getenv(readerOut))
		return
	}
	release := make(chan struct{})
	var once sync.Once
	gate := framework.NewTask("xproc_gate", func(ctx context.Context, n int) (int, error) {
		select {
		case <-release:
			return 2 * n, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	env := frameworktest.NewEnv(t, nil, addTask, failIf, gate)
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the worker stops
	c := env.Client
	ctx := testCtx(t)

	sum := addTask.Remote(ctx, c, addIn{20, 22})
	if v, err := sum.Await(ctx); err != nil || v != 42 {
		t.Fatalf("add = %d, %v", v, err)
	}
	bad := failIf.Remote(ctx, c, -1)
	if _, err := bad.Await(ctx); err == nil {
		t.Fatal("fail_if(-1) succeeded")
	}
	big := framework.Put(ctx, c, strings.Repeat("z", 2<<20)) // past the 1 MiB max payload
	if err := big.Err(); err != nil {
		t.Fatal(err)
	}
	late := gate.Remote(ctx, c, 21) // runs until release: not answered when the reader starts

	out := filepath.Join(t.TempDir(), "readings.json")
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestResultsReadableByAnotherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), readerURL+"="+env.Server.ClientURL(),
		readerIDs+"="+strings.Join([]string{sum.ID(), bad.ID(), big.ID(), late.ID()}, ","), readerOut+"="+out)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start reader process: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Answer the gated call only once the reader waits for it: its Resolve has made a
	// consumer on exactly that call's result subject.
	waiting := func() bool {
		s, err := c.JetStream().Stream(ctx, framework.ResultsStream)
		if err != nil {
			return false
		}
		infos := s.ListConsumers(ctx)
		found := false
		for ci := range infos.Info() {
			if ci.Config.FilterSubject == framework.ResultSubject(late.ID()) ||
				slices.Contains(ci.Config.FilterSubjects, framework.ResultSubject(late.ID())) {
				found = true
			}
		}
		return found
	}
	for !waiting() {
		select {
		case err := <-exited:
			t.Fatalf("reader process exited (%v) before waiting for the unanswered call:\n%s", err, output.String())
		case <-ctx.Done():
			t.Fatalf("reader process never waited for the unanswered call:\n%s", output.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	once.Do(func() { close(release) })
	lateV, err := late.Await(ctx)
	if err != nil || lateV != 42 {
		t.Fatalf("gate = %d, %v", lateV, err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("reader process: %v\n%s", err, output.String())
		}
	case <-ctx.Done():
		t.Fatalf("reader process did not exit:\n%s", output.String())
	}

	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("reader output: %v\n%s", err, output.String())
	}
	var got []reading
	if err := json.Unmarshal(data, &got); err != nil || len(got) != 4 {
		t.Fatalf("reader output %d readings, %v", len(got), err)
	}
	for _, r := range got {
		if r.Err != "" {
			t.Errorf("reader: Resolve %s: %s", r.ID, r.Err)
		}
	}
	if r := got[0]; r.ID != sum.ID() || string(r.Value) != "42" {
		t.Errorf("reader read add as %+v, want 42", r)
	}
	if r := got[1]; r.ID != bad.ID() || r.Kind != framework.KindError || !strings.Contains(r.Message, "negative -1") {
		t.Errorf("reader read fail_if as %+v, want kind error, negative -1", r)
	}
	want, _ := json.Marshal(strings.Repeat("z", 2<<20))
	if r := got[2]; r.ID != big.ID() || r.Len != len(want) || r.Sum != fmt.Sprintf("%x", sha256.Sum256(want)) {
		t.Errorf("reader read the Put value as %d bytes (sum %s), want %d", r.Len, r.Sum, len(want))
	}
	if r := got[3]; r.ID != late.ID() || string(r.Value) != "42" {
		t.Errorf("reader read the late call as %+v, want 42", r)
	}
}

// readResults is the reader process of TestResultsReadableByAnotherProcess: it resolves ids
// on a client of its own and writes what it read to out.
func readResults(t *testing.T, url string, ids []string, out string) {
	ctx := testCtx(t)
	c := connect(t, url)
	var got []reading
	for _, id := range ids {
		r := reading{ID: id}
		var raw json.RawMessage
		err := c.Resolve(ctx, id, &raw)
		var te *framework.TaskError
		switch {
		case errors.As(err, &te):
			r.Kind, r.Message = te.Kind, te.Message
		case err != nil:
			r.Err = err.Error()
		default:
			r.Len, r.Sum = len(raw), fmt.Sprintf("%x", sha256.Sum256(raw))
			if len(raw) <= 1024 {
				r.Value = raw
			}
		}
		got = append(got, r)
	}
	data, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
