package framework_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// keepers returns how many keeper messages and how many other messages the tasks stream of
// names holds.
func keepers(ctx context.Context, t *testing.T, js jetstream.JetStream, n wire.Names) (keep, other uint64) {
	t.Helper()
	s, err := js.Stream(ctx, n.TasksStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(n.TasksStreamSubject()))
	if err != nil {
		t.Fatal(err)
	}
	keep = info.State.Subjects[n.TasksKeepSubject()]
	return keep, info.State.Msgs - keep
}

// callAndClose makes calls of addTask from a new client of srv with opts, one at a time, and
// closes it, which waits for its keeper publish if one is running.
func callAndClose(ctx context.Context, t *testing.T, url string, calls int, opts ...framework.Option) {
	t.Helper()
	c := connect(t, url, opts...)
	for i := range calls {
		if v, err := addTask.Remote(ctx, c, addIn{i, 1}).Await(ctx); err != nil || v != i+1 {
			t.Fatalf("call %d = %v, %v", i, v, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTaskKeeper checks the keeper's life in the tasks stream: a client that stores calls
// keeps one message on the reserved subject, with a TTL, that no worker takes; a second client
// finds it there and adds none (first writer wins); it expires with no calls; a purge by an
// operator is repaired by the next calls.
func TestTaskKeeper(t *testing.T) {
	env := frameworktest.NewEnv(t, nil, addTask)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js, n, url := env.Client.JetStream(), wire.Names{}, env.Server.ClientURL()

	callAndClose(ctx, t, url, 3)
	waitStream(ctx, t, js, n, "one keeper and the calls acked", func(keep, other uint64) bool { return keep == 1 && other == 0 })
	s, err := js.Stream(ctx, n.TasksStream())
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, n.TasksKeepSubject())
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(jetstream.MsgTTLHeader); got != framework.KeepTTL.String() {
		t.Errorf("keeper TTL header %q, want %q", got, framework.KeepTTL)
	}
	ci, err := js.Consumer(ctx, n.TasksStream(), n.TaskConsumer(addTask.Name(), wire.TaskRoute{}))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := ci.Info(ctx); err != nil || info.NumPending != 0 || info.NumAckPending != 0 || info.Delivered.Consumer != 3 {
		t.Fatalf("task consumer: %+v, %v; want 3 delivered, none pending", info, err)
	}

	// Another client keeps the one it finds (or, if that one expired meanwhile, publishes the
	// only one): never a second keeper.
	callAndClose(ctx, t, url, 1)
	if keep, _ := keepers(ctx, t, js, n); keep > 1 {
		t.Fatalf("after a second client: %d keepers, want at most 1", keep)
	}

	// With no calls the stream empties by itself.
	waitStream(ctx, t, js, n, "the keeper to expire", func(keep, other uint64) bool { return keep == 0 && other == 0 })

	// Purged by an operator while a client runs: its next due keep publishes again.
	c := connect(t, url)
	if _, err := addTask.Remote(ctx, c, addIn{1, 1}).Await(ctx); err != nil {
		t.Fatal(err)
	}
	waitStream(ctx, t, js, n, "the first keeper", func(keep, _ uint64) bool { return keep == 1 })
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	waitStream(ctx, t, js, n, "a keeper after the purge", func(keep, other uint64) bool {
		if _, err := addTask.Remote(ctx, c, addIn{1, 1}).Await(ctx); err != nil {
			t.Fatal(err)
		}
		return keep == 1 && other == 0
	})
}

// waitStream polls the tasks stream's keeper and other message counts until ok or ctx ends.
func waitStream(ctx context.Context, t *testing.T, js jetstream.JetStream, n wire.Names, what string, ok func(keep, other uint64) bool) {
	t.Helper()
	for {
		if ok(keepers(ctx, t, js, n)) {
			return
		}
		select {
		case <-ctx.Done():
			keep, other := keepers(context.Background(), t, js, n)
			t.Fatalf("waiting for %s: %v (%d keepers, %d other messages)", what, ctx.Err(), keep, other)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestTaskKeeperWhere checks where keepers go: each namespace's own tasks stream, and none in
// memory storage or in a tasks stream created without per-message TTLs (before the keeper).
func TestTaskKeeperWhere(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Run("namespaces", func(t *testing.T) {
		srv := startServer(t, framework.EmbeddedConfig{})
		blue, _ := wire.For("blue")
		runWorker(t, newWorker(t, connect(t, srv.ClientURL(), framework.WithNamespace("blue")), nil, addTask))
		callAndClose(ctx, t, srv.ClientURL(), 2, framework.WithNamespace("blue"))
		js := connect(t, srv.ClientURL()).JetStream() // creates the default namespace's streams
		waitStream(ctx, t, js, blue, "namespace blue: one keeper", func(keep, other uint64) bool { return keep == 1 && other == 0 })
		if keep, other := keepers(ctx, t, js, wire.Names{}); keep != 0 || other != 0 {
			t.Errorf("default namespace: %d keepers, %d other messages; want none", keep, other)
		}
	})
	t.Run("memory", func(t *testing.T) {
		srv := startServer(t, framework.EmbeddedConfig{})
		c := connect(t, srv.ClientURL(), framework.WithMemoryStorage())
		runWorker(t, newWorker(t, c, nil, addTask))
		callAndClose(ctx, t, srv.ClientURL(), 2, framework.WithMemoryStorage())
		if keep, _ := keepers(ctx, t, c.JetStream(), wire.Names{}); keep != 0 {
			t.Errorf("memory storage: %d keepers, want none", keep) // the caller has closed: no keep is running
		}
	})
	t.Run("stream without TTLs", func(t *testing.T) {
		srv := startServer(t, framework.EmbeddedConfig{})
		admin := connect(t, srv.ClientURL()).JetStream()
		n := wire.Names{}
		if err := admin.DeleteStream(ctx, n.TasksStream()); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CreateStream(ctx, jetstream.StreamConfig{Name: n.TasksStream(), Subjects: []string{n.TasksStreamSubject()},
			Retention: jetstream.WorkQueuePolicy, Metadata: n.Metadata()}); err != nil {
			t.Fatal(err)
		}
		runWorker(t, newWorker(t, connect(t, srv.ClientURL()), nil, addTask))
		callAndClose(ctx, t, srv.ClientURL(), 2)
		if keep, _ := keepers(ctx, t, admin, n); keep != 0 {
			t.Errorf("stream without AllowMsgTTL: %d keepers, want none", keep)
		}
	})
}
