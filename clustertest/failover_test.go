package clustertest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/rs/zerolog"
)

const (
	calls       = 20_000
	killAfter   = 2_000 // executions before the leader is killed
	replicas    = 3
	clusterWait = 90 * time.Second // for all futures once the leader is dead
)

// TestStreamLeaderKilled kills the JETRAY_TASKS stream leader with SIGKILL while 20,000 task
// calls are outstanding, once with the driver connected to it (it reconnects and resubmits
// unacknowledged publishes) and once with the worker connected to it (it reconnects; its
// unacknowledged calls are redelivered). Calls after the first 2,000 executions wait until the
// kill, so at least 18,000 are outstanding then. Every future must resolve with its value.
func TestStreamLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node nats-server cluster")
	}
	bin := testsupport.NATSServer(t)
	for _, tc := range []struct {
		name           string
		driverOnLeader bool
	}{
		{name: "driver on the leader", driverOnLeader: true},
		{name: "worker on the leader"},
	} {
		t.Run(tc.name, func(t *testing.T) { leaderKilled(t, bin, tc.driverOnLeader) })
	}
}

// leaderKilled runs one case of TestStreamLeaderKilled: the driver on the JETRAY_TASKS leader
// and the worker on another node, or the other way round.
func leaderKilled(t *testing.T, bin string, driverOnLeader bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	logs := &testsupport.Buffer{Max: 4 << 20}
	log := zerolog.New(logs).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client logs (tail):\n%s", logs.String())
		}
	})

	t0 := time.Now()
	cl := startCluster(t, bin)
	t.Logf("cluster ready in %s", time.Since(t0).Round(time.Millisecond))

	// The first client creates the streams and buckets at R3.
	admin := connect(t, cl.urls(""), log.With().Str("role", "admin").Logger())
	checkR3(ctx, t, admin, framework.TasksStream, framework.ResultsStream, framework.ActorsStream, framework.DeadStream)
	t.Logf("streams at R3 after %s", time.Since(t0).Round(time.Millisecond))
	leader := streamInfo(ctx, t, admin, framework.TasksStream).Cluster.Leader
	other := cl.nodes[0].name
	if other == leader {
		other = cl.nodes[1].name
	}
	driverNode, workerNode := leader, other
	if !driverOnLeader {
		driverNode, workerNode = other, leader
	}

	// The worker. Executions past killAfter wait until the kill.
	var executed atomic.Int64
	reachedKill := make(chan struct{})
	gate := make(chan struct{})
	task := framework.NewTask("cluster_triple", func(ctx context.Context, n int) (int, error) {
		if k := executed.Add(1); k == killAfter {
			close(reachedKill)
		} else if k > killAfter {
			select {
			case <-gate:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return 3*n + 1, nil
	})
	wc := connect(t, cl.urls(workerNode), log.With().Str("role", "worker").Logger())
	if got := wc.Conn().ConnectedServerName(); got != workerNode {
		t.Fatalf("worker connected to %s, want %s", got, workerNode)
	}
	w := framework.NewWorker(wc, framework.WithConcurrency(16))
	if err := w.Register(task); err != nil {
		t.Fatal(err)
	}
	stopWorker := testsupport.Background(t, w.Run)
	t.Cleanup(func() {
		if err := stopWorker(); err != nil {
			t.Logf("worker: %v", err)
		}
	})

	dc := connect(t, cl.urls(driverNode), log.With().Str("role", "driver").Logger())
	if got := dc.Conn().ConnectedServerName(); got != driverNode {
		t.Fatalf("driver connected to %s, want %s", got, driverNode)
	}
	fs := make([]*futures.Future[int], calls)
	var submitted atomic.Int64
	var submitWG sync.WaitGroup
	t.Cleanup(submitWG.Wait) // after ctx is cancelled, before the driver closes
	submitWG.Add(1)
	go func() {
		defer submitWG.Done()
		for i := range calls {
			fs[i] = task.Remote(ctx, dc, i)
			submitted.Add(1)
		}
	}()

	select {
	case <-reachedKill:
	case <-ctx.Done():
		t.Fatalf("only %d of %d executed before the deadline", executed.Load(), killAfter)
	}
	tKill := time.Now()
	cl.node(leader).Kill(t)
	t.Logf("killed %s (JETRAY_TASKS leader; driver on %s, worker on %s) at %d executed, %d submitted, %d pending in the driver",
		leader, driverNode, workerNode, executed.Load(), submitted.Load(), dc.Pending())
	close(gate)

	newLeader, elected := waitNewLeader(ctx, t, admin, leader)
	t.Logf("JETRAY_TASKS leader %s after %s", newLeader, elected.Sub(tKill).Round(time.Millisecond))

	submitWG.Wait()
	actx, acancel := context.WithTimeout(ctx, clusterWait)
	defer acancel()
	wrong := 0
	for i, f := range fs {
		v, err := f.Await(actx)
		if err != nil {
			t.Errorf("call %d (%s): %v; %d of %d still pending in the driver; %d executed; driver on %s (%s)",
				i, f.ID(), err, dc.Pending(), calls, executed.Load(), dc.Conn().ConnectedServerName(), dc.Conn().Status())
			dumpState(ctx, t, admin)
			t.FailNow()
		}
		if v != 3*i+1 {
			wrong++
		}
	}
	if wrong > 0 {
		t.Fatalf("%d futures resolved with a wrong value", wrong)
	}
	t.Logf("all %d futures resolved %s after the kill (%s in all); %d executions, %d re-executed (at-least-once)",
		calls, time.Since(tKill).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond),
		executed.Load(), executed.Load()-calls)
	if got := dc.Pending(); got != 0 {
		t.Errorf("driver still has %d pending calls", got)
	}
}
