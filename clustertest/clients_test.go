package clustertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// connect makes a client with R3 streams on the cluster, retrying with short timeouts while
// the cluster settles.
func connect(t *testing.T, urls string, log zerolog.Logger) *framework.Client {
	t.Helper()
	return testsupport.Connect(t, urls, framework.WithReplicas(replicas), framework.WithLogger(log),
		framework.WithNATSOptions(nats.DontRandomize()))
}

// checkR3 checks that every stream is at R3 with a leader and two replicas, and that the
// streams named in want exist.
func checkR3(ctx context.Context, t *testing.T, c *framework.Client, want ...string) {
	t.Helper()
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lister := c.JetStream().ListStreams(lctx)
	seen := map[string]bool{}
	for info := range lister.Info() {
		seen[info.Config.Name] = true
		if info.Config.Replicas != replicas || info.Cluster == nil || info.Cluster.Leader == "" ||
			len(info.Cluster.Replicas) != replicas-1 {
			t.Errorf("stream %s: %d replicas configured, cluster %+v; want R%d", info.Config.Name,
				info.Config.Replicas, info.Cluster, replicas)
		}
	}
	if err := lister.Err(); err != nil {
		t.Fatalf("list streams: %v", err)
	}
	for _, name := range want {
		if !seen[name] {
			t.Errorf("stream %s missing; have %v", name, seen)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func streamInfo(ctx context.Context, t *testing.T, c *framework.Client, name string) *jetstream.StreamInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := c.JetStream().Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return s.CachedInfo()
}

// waitNewLeader polls JETRAY_TASKS until a node other than old leads it.
func waitNewLeader(ctx context.Context, t *testing.T, c *framework.Client, old string) (string, time.Time) {
	t.Helper()
	var leader string
	testsupport.WaitNoError(t, 60*time.Second, "JETRAY_TASKS leader other than "+old, func() error {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		s, err := c.JetStream().Stream(rctx, framework.TasksStream)
		if err != nil {
			return err
		}
		if leader = s.CachedInfo().Cluster.Leader; leader == "" || leader == old {
			return errors.New("no new leader yet")
		}
		return nil
	})
	return leader, time.Now()
}

// dumpState logs the streams' and consumers' state, for a failure.
func dumpState(ctx context.Context, t *testing.T, c *framework.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, name := range []string{framework.TasksStream, framework.ResultsStream} {
		s, err := c.JetStream().Stream(ctx, name)
		if err != nil {
			t.Logf("stream %s: %v", name, err)
			continue
		}
		info := s.CachedInfo()
		t.Logf("stream %s: leader %s, %d msgs, last seq %d, %d consumers", name, info.Cluster.Leader,
			info.State.Msgs, info.State.LastSeq, info.State.Consumers)
		var names []string
		for n := range s.ConsumerNames(ctx).Name() {
			names = append(names, n)
		}
		t.Logf("  consumer names: %v", names)
		for ci := range s.ListConsumers(ctx).Info() {
			t.Logf("  consumer %s on %s: pending %d, ack pending %d, redelivered %d, waiting %d, delivered %d, ack floor %d, filter %q",
				ci.Name, ci.Cluster.Leader, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting,
				ci.Delivered.Stream, ci.AckFloor.Stream, ci.Config.FilterSubject+fmt.Sprint(ci.Config.FilterSubjects))
		}
	}
}
