package clustertest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/rs/zerolog"
)

// Actor consumers have one replica, in memory, on the R3 actors stream. These tests lose the
// node holding one (killed, or restarted: it then recreates the consumer empty) and check that
// the worker's host serves the same instance from a consumer of a later epoch on a live node,
// with calls answered before the loss never run again. The host notices within about a
// minute (its pull requests on the lost node are forgotten only after they expire), so they
// are skipped under -short.

var (
	tallyRuns  sync.Map // "<instance>/<key>" -> *atomic.Int32: runs of each call
	tallyBuilt atomic.Int32
	holdGates  sync.Map                 // actor name -> chan struct{}: its HoldTick calls return once it is closed
	holdStart  = make(chan struct{}, 8) // a HoldTick started
)

type clusterTally struct {
	name, id string
	n        atomic.Int32
}

func holdGate(name string) chan struct{} {
	v, _ := holdGates.LoadOrStore(name, make(chan struct{}))
	return v.(chan struct{})
}

// tallyAnswer is what Tick returns: the instance and the calls it has run.
type tallyAnswer struct {
	Instance string `json:"instance"`
	N        int    `json:"n"`
}

func (a *clusterTally) ran(key int) tallyAnswer {
	v, _ := tallyRuns.LoadOrStore(fmt.Sprintf("%s/%d", a.id, key), new(atomic.Int32))
	v.(*atomic.Int32).Add(1)
	return tallyAnswer{Instance: a.id, N: int(a.n.Add(1))}
}

// runsOf returns how often call key of instance ran.
func runsOf(instance string, key int) int {
	v, _ := tallyRuns.LoadOrStore(fmt.Sprintf("%s/%d", instance, key), new(atomic.Int32))
	return int(v.(*atomic.Int32).Load())
}

var (
	// ClusterTally is an actor whose constructor input names it.
	ClusterTally = actors.Define("ClusterTally", func(_ context.Context, name string) (*clusterTally, error) {
		return &clusterTally{name: name, id: fmt.Sprintf("%s#%d", name, tallyBuilt.Add(1))}, nil
	})
	// Tick runs call key (counted) and returns the instance's call count.
	Tick = actors.Method(ClusterTally, "tick", func(a *clusterTally, _ context.Context, key int) (tallyAnswer, error) {
		return a.ran(key), nil
	})
	// HoldTick is Tick once the actor's hold gate closes.
	HoldTick = actors.Method(ClusterTally, "hold", func(a *clusterTally, ctx context.Context, key int) (tallyAnswer, error) {
		holdStart <- struct{}{}
		select {
		case <-holdGate(a.name):
		case <-ctx.Done():
			return tallyAnswer{}, ctx.Err()
		}
		return a.ran(key), nil
	})
)

// tallyCluster is a 3-node cluster with a worker serving ClusterTally connected to n1 and a
// driver connected to n2.
type tallyCluster struct {
	*cluster
	dc *framework.Client
}

func startTallyCluster(t *testing.T, ctx context.Context) *tallyCluster {
	t.Helper()
	logs := &testsupport.Buffer{Max: 4 << 20}
	log := zerolog.New(logs).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client logs (tail):\n%s", logs.String())
		}
	})
	cl := startCluster(t, testsupport.NATSServer(t))
	wc := connect(t, cl.urls("n1"), log.With().Str("role", "worker").Logger())
	w := framework.NewWorker(wc, framework.WithDrainTimeout(5*time.Second))
	if err := w.Register(ClusterTally); err != nil {
		t.Fatal(err)
	}
	stop := testsupport.Background(t, w.Run)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Logf("worker: %v", err)
		}
	})
	dc := connect(t, cl.urls("n2"), log.With().Str("role", "driver").Logger())
	checkR3(ctx, t, dc, framework.ActorsStream)
	if wc.Conn().ConnectedServerName() != "n1" || dc.Conn().ConnectedServerName() != "n2" {
		t.Fatalf("worker on %s, driver on %s; want n1 and n2", wc.Conn().ConnectedServerName(), dc.Conn().ConnectedServerName())
	}
	return &tallyCluster{cluster: cl, dc: dc}
}

// actorOn creates actors of cls until one has its consumer on node (R1 consumers go to any
// peer of the stream) and returns it with its record and name.
func (tc *tallyCluster) actorOn(ctx context.Context, t *testing.T, cls *actors.Class[clusterTally, string], node string) (*actors.Handle[clusterTally], actors.Record, string) {
	t.Helper()
	for i := range 30 {
		name := fmt.Sprintf("%s-%d-%d", t.Name(), time.Now().UnixNano(), i)
		h := cls.Remote(ctx, tc.dc, name)
		if err := h.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		rec := testsupport.ActorRecord(t, ctx, tc.dc, h.ID())
		cons, err := tc.dc.JetStream().Consumer(ctx, framework.ActorsStream, consumerName(h.ID(), rec.Epoch))
		if err != nil {
			t.Fatal(err)
		}
		info := cons.CachedInfo()
		if !info.Config.MemoryStorage || info.Config.Replicas != 1 {
			t.Fatalf("actor consumer %s: memory %v, replicas %d; want memory, R1", info.Name, info.Config.MemoryStorage, info.Config.Replicas)
		}
		if info.Cluster != nil && info.Cluster.Leader == node {
			t.Logf("actor %s: consumer %s on %s", h.ID(), info.Name, node)
			return h, rec, name
		}
	}
	t.Fatalf("no actor consumer placed on %s in 30 actors", node)
	return nil, actors.Record{}, ""
}

// tick sends calls keys from..to to h and waits for their answers.
func tick(ctx context.Context, t *testing.T, h *actors.Handle[clusterTally], from, to int) []tallyAnswer {
	t.Helper()
	var fs []*futures.Future[tallyAnswer]
	for k := from; k <= to; k++ {
		fs = append(fs, Tick.Remote(ctx, h, k))
	}
	got, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatalf("calls %d to %d: %v", from, to, err)
	}
	return got
}

// checkServedAgain checks that h, whose consumer was lost, is served again on the same
// instance under a later epoch, from a consumer on a live node (not on lost, if named), and
// that calls 1..last each ran once.
func (tc *tallyCluster) checkServedAgain(ctx context.Context, t *testing.T, h *actors.Handle[clusterTally], before actors.Record, instance string, last int, lost string) {
	t.Helper()
	for k := 1; k <= last; k++ {
		if n := runsOf(instance, k); n != 1 {
			t.Errorf("call %d ran %d times, want once", k, n)
		}
	}
	rec := testsupport.ActorRecord(t, ctx, tc.dc, h.ID())
	// Losing the node may cost the worker its lease as well (if the node led the leases
	// bucket, its election can outlast the lease margin): then the actor was re-claimed under
	// the worker's next lease instead of recreated under the same one.
	if rec.Worker != before.Worker || rec.Epoch <= before.Epoch || rec.State != actors.StateAlive {
		t.Errorf("record: worker %s epoch %d %s; want worker %s, epoch above %d, ALIVE",
			rec.Worker, rec.Epoch, rec.State, before.Worker, before.Epoch)
	}
	how := "recreated under the same lease"
	if rec.WorkerKey != before.WorkerKey {
		how = "re-claimed under a new lease"
	}
	cons, err := tc.dc.JetStream().Consumer(ctx, framework.ActorsStream, consumerName(h.ID(), rec.Epoch))
	if err != nil {
		t.Fatalf("consumer of epoch %d: %v", rec.Epoch, err)
	}
	leader := cons.CachedInfo().Cluster.Leader
	t.Logf("actor %s at epoch %d; consumer on %s", how, rec.Epoch, leader)
	if leader == "" || leader == lost {
		t.Errorf("consumer %s on %q", cons.CachedInfo().Name, leader)
	}
}

// TestActorConsumerNodeKilled: the node holding an actor's consumer is killed (SIGKILL); calls
// sent after are answered by the same instance, each once, and calls answered before are not
// run again.
func TestActorConsumerNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node nats-server cluster and waits about a minute for the failover")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	tc := startTallyCluster(t, ctx)
	h, before, _ := tc.actorOn(ctx, t, ClusterTally, "n3")
	const answered, after = 5, 5
	instance := tick(ctx, t, h, 1, answered)[0].Instance

	tKill := time.Now()
	tc.node("n3").Kill(t)
	got := tick(ctx, t, h, answered+1, answered+after)
	t.Logf("%d calls sent after the kill answered %v after it", after, time.Since(tKill).Round(time.Millisecond))
	// Each ran on the same instance, after the answered ones. (Not necessarily in the order
	// sent: a publish that failed in the stream's election is resubmitted after later ones.)
	seen := map[int]bool{}
	for i, g := range got {
		if g.Instance != instance || g.N <= answered || g.N > answered+after || seen[g.N] {
			t.Errorf("call %d after the kill: instance %s call %d; want %s, calls %d to %d once each",
				i, g.Instance, g.N, instance, answered+1, answered+after)
		}
		seen[g.N] = true
	}
	tc.checkServedAgain(ctx, t, h, before, instance, answered+after, "n3")
}

// TestActorConsumerNodeRestarted: the node holding an async actor's consumer restarts and
// recreates the consumer from its assignment, empty: it delivers again, as new, calls already
// answered (a call held running keeps the ack floor below them, so they are still stored). The
// host must take that for a lost consumer, not run them again.
func TestActorConsumerNodeRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node nats-server cluster and waits about a minute for the failover")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	tc := startTallyCluster(t, ctx)
	h, before, name := tc.actorOn(ctx, t, ClusterTally.Options(actors.MaxConcurrency(4)), "n3")
	held := HoldTick.Remote(ctx, h, 0)
	select {
	case <-holdStart:
	case <-ctx.Done():
		t.Fatal("the held call did not start")
	}
	const answered, after = 5, 3
	instance := tick(ctx, t, h, 1, answered)[0].Instance

	n3 := tc.node("n3")
	tLoss := time.Now()
	n3.Kill(t)
	n3.restart(t)
	t.Logf("n3 restarted in %v", time.Since(tLoss).Round(time.Millisecond))
	testsupport.WaitFor(t, 3*time.Minute, "the actor served from a later epoch", func() bool {
		r, err := actors.Describe(ctx, tc.dc, h.ID())
		return err == nil && r.Epoch > before.Epoch && r.State == actors.StateAlive
	})
	t.Logf("served again %v after the restart", time.Since(tLoss).Round(time.Millisecond))
	close(holdGate(name))
	if _, err := held.Await(ctx); err != nil {
		t.Fatalf("held call: %v", err)
	}
	for _, g := range tick(ctx, t, h, answered+1, answered+after) {
		if g.Instance != instance {
			t.Errorf("answered by %s, want %s", g.Instance, instance)
		}
	}
	if runsOf(instance, 0) != 1 {
		t.Errorf("the held call ran %d times, want once", runsOf(instance, 0))
	}
	tc.checkServedAgain(ctx, t, h, before, instance, answered+after, "")
}

// consumerName is the consumer of actor id's placement epoch (actors' naming).
func consumerName(id string, epoch uint64) string {
	return fmt.Sprintf("actor-%s-%d", strings.ReplaceAll(id, ".", "-"), epoch)
}
