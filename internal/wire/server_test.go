package wire_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startJetStream runs an embedded nats-server with JetStream for the test and connects to it.
func startJetStream(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	s, err := server.NewServer(&server.Options{JetStream: true, StoreDir: t.TempDir(), Port: -1, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// createDeployment creates the streams, buckets and object store of n as Connect does
// (retention and subjects), stamped with n.Metadata().
func createDeployment(ctx context.Context, t *testing.T, js jetstream.JetStream, n wire.Names) {
	t.Helper()
	streams := []jetstream.StreamConfig{
		{Name: n.TasksStream(), Subjects: []string{n.TasksStreamSubject()}, Retention: jetstream.WorkQueuePolicy},
		{Name: n.ResultsStream(), Subjects: []string{n.ResultsStreamSubject()}, AllowDirect: true},
		{Name: n.ActorsStream(), Subjects: []string{n.ActorsStreamSubject()}},
		{Name: n.DeadStream(), Subjects: []string{n.DeadStreamSubject()}},
		{Name: n.EventsStream(), Subjects: []string{n.EventsStreamSubject()}, Storage: jetstream.MemoryStorage, MaxMsgsPerSubject: 1},
	}
	for _, cfg := range streams {
		cfg.Metadata = n.Metadata()
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatalf("namespace %q: stream %s: %v", n.Namespace(), cfg.Name, err)
		}
	}
	for _, b := range n.KVBuckets() {
		if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b, Metadata: n.Metadata()}); err != nil {
			t.Fatalf("namespace %q: bucket %s: %v", n.Namespace(), b, err)
		}
	}
	if _, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: n.ObjectsBucket(), Metadata: n.Metadata()}); err != nil {
		t.Fatalf("namespace %q: object store: %v", n.Namespace(), err)
	}
}

// TestTwoNamespacesOnOneAccount creates the default deployment and a namespaced one side by
// side, as two test suites sharing a NATS account would, and checks that every name is
// accepted by the server, that calls and results stay in their namespace, that the route and
// group consumers of the grammar coexist on the work-queue stream, and that the recorded
// version reads back.
func TestTwoNamespacesOnOneAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := startJetStream(t)
	def := wire.Names{}
	ns, err := wire.For("suite-b")
	if err != nil {
		t.Fatal(err)
	}
	createDeployment(ctx, t, js, def)
	createDeployment(ctx, t, js, ns)

	// Every route of one task has its own consumer on the work-queue stream: their filters
	// must not overlap (JetStream error 10100 otherwise).
	routes := []wire.TaskRoute{{}, {Priority: wire.PriorityHigh}, {Priority: wire.PriorityLow}, {Labels: "gpu1"}, {Labels: "gpu1", Priority: wire.PriorityHigh}}
	for _, n := range []wire.Names{def, ns} {
		for _, r := range routes {
			_, err := js.CreateConsumer(ctx, n.TasksStream(), jetstream.ConsumerConfig{
				Durable: n.TaskConsumer("add", r), FilterSubject: n.TaskSubject("add", r), AckPolicy: jetstream.AckExplicitPolicy})
			if err != nil {
				t.Fatalf("namespace %q route %+v: consumer %s: %v", n.Namespace(), r, n.TaskConsumer("add", r), err)
			}
		}
	}
	for _, n := range []wire.Names{def, ns} {
		for i, r := range routes {
			if _, err := js.Publish(ctx, n.TaskSubject("add", r), []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The reserved four-token shape, the keeper's subject among them, is stored but taken by
	// no route's consumer.
	reserved := def.TaskSubject("add", wire.TaskRoute{}) + ".sched1"
	for _, subj := range []string{reserved, def.TasksKeepSubject()} {
		if _, err := js.Publish(ctx, subj, []byte("reserved")); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []wire.Names{def, ns} {
		for i, r := range routes {
			c, err := js.Consumer(ctx, n.TasksStream(), n.TaskConsumer("add", r))
			if err != nil {
				t.Fatal(err)
			}
			batch, err := c.FetchNoWait(10)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for m := range batch.Messages() {
				got = append(got, m.Data()...)
				_ = m.Ack()
			}
			if len(got) != 1 || got[0] != byte(i) {
				t.Errorf("namespace %q route %+v: consumer got %v, want [%d]", n.Namespace(), r, got, i)
			}
		}
	}

	tasks, err := js.Stream(ctx, def.TasksStream())
	if err != nil {
		t.Fatal(err)
	}
	if info, err := tasks.Info(ctx, jetstream.WithSubjectFilter(def.TasksStreamSubject())); err != nil ||
		info.State.Msgs != 2 || info.State.Subjects[reserved] != 1 || info.State.Subjects[def.TasksKeepSubject()] != 1 {
		t.Errorf("left in %s: %v (%v), want only %s and %s", def.TasksStream(), info.State.Subjects, err, reserved, def.TasksKeepSubject())
	}

	// Actor calls: a consumer per group, the default group's filter taking only its calls.
	id := wire.CallID("cli", 1)
	for _, g := range []string{"", "io"} {
		_, err := js.CreateConsumer(ctx, def.ActorsStream(), jetstream.ConsumerConfig{
			Durable: def.ActorConsumer(id, 1, g), FilterSubject: def.ActorGroupFilter(id, g), AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatalf("group %q: %v", g, err)
		}
		if _, err := js.Publish(ctx, def.ActorSubject(id, g, "m"), []byte(g)); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []string{"", "io"} {
		c, err := js.Consumer(ctx, def.ActorsStream(), def.ActorConsumer(id, 1, g))
		if err != nil {
			t.Fatal(err)
		}
		if info, err := c.Info(ctx); err != nil || info.NumPending != 1 {
			t.Errorf("group %q: pending %v (%v), want 1", g, info.NumPending, err)
		}
	}

	// Results: a client's filter in one namespace sees nothing of the other.
	if _, err := js.Publish(ctx, def.ResultSubject(id), []byte("default")); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, ns.ResultSubject(id), []byte("suite-b")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []wire.Names{def, ns} {
		s, err := js.Stream(ctx, n.ResultsStream())
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(n.ResultsStreamSubject()))
		if err != nil || info.State.Msgs != 1 || info.State.Subjects[n.ResultSubject(id)] != 1 {
			t.Errorf("namespace %q: results %v (%v), want only %s", n.Namespace(), info.State.Subjects, err, n.ResultSubject(id))
		}
		m, err := s.GetLastMsgForSubject(ctx, n.ResultSubject(id))
		if err != nil {
			t.Fatal(err)
		}
		if gotID, item, ok := n.SplitResultSubject(m.Subject); !ok || gotID != id || item != "" {
			t.Errorf("SplitResultSubject(%q) = %q %q %v", m.Subject, gotID, item, ok)
		}
	}

	// The recorded version reads back from every resource (the server adds keys of its own).
	for _, n := range []wire.Names{def, ns} {
		for _, name := range n.Streams() {
			s, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if err := wire.CheckVersion("stream "+name, s.CachedInfo().Config.Metadata); err != nil {
				t.Error(err)
			}
			if got := s.CachedInfo().Config.Metadata[wire.MetadataNamespace]; got != n.Namespace() {
				t.Errorf("stream %s: namespace %q", name, got)
			}
		}
		kv, err := js.KeyValue(ctx, n.RegistryBucket())
		if err != nil {
			t.Fatal(err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := wire.CheckVersion("bucket "+n.RegistryBucket(), st.Metadata()); err != nil {
			t.Error(err)
		}
	}
}

// TestVersionMismatchOnServer records another wire version on a stream, as a later build
// would, and checks that CheckVersion refuses it.
func TestVersionMismatchOnServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := startJetStream(t)
	n := wire.Names{}
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: n.TasksStream(), Subjects: []string{n.TasksStreamSubject()},
		Retention: jetstream.WorkQueuePolicy, Metadata: map[string]string{wire.MetadataVersion: "2"}})
	if err != nil {
		t.Fatal(err)
	}
	err = wire.CheckVersion("stream "+n.TasksStream(), s.CachedInfo().Config.Metadata)
	if !errors.Is(err, wire.ErrWireVersion) {
		t.Fatalf("CheckVersion = %v, want ErrWireVersion", err)
	}
	t.Log(err)
}
