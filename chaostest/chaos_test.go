package chaostest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/tcpproxy"
	"github.com/jetray/jetray/internal/testsupport"
)

const (
	numWorkers     = 3
	numCounters    = 4 // ChaosCounter actors created before the faults start
	lateCounters   = 2 // ChaosCounter actors created while faults hit
	numAsync       = 2 // ChaosAsync actors
	asyncCallers   = 6 // sequential callers per ChaosAsync actor (more than its max_concurrency)
	taskSubmitters = 2
	maxTasks       = 12 // unresolved chaos_task calls per submitter
	maxRefs        = 6  // unresolved chaos_ref and RemoteFrom calls
	settleTimeout  = 3 * time.Minute
	shortChaosTime = 75 * time.Second
)

// Fault kinds.
const (
	fKill     = "kill"     // SIGKILL a worker, start a replacement
	fStop     = "stop"     // SIGSTOP a worker for 2 to 3 leases, then SIGCONT
	fCut      = "cut"      // partition a worker through its proxy for 2 to 3 leases
	fTerm     = "term"     // SIGTERM a worker (rolling restart), start a replacement
	fServer   = "server"   // SIGKILL nats-server, restart it on the same store and port
	fHandover = "handover" // SIGTERM a worker, SIGKILL the one receiving its actors
)

var faultKinds = []string{fKill, fStop, fCut, fTerm, fServer}

// fault is one step of the schedule, drawn from the seed.
type fault struct {
	kind   string
	slot   int           // the worker slot hit
	other  int           // handover: the slot killed if no receiver is seen
	dur    time.Duration // stop, cut: how long; server: down time
	black  bool          // cut: Blackhole (silent) rather than Cut (connections closed)
	weight float64       // share of the idle time before this fault
}

// schedule draws the faults: every kind perKind times, and max(1, perKind-1) hand-overs,
// shuffled.
func schedule(rng *rand.Rand, perKind int, lease time.Duration) []fault {
	var kinds []string
	for range perKind {
		kinds = append(kinds, faultKinds...)
	}
	for range max(1, perKind-1) {
		kinds = append(kinds, fHandover)
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	out := make([]fault, len(kinds))
	cuts := 0
	for i, k := range kinds {
		f := fault{kind: k, slot: rng.IntN(numWorkers), weight: 0.5 + rng.Float64()}
		f.other = (f.slot + 1 + rng.IntN(numWorkers-1)) % numWorkers
		switch k {
		case fStop, fCut:
			f.dur = 2*lease + time.Duration(rng.Int64N(int64(lease)))
		case fServer:
			f.dur = 500*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond)))
		case fHandover:
			f.dur = time.Duration(rng.Int64N(int64(800 * time.Millisecond))) // fallback delay
		}
		if k == fCut {
			f.black = cuts%2 == 1 // alternate: closed connections, then a silent link
			cuts++
		}
		out[i] = f
	}
	return out
}

// estimate is how long a fault takes to inject, for spreading them over the run.
func (f fault) estimate() time.Duration {
	switch f.kind {
	case fStop, fCut:
		return f.dur + time.Second
	case fServer:
		return f.dur + 3*time.Second
	case fHandover:
		return 8 * time.Second
	default:
		return 4 * time.Second
	}
}

func (f fault) String() string {
	switch f.kind {
	case fStop, fServer:
		return fmt.Sprintf("%s w%d %v", f.kind, f.slot, f.dur.Round(100*time.Millisecond))
	case fCut:
		how := "cut"
		if f.black {
			how = "blackhole"
		}
		return fmt.Sprintf("%s(%s) w%d %v", f.kind, how, f.slot, f.dur.Round(100*time.Millisecond))
	case fHandover:
		return fmt.Sprintf("%s term w%d, kill receiver (else w%d)", f.kind, f.slot, f.other)
	default:
		return fmt.Sprintf("%s w%d", f.kind, f.slot)
	}
}

// injected is a fault as it happened.
type injected struct {
	kind, detail string
	start, end   time.Time
}

// call is one submitted call and what its future gave.
type call struct {
	kind      string // task, ref, from, put, counter, async
	actor     string // actor calls: the actor ID
	id        string // the future's ID
	submitted time.Time
	received  time.Time
	resolved  bool
	value     any
	err       error
	check     func(v any) string // describes a wrong value, "" if right
}

// chaos is one run: its processes, its driver and what it saw.
type chaos struct {
	t         *testing.T
	seed      uint64
	lease     time.Duration
	workerBin string
	url       string

	mu        sync.Mutex
	server    *testsupport.NATS
	serverGen int
	workers   [numWorkers]*testsupport.Proc
	gens      [numWorkers]int
	proxies   [numWorkers]*tcpproxy.Proxy
	proxyURLs [numWorkers]string
	procs     []*testsupport.Proc // every worker ever started
	servers   []*testsupport.Proc // every nats-server started
	calls     []*call
	faults    []injected
	handovers []string // how each hand-over fault landed
	viol      map[string][]string
	actorIDs  []string
	counters  []*actors.Handle[counter]
	asyncs    []*actors.Handle[asyncActor]

	c, c2     *framework.Client
	loadCtx   context.Context // ends when the faults end: stop submitting
	awaitCtx  context.Context // ends after the settle period: stop waiting
	wg        sync.WaitGroup  // every driver goroutine
	recheck   chan *call      // resolved calls for the second client to read at once
	recheckOK int
}

func (r *chaos) violate(inv, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.viol[inv] = append(r.viol[inv], fmt.Sprintf(format, args...))
}

func (r *chaos) logf(format string, args ...any) {
	r.t.Logf("%s %s", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// chaosTime is CHAOS_TIME, or the short run's length.
func chaosTime(t *testing.T) time.Duration {
	s := os.Getenv("CHAOS_TIME")
	if s == "" {
		return shortChaosTime
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 30*time.Second {
		t.Fatalf("CHAOS_TIME=%q: want a Go duration of at least 30s", s)
	}
	return d
}

// TestChaos runs the driver against three worker processes while the schedule's faults hit,
// then checks the invariants (see docs/reliability.md, "Chaos run").
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nats-server and worker processes for a minute or more")
	}
	ignore := goleak.IgnoreCurrent()
	total := chaosTime(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	perKind := max(1, int(total/(95*time.Second)))
	lease := framework.LivenessTTL
	rng := rand.New(rand.NewPCG(seed, 0x6a657472))
	plan := schedule(rng, perKind, lease)
	t.Logf("CHAOS_SEED=%d CHAOS_TIME=%v lease=%v: %d faults, each kind %d times", seed, total, lease, len(plan), perKind)
	for i, f := range plan {
		t.Logf("  %2d. %v", i+1, f)
	}

	r := &chaos{
		t: t, seed: seed, lease: lease, workerBin: testsupport.Build(t, testsupport.ChaosWorkerPkg),
		viol: map[string][]string{}, recheck: make(chan *call, 256),
	}
	r.server = testsupport.StartNATS(t, testsupport.NATSConfig{Name: "nats-server-0", Ready: time.Minute, Opts: procOpts})
	r.servers = append(r.servers, r.server.Proc)
	r.url = r.server.URL

	base := context.Background()
	loadCtx, stopLoad := context.WithCancel(base)
	awaitCtx, stopAwait := context.WithCancel(base)
	defer stopLoad()
	defer stopAwait()
	r.loadCtx, r.awaitCtx = loadCtx, awaitCtx

	r.c = testsupport.Connect(t, r.url, framework.WithName("chaos-driver"))
	r.c2 = testsupport.Connect(t, r.url, framework.WithName("chaos-reader"))
	for i := range numWorkers {
		r.proxies[i], r.proxyURLs[i] = testsupport.Proxy(t, r.url)
		r.startWorker(i)
	}
	baseline := r.actorConsumers()
	r.createActors(rng)

	// The load: runs until the faults end.
	for i := range taskSubmitters {
		r.wg.Go(func() { r.taskLoop(i) })
	}
	r.wg.Go(r.refLoop)
	for i, h := range r.counters {
		r.wg.Go(func() { r.counterLoop(i, h) })
	}
	for i, h := range r.asyncs {
		for k := range asyncCallers {
			r.wg.Go(func() { r.asyncLoop(i*asyncCallers+k, h) })
		}
	}
	r.wg.Go(r.recheckLoop)
	r.wg.Go(func() { r.lateActors(total) })

	// The faults.
	start := time.Now()
	end := start.Add(total)
	r.inject(plan, end)
	if d := time.Until(end); d > 0 {
		r.logf("faults done; load goes on for %v", d.Round(time.Second))
		sleepCtx(base, d)
	}
	stopLoad()
	r.logf("load stopped after %v; settling (up to %v)", time.Since(start).Round(time.Second), settleTimeout)

	// Settle: every process up and connected; every future must resolve.
	r.ensureWorkers()
	settled := testsupport.Poll(settleTimeout, func() bool { return r.unresolved() == 0 })
	r.logf("settled=%v, %d unresolved", settled, r.unresolved())
	stopAwait()
	r.wg.Wait()

	r.check(baseline)
	_ = r.c2.Close()
	_ = r.c.Close()
	for _, p := range r.proxies {
		_ = p.Close()
	}
	r.stopAll()
	if err := goleak.Find(ignore); err != nil {
		r.violate("no goroutine leak in the driver", "%v", err)
	}
	r.scanWorkerLogs()
	r.summary(perKind)
}

// sleepCtx waits d (a scheduled wait) or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
