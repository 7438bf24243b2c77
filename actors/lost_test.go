package actors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/rs/zerolog"
)

// tally is an actor that counts how often each of its calls ran (tallyRuns, by the call's
// key), so a test can tell a call answered from its stored result from one run again.
type tally struct {
	tag, id string
	n       atomic.Int32 // calls run on this instance
}

// TallySpec is Tally's constructor input; Tag keys the counters and the gate.
type TallySpec struct {
	Tag string `json:"tag"`
}

var (
	tallyRuns   sync.Map // "<tag>/<key>" -> *atomic.Int32
	tallyGates  sync.Map // tag -> chan struct{}: TallyHold returns once it is closed
	tallyBuilt  sync.Map // tag -> *atomic.Int32: constructions
	tallyHolder sync.Map // tag -> chan struct{}: a TallyHold call started (buffered)
)

func tallyCounter(m *sync.Map, key string) *atomic.Int32 {
	v, _ := m.LoadOrStore(key, new(atomic.Int32))
	return v.(*atomic.Int32)
}

// runs returns how often call key of the Tally tagged tag ran.
func runs(tag string, key int) int {
	return int(tallyCounter(&tallyRuns, fmt.Sprintf("%s/%d", tag, key)).Load())
}

func tallyGate(tag string) chan struct{} {
	v, _ := tallyGates.LoadOrStore(tag, make(chan struct{}))
	return v.(chan struct{})
}

func tallyStarted(tag string) chan struct{} {
	v, _ := tallyHolder.LoadOrStore(tag, make(chan struct{}, 16))
	return v.(chan struct{})
}

var (
	Tally = actors.Define("Tally", func(_ context.Context, in TallySpec) (*tally, error) {
		n := tallyCounter(&tallyBuilt, in.Tag).Add(1)
		return &tally{tag: in.Tag, id: fmt.Sprintf("%s#%d", in.Tag, n)}, nil
	})
	// Mark runs call key and returns the instance and how many calls it has run.
	Mark = actors.Method(Tally, "mark", func(a *tally, _ context.Context, key int) (Answer, error) {
		tallyCounter(&tallyRuns, fmt.Sprintf("%s/%d", a.tag, key)).Add(1)
		return Answer{Instance: a.id, N: int(a.n.Add(1))}, nil
	})
	// TallyHold runs call key until the tag's gate closes.
	TallyHold = actors.Method(Tally, "hold", func(a *tally, ctx context.Context, key int) (Answer, error) {
		tallyCounter(&tallyRuns, fmt.Sprintf("%s/%d", a.tag, key)).Add(1)
		tallyStarted(a.tag) <- struct{}{}
		select {
		case <-tallyGate(a.tag):
		case <-ctx.Done():
			return Answer{}, ctx.Err()
		}
		return Answer{Instance: a.id, N: int(a.n.Add(1))}, nil
	})
)

// heldActor is a Tally with answered calls (keys 1..answered) and one call (key 0) running
// until its gate closes, and calls keys answered+1..answered+queued sent after it. On an
// async actor the running call keeps the consumer's ack floor below the answered calls, so
// they stay stored (the host deletes calls only below the floor); on a plain actor the
// queued calls wait behind it.
type heldActor struct {
	tag      string
	h        *actors.Handle[tally]
	instance string
	answered int
	held     *futures.Future[Answer]
	queued   []*futures.Future[Answer]
}

func holdActor(ctx context.Context, t *testing.T, drv *framework.Client, tag string, maxConc, answered, queued int) *heldActor {
	t.Helper()
	a := &heldActor{tag: tag, answered: answered}
	cls := Tally
	if maxConc > 1 {
		cls = Tally.Options(actors.MaxConcurrency(maxConc))
	}
	a.h = cls.Remote(ctx, drv, TallySpec{Tag: tag})
	if maxConc > 1 {
		a.held = TallyHold.Remote(ctx, a.h, 0)
		recvSignal(t, tallyStarted(tag), "the held call of "+tag)
	}
	for k := 1; k <= answered; k++ {
		got, err := Mark.Remote(ctx, a.h, k).Await(ctx)
		if err != nil {
			t.Fatalf("%s: call %d: %v", tag, k, err)
		}
		a.instance = got.Instance
	}
	if maxConc == 1 {
		a.held = TallyHold.Remote(ctx, a.h, 0)
		recvSignal(t, tallyStarted(tag), "the held call of "+tag)
	}
	for k := answered + 1; k <= answered+queued; k++ {
		a.queued = append(a.queued, Mark.Remote(ctx, a.h, k))
	}
	return a
}

// check waits for the held and queued calls, then sends one more, and checks that each call
// ran exactly once, on the instance that answered before.
func (a *heldActor) check(ctx context.Context, t *testing.T) {
	t.Helper()
	fs := append([]*futures.Future[Answer]{a.held}, a.queued...)
	fs = append(fs, Mark.Remote(ctx, a.h, a.answered+len(a.queued)+1))
	got, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatalf("%s: %v", a.tag, err)
	}
	for _, g := range got {
		if g.Instance != a.instance {
			t.Errorf("%s: answered by instance %s, want %s (the actor was rebuilt)", a.tag, g.Instance, a.instance)
		}
	}
	top := 0
	for _, g := range got {
		top = max(top, g.N)
	}
	if top != len(fs)+a.answered {
		t.Errorf("%s: the instance ran %d calls, want %d", a.tag, top, len(fs)+a.answered)
	}
	for k := 0; k <= a.answered+len(a.queued)+1; k++ {
		if n := runs(a.tag, k); n != 1 {
			t.Errorf("%s: call %d ran %d times, want once", a.tag, k, n)
		}
	}
	if n := tallyCounter(&tallyBuilt, a.tag).Load(); n != 1 {
		t.Errorf("%s: constructed %d times", a.tag, n)
	}
}

func recvSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestActorsSurviveBrokerRestart: actor consumers keep their state in memory, so a broker
// restart loses them. The host re-claims its actors (the restart also lost its lease) and
// serves each from a new consumer: calls answered before the restart and still stored are
// answered from their stored results, never run again; the call running across the restart
// answers once; queued calls run once each; the instances (and their state) are the same.
func TestActorsSurviveBrokerRestart(t *testing.T) {
	cfg := framework.EmbeddedConfig{StoreDir: t.TempDir(), Port: testsupport.FreePort(t)}
	srv := testsupport.Embedded(t, cfg)
	_, stop := startWorker(t, srv.ClientURL(), Tally)
	defer stop() // while the restarted server runs (its cleanup comes first)
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testsupport.Context(t, 3*time.Minute)
	held := []*heldActor{
		holdActor(ctx, t, drv, t.Name()+"-plain", 1, 3, 4),
		holdActor(ctx, t, drv, t.Name()+"-async", 8, 5, 0),
	}
	before := map[string]actors.Record{}
	for _, a := range held {
		before[a.h.ID()] = testsupport.ActorRecord(t, ctx, drv, a.h.ID())
		t.Logf("%s: %d calls stored before the restart", a.tag, storedCalls(t, ctx, drv, a.h.ID()))
	}
	if n := storedCalls(t, ctx, drv, held[1].h.ID()); n < uint64(held[1].answered)+1 {
		t.Fatalf("the async actor has %d calls stored, want its %d answered ones and the held one", n, held[1].answered)
	}

	t0 := time.Now()
	srv.Shutdown()
	srv = testsupport.Embedded(t, cfg) // same store and port: the clients reconnect
	t.Logf("restarted in %v", time.Since(t0))
	// The held calls return once their actors are served again (their answers wait for that).
	for _, a := range held {
		testsupport.WaitFor(t, time.Minute, a.tag+" re-claimed", func() bool {
			r, err := actors.Describe(ctx, drv, a.h.ID())
			return err == nil && r.State == actors.StateAlive && r.Epoch > before[a.h.ID()].Epoch
		})
	}
	t.Logf("re-claimed after %v", time.Since(t0))
	for _, a := range held {
		close(tallyGate(a.tag))
	}
	for _, a := range held {
		a.check(ctx, t)
		t.Logf("%s answered after %v", a.tag, time.Since(t0))
		if r := testsupport.ActorRecord(t, ctx, drv, a.h.ID()); r.Worker != before[a.h.ID()].Worker {
			t.Errorf("%s: on worker %s after the restart, was %s", a.tag, r.Worker, before[a.h.ID()].Worker)
		}
	}
}

// TestLostConsumerRecreated: when an actor's consumer vanishes while its host keeps its
// lease (a cluster node lost, here deleted by hand), the host serves the same instance from
// a new consumer under the next epoch, if the record still names it; answered calls are not
// run again. A host whose record was taken over meanwhile (a stale host: a judge gave the
// actor to another lease) recreates nothing and drops its instance.
func TestLostConsumerRecreated(t *testing.T) {
	for _, tc := range []struct {
		name     string
		takeOver bool
	}{{"owner recreates", false}, {"stale host does not", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
			logs := &testsupport.Buffer{}
			wc := testsupport.Connect(t, srv.ClientURL(), framework.WithLogger(zerolog.New(logs).Level(zerolog.InfoLevel)))
			w := framework.NewWorker(wc, framework.WithDrainTimeout(2*time.Second))
			if err := w.Register(Tally); err != nil {
				t.Fatal(err)
			}
			frameworktest.StartWorker(t, w)
			drv := testsupport.Connect(t, srv.ClientURL())
			ctx := testCtx(t)
			tag := strings.ReplaceAll(t.Name(), " ", "_")
			a := holdActor(ctx, t, drv, tag, 4, 3, 0)
			rec := testsupport.ActorRecord(t, ctx, drv, a.h.ID())
			consumer := fmt.Sprintf("actor-%s-%d", strings.ReplaceAll(a.h.ID(), ".", "-"), rec.Epoch)
			var other string // lease of the host the record names after the take-over
			if tc.takeOver {
				// As another host that took the actor over leaves the record: its lease, the
				// next epoch. (It deletes the old consumer before serving, below.) That host is
				// alive, so no judge acts on the record afterwards.
				other = leaseOf(ctx, t, drv, startExtra(t, srv.ClientURL()))
				takeOver(ctx, t, drv, a.h.ID(), other, rec.Epoch+1)
			}
			if err := drv.JetStream().DeleteConsumer(ctx, framework.ActorsStream, consumer); err != nil {
				t.Fatal(err)
			}
			if !tc.takeOver {
				testsupport.WaitFor(t, 30*time.Second, "a consumer of the next epoch", func() bool {
					r, err := actors.Describe(ctx, drv, a.h.ID())
					return err == nil && r.Epoch == rec.Epoch+1 && r.WorkerKey == rec.WorkerKey && r.State == actors.StateAlive
				})
				close(tallyGate(tag))
				a.check(ctx, t)
				cons, err := drv.JetStream().Consumer(ctx, framework.ActorsStream, fmt.Sprintf("actor-%s-%d", strings.ReplaceAll(a.h.ID(), ".", "-"), rec.Epoch+1))
				if err != nil {
					t.Fatal(err)
				}
				if cfg := cons.CachedInfo().Config; !cfg.MemoryStorage {
					t.Errorf("the new consumer keeps its state on file: %+v", cfg)
				}
				return
			}
			testsupport.WaitFor(t, 30*time.Second, "the host to drop or recreate its instance", func() bool {
				l := logs.String()
				return strings.Contains(l, "actor instance dropped") || strings.Contains(l, "serving from a new one")
			})
			close(tallyGate(tag))
			r := testsupport.ActorRecord(t, ctx, drv, a.h.ID())
			if r.WorkerKey != other || r.Epoch != rec.Epoch+1 {
				t.Errorf("record changed by the stale host: lease %q epoch %d", r.WorkerKey, r.Epoch)
			}
			for _, name := range actorConsumers(t, ctx, drv) {
				if strings.HasPrefix(name, "actor-"+strings.ReplaceAll(a.h.ID(), ".", "-")) {
					t.Errorf("the stale host made consumer %s", name)
				}
			}
			if strings.Contains(logs.String(), "serving from a new one") {
				t.Errorf("the stale host recreated the consumer:\n%s", logs.String())
			}
		})
	}
}

// startExtra runs another worker serving Tally and returns its client ID.
func startExtra(t *testing.T, url string) string {
	t.Helper()
	c, _ := startWorker(t, url, Tally)
	return c.ID()
}

// leaseOf returns the lease key of the running worker on client id.
func leaseOf(ctx context.Context, t *testing.T, c *framework.Client, id string) string {
	t.Helper()
	var key string
	testsupport.WaitNoError(t, 30*time.Second, "the lease of worker "+id, func() error {
		live, err := framework.LiveWorkers(ctx, c)
		if err != nil {
			return err
		}
		for k, wi := range live {
			if wi.Client == id {
				key = k
				return nil
			}
		}
		return fmt.Errorf("no lease of %s among %d", id, len(live))
	})
	return key
}

// takeOver writes actor id's record as another host's claim would leave it: owner lease, the
// given epoch, ALIVE.
func takeOver(ctx context.Context, t *testing.T, c *framework.Client, id, lease string, epoch uint64) {
	t.Helper()
	kv, err := c.JetStream().KeyValue(ctx, framework.ActorsBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "a."+id)
	if err != nil {
		t.Fatal(err)
	}
	var r actors.Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		t.Fatal(err)
	}
	r.WorkerKey, r.Epoch, r.Worker, r.Control = lease, epoch, "another", "" // no control: kills go to the reaper
	b, _ := json.Marshal(r)
	if _, err := kv.Update(ctx, "a."+id, b, e.Revision()); err != nil {
		t.Fatal(err)
	}
}
