package faulttest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/failpoint"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) { testsupport.Main(m) }

// startBroker starts nats-server (file storage in a test directory) and connects a client to
// it with opts; ctx ends after d.
func startBroker(t *testing.T, d time.Duration, opts ...framework.Option) (url string, c *framework.Client, ctx context.Context) {
	t.Helper()
	url = testsupport.StartNATS(t, testsupport.NATSConfig{}).URL
	return url, testsupport.Connect(t, url, opts...), testsupport.Context(t, d)
}

// chaosWorker starts a chaos worker process (chaostest/chaosworker) named name on url, with
// failpoints (a JETRAY_FAILPOINTS value, "" for none) armed in that process only.
func chaosWorker(t *testing.T, url, name, failpoints string) *testsupport.Proc {
	t.Helper()
	bin := testsupport.Build(t, testsupport.ChaosWorkerPkg)
	if failpoints != "" {
		t.Setenv(failpoint.EnvVar, failpoints)
		defer func() {
			if err := os.Unsetenv(failpoint.EnvVar); err != nil {
				t.Fatal(err)
			}
		}()
	}
	return testsupport.StartWorkerBinary(t, bin, name, []string{"-nats", url, "-name", name})
}

// sleeps submits n calls of demo.Sleep, ms milliseconds each, and returns their futures and
// call IDs.
func sleeps(ctx context.Context, c *framework.Client, n, ms int) ([]*futures.Future[int], []string) {
	fs := make([]*futures.Future[int], n)
	for i := range fs {
		fs[i] = demo.Sleep.Remote(ctx, c, demo.SleepInput{MS: ms})
	}
	return fs, callIDs(fs)
}

// callIDs returns the call ID of each of fs.
func callIDs[T any](fs []*futures.Future[T]) []string {
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.ID()
	}
	return ids
}

// resolved counts the futures of fs that have resolved.
func resolved[T any](fs []*futures.Future[T]) int {
	n := 0
	for _, f := range fs {
		if f.Resolved() {
			n++
		}
	}
	return n
}

// taskConsumer returns the info of the durable consumer serving task name.
func taskConsumer(ctx context.Context, c *framework.Client, name string) (*jetstream.ConsumerInfo, error) {
	cons, err := c.JetStream().Consumer(ctx, framework.TasksStream, "task-"+name)
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

// storedResults reads every result JETRAY_RESULTS holds for client c with an ordered
// consumer and returns their headers by call ID, in stream order.
func storedResults(t *testing.T, ctx context.Context, c *framework.Client) map[string][]nats.Header {
	t.Helper()
	prefix := framework.ResultSubjectPrefix + c.ID() + "."
	cons, err := c.JetStream().OrderedConsumer(ctx, framework.ResultsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"},
		HeadersOnly:    true,
	})
	if err != nil {
		t.Fatalf("results consumer: %v", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatalf("results consumer info: %v", err)
	}
	out := map[string][]nats.Header{}
	for left := info.NumPending; left > 0; {
		batch, err := cons.Fetch(int(min(left, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("read results: %v", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			id := strings.TrimPrefix(m.Subject(), framework.ResultSubjectPrefix)
			out[id] = append(out[id], m.Headers())
		}
		if err := batch.Error(); err != nil {
			t.Fatalf("read results: %v", err)
		}
		if got == 0 {
			t.Fatalf("read results: nothing more with %d left", left)
		}
		left -= uint64(got)
	}
	return out
}

// checkOneResultEach fails the test unless JETRAY_RESULTS holds exactly one result for each
// of ids and nothing else for client c. It returns each call's result headers.
func checkOneResultEach(t *testing.T, ctx context.Context, c *framework.Client, ids []string) map[string]nats.Header {
	t.Helper()
	stored := storedResults(t, ctx, c)
	if len(stored) != len(ids) {
		t.Errorf("results stream holds results for %d calls of this client, want %d", len(stored), len(ids))
	}
	out := make(map[string]nats.Header, len(ids))
	bad := 0
	for _, id := range ids {
		hs := stored[id]
		if len(hs) != 1 {
			if bad++; bad <= 5 {
				t.Errorf("call %s has %d stored results, want 1", id, len(hs))
			}
		}
		if len(hs) > 0 {
			out[id] = hs[0]
		}
	}
	if bad > 5 {
		t.Errorf("... %d calls in all without exactly one stored result", bad)
	}
	return out
}
