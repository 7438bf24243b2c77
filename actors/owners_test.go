package actors_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/seam"
	"github.com/jetray/jetray/internal/testsupport"
)

// ownerTTL is the client TTL of the lifetime tests: owners are judged gone this long after
// their last renewal (the default, framework.ClientTTL, is 30 s).
const ownerTTL = 2 * time.Second

// lifetimeServer starts a server whose clients bucket has TTL ttl: the first client connects
// with it and the test waits for the bucket, so every later client and judge uses it.
func lifetimeServer(t *testing.T, ttl time.Duration, cfg framework.EmbeddedConfig) (*framework.EmbeddedServer, *framework.Client) {
	t.Helper()
	srv := testsupport.Embedded(t, cfg)
	first := testsupport.Connect(t, srv.ClientURL(), framework.WithClientTTL(ttl))
	waitClientsBucket(t, first)
	return srv, first
}

// waitClientsBucket waits until the clients bucket exists.
func waitClientsBucket(t *testing.T, c *framework.Client) {
	t.Helper()
	testsupport.WaitFor(t, 30*time.Second, "clients bucket", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := c.JetStream().KeyValue(ctx, c.Names().ClientsBucket)
		return err == nil
	})
}

// waitJudges waits until each of the worker clients may judge owners (connected a full client
// TTL, the clients bucket older than a TTL): until its judgement finds a client that never
// existed gone. A host judges only then, so a test that measures or rules out a judgement
// waits for it first.
func waitJudges(t *testing.T, judges ...*framework.Client) {
	t.Helper()
	const nobody = "nobody0judgeprobe"
	gone := seam.ClientsGone.(func(*framework.Client, context.Context, []string) map[string]bool)
	for _, c := range judges {
		testsupport.WaitFor(t, time.Minute, "worker client "+c.ID()+" ready to judge", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return gone(c, ctx, []string{nobody})[nobody]
		})
	}
}

// waitDead waits until actor id's record is DEAD, failing after limit, and returns the record
// and how long it took from start.
func waitDead(t *testing.T, c *framework.Client, id string, start time.Time, limit time.Duration) (actors.Record, time.Duration) {
	t.Helper()
	var rec actors.Record
	testsupport.WaitFor(t, limit, "actor "+id+" dead", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := actors.Describe(ctx, c, id)
		if err == nil && r.State == actors.StateDead {
			rec = *r
			return true
		}
		return false
	})
	return rec, time.Since(start)
}

// stillAlive checks, for a while of judge rounds, that the named actor stays ALIVE and
// answers calls through obs.
func stillAlive(t *testing.T, ctx context.Context, obs *framework.Client, name string, rounds time.Duration) {
	t.Helper()
	h, err := actors.Get(ctx, obs, Counter, name)
	if err != nil {
		t.Fatalf("actor %q: %v", name, err)
	}
	deadline := time.Now().Add(rounds)
	for time.Now().Before(deadline) {
		if _, err := Incr.Remote(ctx, h, 0).Await(ctx); err != nil {
			t.Fatalf("actor %q: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond) // not a wait: spaces the liveness checks over the judge rounds
	}
	rec := frameworktest.WaitActorState(t, obs, h.ID(), actors.StateAlive)
	t.Logf("%q alive after %v of judge rounds (owner %q)", name, rounds, rec.Owner)
}

// TestOwnerCloseKillsOwnedActors: actors a client owns die (ErrDied, name freed) within
// seconds of its Close; a Detached actor of the same client lives on.
func TestOwnerCloseKillsOwnedActors(t *testing.T) {
	srv, obs := lifetimeServer(t, ownerTTL, framework.EmbeddedConfig{})
	judge, _ := startWorker(t, srv.ClientURL(), Counter)
	ctx := testCtx(t)
	drv := testsupport.Connect(t, srv.ClientURL(), framework.WithClientTTL(ownerTTL))
	owned := Counter.Options(actors.Name("owned")).Remote(ctx, drv, 0)
	plain := Counter.Remote(ctx, drv, 0)
	detached := Counter.Options(actors.Name("detached"), actors.Detached()).Remote(ctx, drv, 0)
	for _, h := range []*actors.Handle[counter]{owned, plain, detached} {
		if err := h.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if rec := frameworktest.WaitActorState(t, obs, owned.ID(), actors.StateAlive); rec.Owner != drv.ID() {
		t.Fatalf("owner of a named actor = %q, want the creating client %q (named actors are owned, as in Ray)", rec.Owner, drv.ID())
	}
	if rec := frameworktest.WaitActorState(t, obs, detached.ID(), actors.StateAlive); rec.Owner != "" {
		t.Fatalf("owner of a detached actor = %q, want none", rec.Owner)
	}
	ownedObs, err := actors.Get(ctx, obs, Counter, "owned")
	if err != nil {
		t.Fatal(err)
	}
	// Let the worker's judge warm up, so the time measured below is the judgement's, not the
	// warm-up's.
	waitJudges(t, judge)
	if err := drv.Close(); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	for _, id := range []string{owned.ID(), plain.ID()} {
		rec, took := waitDead(t, obs, id, closed, 20*time.Second)
		t.Logf("%s dead %v after its owner closed: %q", id, took.Round(time.Millisecond), rec.Error)
		if !strings.Contains(rec.Error, "owner client "+drv.ID()) {
			t.Fatalf("death cause %q, want the owner named", rec.Error)
		}
		if took > 10*time.Second {
			t.Fatalf("owned actor died %v after Close, want within a few seconds", took)
		}
	}
	if _, err := Incr.Remote(ctx, ownedObs, 1).Await(ctx); !errors.Is(err, actors.ErrDied) {
		t.Fatalf("call to the owned actor after its owner closed: %v, want ErrDied", err)
	}
	if _, err := actors.Get(ctx, obs, Counter, "owned"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("name of the dead owned actor: %v, want ErrNotFound (freed)", err)
	}
	stillAlive(t, ctx, obs, "detached", 2*ownerTTL)
}

// TestOwnerVanishesKillsOwnedActors: an owner whose connection is cut without Close is judged
// gone once its key has expired and a probe finds nobody: its actors die, detached ones live.
func TestOwnerVanishesKillsOwnedActors(t *testing.T) {
	srv, obs := lifetimeServer(t, ownerTTL, framework.EmbeddedConfig{})
	judge, _ := startWorker(t, srv.ClientURL(), Counter)
	ctx := testCtx(t)
	drv := testsupport.Connect(t, srv.ClientURL(), framework.WithClientTTL(ownerTTL))
	owned := Counter.Remote(ctx, drv, 0)
	detached := Counter.Options(actors.Name("survivor"), actors.Detached()).Remote(ctx, drv, 0)
	for _, h := range []*actors.Handle[counter]{owned, detached} {
		if err := h.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitJudges(t, judge)
	drv.Conn().Close() // vanishes: no Close, its key is left to expire
	cut := time.Now()
	rec, took := waitDead(t, obs, owned.ID(), cut, 30*time.Second)
	t.Logf("owned actor dead %v after its owner vanished (TTL %v): %q", took.Round(time.Millisecond), ownerTTL, rec.Error)
	stillAlive(t, ctx, obs, "survivor", 2*ownerTTL)
}

// lifetimeOwnerEnv names the environment of the owner process of TestOwnerProcess.
const (
	lifetimeOwnerURL = "JETRAY_TEST_OWNER_URL"
	lifetimeOwnerTTL = "JETRAY_TEST_OWNER_TTL"
)

// TestOwnerProcess runs the owner in a process of its own (this test binary again): killed
// with SIGKILL, its owned actor dies after the lease and its detached one lives; stopped with
// SIGSTOP for longer than a probe waits (2 s: probes go unanswered meanwhile) but less than
// the TTL, and continued, its actors live.
func TestOwnerProcess(t *testing.T) {
	if url := os.Getenv(lifetimeOwnerURL); url != "" {
		runOwnerProcess(t, url)
		return
	}
	for _, tc := range []struct {
		name  string
		ttl   time.Duration
		stall time.Duration // 0: SIGKILL
	}{{"sigkill", ownerTTL, 0}, {"sigstop", 6 * time.Second, 3 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, obs := lifetimeServer(t, tc.ttl, framework.EmbeddedConfig{})
			judge, _ := startWorker(t, srv.ClientURL(), Counter)
			ctx := testCtx(t)
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestOwnerProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), lifetimeOwnerURL+"="+srv.ClientURL(), lifetimeOwnerTTL+"="+tc.ttl.String())
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			var owned string
			lines := bufio.NewScanner(out)
			for lines.Scan() {
				if id, ok := strings.CutPrefix(lines.Text(), "owned "); ok {
					owned = id
					break
				}
			}
			if owned == "" {
				t.Fatalf("owner process never reported its actor: %v", lines.Err())
			}
			go func() { // drain the rest of its output
				for lines.Scan() {
				}
			}()
			// A judge not yet warm judges nobody: the stall below would prove nothing.
			waitJudges(t, judge)
			if tc.stall == 0 {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed := time.Now()
				rec, took := waitDead(t, obs, owned, killed, 30*time.Second)
				t.Logf("owned actor dead %v after SIGKILL of its owner (TTL %v): %q", took.Round(time.Millisecond), tc.ttl, rec.Error)
				if !strings.Contains(rec.Error, "owner client") {
					t.Fatalf("death cause %q", rec.Error)
				}
				stillAlive(t, ctx, obs, "proc-detached", 2*tc.ttl)
				return
			}
			if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			time.Sleep(tc.stall) // not a wait: the stall's length is the fault under test
			if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			stillAlive(t, ctx, obs, "proc-owned", tc.ttl)
			if rec := frameworktest.WaitActorState(t, obs, owned, actors.StateAlive); rec.Owner == "" {
				t.Fatalf("proc-owned has no owner")
			}
		})
	}
}

// runOwnerProcess is the owner process: it creates an owned and a detached actor, reports the
// owned one's ID and waits to be killed.
func runOwnerProcess(t *testing.T, url string) {
	ttl, err := time.ParseDuration(os.Getenv(lifetimeOwnerTTL))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := framework.Connect(ctx, url, framework.WithClientTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	owned := Counter.Options(actors.Name("proc-owned")).Remote(ctx, c, 0)
	detached := Counter.Options(actors.Name("proc-detached"), actors.Detached()).Remote(ctx, c, 0)
	for _, h := range []*actors.Handle[counter]{owned, detached} {
		if err := h.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("owned %s\n", owned.ID())
	select {} // until killed
}

// TestOwnerSurvivesBrokerRestart: a broker restart loses the clients bucket (memory) with
// every key in it, and breaks every connection: no judge may take that for its owners' death.
// The owned actor answers before and after, and is never killed.
func TestOwnerSurvivesBrokerRestart(t *testing.T) {
	cfg := framework.EmbeddedConfig{Port: testsupport.FreePort(t), StoreDir: t.TempDir()}
	srv, obs := lifetimeServer(t, ownerTTL, cfg)
	var srv2 *framework.EmbeddedServer
	t.Cleanup(func() { // after the worker and the clients are done
		if srv2 != nil {
			srv2.Shutdown()
		}
	})
	judge, _ := startWorker(t, srv.ClientURL(), Counter)
	ctx := testCtx(t)
	drv := testsupport.Connect(t, srv.ClientURL(), framework.WithClientTTL(ownerTTL))
	h := Counter.Options(actors.Name("kept")).Remote(ctx, drv, 0)
	if _, err := Incr.Remote(ctx, h, 1).Await(ctx); err != nil {
		t.Fatal(err)
	}
	waitJudges(t, judge) // a judge not yet warm would take no restart for a death
	down := time.Now()
	srv.Shutdown()
	t.Logf("broker down in %v", time.Since(down))
	time.Sleep(time.Second) // not a wait: the downtime is the fault under test
	var err error
	if srv2, err = framework.StartEmbedded(cfg); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker back after %v", time.Since(down))
	// The worker re-claims the actor under a new lease; calls then go through again.
	testsupport.WaitFor(t, time.Minute, "the actor answering after the restart", func() bool {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := Incr.Remote(cctx, h, 0).Await(cctx)
		return err == nil
	})
	t.Logf("actor answers %v after the broker went down", time.Since(down))
	stillAlive(t, ctx, obs, "kept", 3*ownerTTL)
}

var (
	// SpawnCounter creates a named Counter from inside a task and returns its ID.
	SpawnCounter = framework.NewTask("spawn_counter", func(ctx context.Context, name string) (string, error) {
		h := Counter.Options(actors.Name(name), actors.MaxRestarts(1)).Remote(ctx, framework.ClientFromContext(ctx), 0)
		return h.ID(), h.Ready(ctx)
	})
	// NestSpawn has SpawnCounter create the counter, one task deeper.
	NestSpawn = framework.NewTask("nest_spawn", func(ctx context.Context, name string) (string, error) {
		return SpawnCounter.Remote(ctx, framework.ClientFromContext(ctx), name).Await(ctx)
	})
)

// TestTaskCreatedActorsOwnedByRootClient: an actor a task creates (directly, or in a task
// that task submitted) is owned by the client that submitted the root call, not by the worker
// that ran the task: the worker's graceful stop leaves it alive, its root client's Close
// kills it.
func TestTaskCreatedActorsOwnedByRootClient(t *testing.T) {
	srv, obs := lifetimeServer(t, ownerTTL, framework.EmbeddedConfig{})
	judge1, stopW1 := startWorker(t, srv.ClientURL(), SpawnCounter, NestSpawn, Counter)
	judge2, _ := startWorker(t, srv.ClientURL(), Counter) // takes the actors over when W1 stops
	ctx := testCtx(t)
	drv := testsupport.Connect(t, srv.ClientURL(), framework.WithClientTTL(ownerTTL))
	direct, err := SpawnCounter.Remote(ctx, drv, "from-task").Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nested, err := NestSpawn.Remote(ctx, drv, "from-nested-task").Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{direct, nested} {
		if rec := frameworktest.WaitActorState(t, obs, id, actors.StateAlive); rec.Owner != drv.ID() {
			t.Fatalf("actor %s owned by %q, want the root client %q", id, rec.Owner, drv.ID())
		}
	}
	waitJudges(t, judge1, judge2)
	stopW1() // a graceful stop: W1's client closes too
	stillAlive(t, ctx, obs, "from-task", 2*ownerTTL)
	stillAlive(t, ctx, obs, "from-nested-task", 0)
	if err := drv.Close(); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	for _, id := range []string{direct, nested} {
		rec, took := waitDead(t, obs, id, closed, 20*time.Second)
		t.Logf("%s dead %v after its root client closed: %q", id, took.Round(time.Millisecond), rec.Error)
	}
}

type nursery struct{ child *actors.Handle[counter] }

var (
	// Nursery creates a named Counter in its constructor.
	Nursery = actors.Define("Nursery", func(ctx context.Context, name string) (*nursery, error) {
		h := Counter.Options(actors.Name(name)).Remote(ctx, framework.ClientFromContext(ctx), 0)
		return &nursery{child: h}, h.Ready(ctx)
	})
	// Adopt creates a named Counter from a method and returns its ID.
	Adopt = actors.Method(Nursery, "adopt", func(n *nursery, ctx context.Context, name string) (string, error) {
		h := Counter.Options(actors.Name(name)).Remote(ctx, framework.ClientFromContext(ctx), 0)
		return h.ID(), h.Ready(ctx)
	})
)

// TestChildActorsDieWithParent: actors created in an actor's constructor or methods are owned
// by that actor (Ray: by the actor's process) and die soon after it does, whatever their
// creator's client does.
func TestChildActorsDieWithParent(t *testing.T) {
	srv, obs := lifetimeServer(t, ownerTTL, framework.EmbeddedConfig{})
	startWorker(t, srv.ClientURL(), Nursery, Counter)
	ctx := testCtx(t)
	parent := Nursery.Remote(ctx, obs, "ctor-child")
	if err := parent.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	adopted, err := Adopt.Remote(ctx, parent, "method-child").Await(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctorChild, err := actors.Get(ctx, obs, Counter, "ctor-child")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{ctorChild.ID(), adopted} {
		if rec := frameworktest.WaitActorState(t, obs, id, actors.StateAlive); rec.Owner != parent.ID() {
			t.Fatalf("child %s owned by %q, want its parent actor %s", id, rec.Owner, parent.ID())
		}
	}
	if err := actors.Kill(ctx, parent); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for _, id := range []string{ctorChild.ID(), adopted} {
		rec, took := waitDead(t, obs, id, killed, 20*time.Second)
		t.Logf("child %s dead %v after its parent was killed: %q", id, took.Round(time.Millisecond), rec.Error)
		if !strings.Contains(rec.Error, "owner actor "+parent.ID()+" died") {
			t.Fatalf("death cause %q", rec.Error)
		}
	}
}
