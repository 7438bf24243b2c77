package chaostest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
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

// stopAll kills every process still running and waits for it, so that goleak sees none of
// the goroutines that wait for them.
func (r *chaos) stopAll() {
	r.mu.Lock()
	ps := append(slices.Clone(r.servers), r.procs...)
	r.mu.Unlock()
	for _, p := range ps {
		p.Stop()
	}
}

// ---- processes ----

// procOpts start every process of the run: stdout and stderr in one buffer, and no output
// logged by the cleanups of a failed run (saveLogs writes it all to a directory instead).
var procOpts = []testsupport.ProcOption{testsupport.CombinedOutput(), testsupport.FailureLog(0)}

// startWorker starts a worker in slot i behind the slot's proxy and waits until it runs.
func (r *chaos) startWorker(i int) {
	r.mu.Lock()
	r.gens[i]++
	name := fmt.Sprintf("w%d-%d", i, r.gens[i])
	r.mu.Unlock()
	p := testsupport.Start(r.t, name, r.workerBin, []string{"-nats", r.proxyURLs[i], "-name", name}, procOpts...)
	r.mu.Lock()
	r.workers[i] = p
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	if err := p.AwaitLine(90*time.Second, testsupport.RunningLine(name)...); err != nil {
		r.violate("workers start and keep running", "%s not running: %v", name, err)
	}
}

// ensureWorkers restarts the server or workers that are gone (not by the schedule's hand).
func (r *chaos) ensureWorkers() {
	if r.server.Exited() {
		r.violate("workers start and keep running", "nats-server exited by itself: %v %s", r.server.Err(), r.server.Stderr.Tail(1500))
		r.restartServer(0)
	}
	for i := range numWorkers {
		p := r.workers[i]
		if p.Exited() {
			r.violate("workers start and keep running", "%s exited by itself: %v\n%s", p.Name, p.Err(), p.Stderr.Tail(3000))
			r.startWorker(i)
		}
	}
}

func (r *chaos) restartServer(down time.Duration) {
	sleepCtx(context.Background(), down)
	r.serverGen++
	cfg := r.server.Config // the same port and store
	cfg.Name = fmt.Sprintf("nats-server-%d", r.serverGen)
	n := testsupport.StartNATS(r.t, cfg)
	r.mu.Lock()
	r.server = n
	r.servers = append(r.servers, n.Proc)
	r.mu.Unlock()
}

// inject runs the schedule, spreading the faults over the time left until end.
func (r *chaos) inject(plan []fault, end time.Time) {
	for i, f := range plan {
		left := time.Duration(0)
		for _, g := range plan[i:] {
			left += g.estimate()
		}
		idle := max(time.Until(end)-left, 0) / time.Duration(len(plan)-i+1)
		gap := max(time.Duration(float64(idle)*f.weight), time.Second)
		sleepCtx(context.Background(), gap)
		r.ensureWorkers()
		start := time.Now()
		detail := r.apply(f)
		r.mu.Lock()
		r.faults = append(r.faults, injected{kind: f.kind, detail: detail, start: start, end: time.Now()})
		r.mu.Unlock()
		r.logf("fault %d/%d: %s (%v)", i+1, len(plan), detail, time.Since(start).Round(10*time.Millisecond))
	}
}

func (r *chaos) apply(f fault) string {
	w := r.workers[f.slot]
	switch f.kind {
	case fKill:
		r.kill(w)
		r.startWorker(f.slot)
		return "SIGKILL " + w.Name
	case fStop:
		if err := w.Suspend(f.dur); err != nil {
			return "stop: " + err.Error()
		}
		return fmt.Sprintf("SIGSTOP %s for %v", w.Name, f.dur.Round(100*time.Millisecond))
	case fCut:
		p := r.proxies[f.slot]
		how := "cut (connections closed)"
		if f.black {
			p.Blackhole()
			how = "blackhole (silent)"
		} else {
			p.Cut()
		}
		sleepCtx(context.Background(), f.dur)
		p.Restore()
		return fmt.Sprintf("network of %s %s for %v", w.Name, how, f.dur.Round(100*time.Millisecond))
	case fTerm:
		start := time.Now()
		_ = w.Send(syscall.SIGTERM)
		r.startWorker(f.slot) // the rolling restart's new worker
		return fmt.Sprintf("SIGTERM %s: %s", w.Name, r.awaitExit(w, start))
	case fServer:
		_ = r.server.Send(syscall.SIGKILL)
		r.server.WaitExit(30 * time.Second)
		r.restartServer(f.dur)
		return fmt.Sprintf("SIGKILL nats-server, down %v", f.dur.Round(100*time.Millisecond))
	case fHandover:
		return r.handover(f)
	}
	panic("unknown fault " + f.kind)
}

func (r *chaos) kill(p *testsupport.Proc) {
	_ = p.Send(syscall.SIGKILL)
	if !p.WaitExit(30 * time.Second) {
		r.t.Fatalf("%s still running 30s after SIGKILL", p.Name)
	}
}

// awaitExit waits for a worker stopping after the SIGTERM sent at start; one still running after a minute is a
// violation, and is killed.
func (r *chaos) awaitExit(p *testsupport.Proc, start time.Time) string {
	if !p.WaitExit(time.Minute) {
		r.violate("graceful stop ends", "%s still running 60s after SIGTERM", p.Name)
		r.kill(p)
		return "killed after 60s"
	}
	return fmt.Sprintf("exited %v after SIGTERM (%v)", p.ExitedAt().Sub(start).Round(10*time.Millisecond), cmp.Or(p.Err(), error(errExit0)))
}

var errExit0 = errors.New("status 0")

// handover SIGTERMs the worker in f.slot (or, if it hosts no actor, the one hosting most) and SIGKILLs the worker seen taking one of its actors
// over (an actor record that named it and now names another), or, if none is seen within 3
// s, the worker in f.other after f.dur. Both are then replaced.
func (r *chaos) handover(f fault) string {
	before := r.actorHosts()
	hosted := map[string]int{}
	for _, w := range before {
		hosted[w]++
	}
	if hosted[r.workers[f.slot].Name] == 0 { // stop a worker that hosts actors
		for i, w := range r.workers {
			if hosted[w.Name] > hosted[r.workers[f.slot].Name] {
				f.slot = i
			}
		}
		if f.other == f.slot {
			f.other = (f.slot + 1) % numWorkers
		}
	}
	a := r.workers[f.slot]
	termed := time.Now()
	_ = a.Send(syscall.SIGTERM)
	victim, how := -1, ""
	testsupport.Poll(3*time.Second, func() bool {
		for id, host := range r.actorHosts() {
			if before[id] != a.Name || host == a.Name || host == "" {
				continue
			}
			for i, w := range r.workers {
				if w.Name == host && i != f.slot {
					victim, how = i, fmt.Sprintf("receiving actor %s", id)
					return true
				}
			}
		}
		return false
	})
	if victim < 0 {
		sleepCtx(context.Background(), f.dur)
		victim, how = f.other, "no receiver seen in 3s: blind"
	}
	b := r.workers[victim]
	r.kill(b)
	r.mu.Lock()
	r.handovers = append(r.handovers, fmt.Sprintf("SIGTERM %s, SIGKILL %s (%s)", a.Name, b.Name, how))
	r.mu.Unlock()
	exit := r.awaitExit(a, termed)
	r.startWorker(f.slot)
	r.startWorker(victim)
	return fmt.Sprintf("hand-over: SIGTERM %s, SIGKILL %s %s; %s %s", a.Name, b.Name, how, a.Name, exit)
}

// actorHosts reads the worker named in each actor record (the jetray_actors bucket).
func (r *chaos) actorHosts() map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out := map[string]string{}
	kv, err := r.c.JetStream().KeyValue(ctx, "jetray_actors")
	if err != nil {
		return out
	}
	for _, id := range r.actorList() {
		e, err := kv.Get(ctx, "a."+id)
		if err != nil {
			continue
		}
		var rec struct {
			State  string `json:"state"`
			Worker string `json:"worker"`
		}
		if json.Unmarshal(e.Value(), &rec) == nil && rec.State == actors.StateAlive {
			out[id] = rec.Worker
		}
	}
	return out
}

func (r *chaos) actorList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.actorIDs)
}

// actorConsumers lists the consumers of JETRAY_ACTORS.
func (r *chaos) actorConsumers() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := r.c.JetStream().Stream(ctx, framework.ActorsStream)
	if err != nil {
		r.t.Logf("JETRAY_ACTORS: %v", err)
		return nil
	}
	var names []string
	l := s.ConsumerNames(ctx)
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		r.t.Logf("JETRAY_ACTORS consumers: %v", err)
	}
	slices.Sort(names)
	return names
}

// ---- the load ----

func (r *chaos) record(c *call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// finish records what a future gave; a future still unresolved when the settle period ends
// stays unresolved.
func (r *chaos) finish(c *call, v any, err error) {
	if err != nil && r.awaitCtx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return
	}
	r.mu.Lock()
	c.received, c.resolved, c.value, c.err = time.Now(), true, v, err
	r.mu.Unlock()
	select {
	case r.recheck <- c:
	default:
	}
}

func (r *chaos) unresolved() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if !c.resolved {
			n++
		}
	}
	return n
}

// track awaits f in its own goroutine and records the outcome; done runs after.
func track[T any](r *chaos, c *call, f *futures.Future[T], done func()) {
	c.id = f.ID()
	r.record(c)
	r.wg.Go(func() {
		defer done()
		v, err := f.Await(r.awaitCtx)
		r.finish(c, v, err)
	})
}

// pace waits a random lo..hi milliseconds between calls; false when the load stops.
func (r *chaos) pace(rng *rand.Rand, lo, hi int) bool {
	return sleepCtx(r.loadCtx, time.Duration(lo+rng.IntN(hi-lo+1))*time.Millisecond)
}

func (r *chaos) rng(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(r.seed, stream)) }

// acquire takes a place in sem unless the load stops.
func (r *chaos) acquire(sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-r.loadCtx.Done():
		return false
	}
}

func (r *chaos) taskLoop(n int) {
	rng := r.rng(uint64(100 + n))
	sem := make(chan struct{}, maxTasks)
	for seq := n * 10_000_000; r.acquire(sem); seq++ {
		in := TaskIn{Seq: seq, SleepMs: 1 + rng.IntN(15)}
		c := &call{kind: "task", submitted: time.Now(), check: func(v any) string {
			if out := v.(TaskOut); out.Seq != in.Seq {
				return fmt.Sprintf("seq %d, want %d", out.Seq, in.Seq)
			}
			return ""
		}}
		track(r, c, ChaosTask.Remote(r.awaitCtx, r.c, in), func() { <-sem })
		if !r.pace(rng, 20, 60) {
			return
		}
	}
}

// refLoop stores values with Put and passes them by reference: inside a chaos_ref input
// (read by the worker, which then waits on a child call) or as a RemoteFrom dependency.
func (r *chaos) refLoop() {
	rng := r.rng(200)
	sem := make(chan struct{}, maxRefs)
	for seq := 1; r.acquire(sem); seq++ {
		v := rng.IntN(1_000_000)
		if seq%2 == 0 {
			pf, ok := put(r, v)
			if !ok {
				<-sem
				continue
			}
			in := RefIn{Seq: seq, Ref: pf, SleepMs: 1 + rng.IntN(10)}
			c := &call{kind: "ref", submitted: time.Now(), check: func(x any) string {
				if out := x.(RefOut); out.Seq != in.Seq || out.Value != v || out.ChildSeq != -in.Seq {
					return fmt.Sprintf("%+v, want seq %d value %d child %d", out, in.Seq, v, -in.Seq)
				}
				return ""
			}}
			track(r, c, ChaosRef.Remote(r.awaitCtx, r.c, in), func() { <-sem })
		} else {
			in := TaskIn{Seq: -1_000_000 - seq, SleepMs: 1 + rng.IntN(10)}
			pf, ok := put(r, in)
			if !ok {
				<-sem
				continue
			}
			c := &call{kind: "from", submitted: time.Now(), check: func(x any) string {
				if out := x.(TaskOut); out.Seq != in.Seq {
					return fmt.Sprintf("seq %d, want %d", out.Seq, in.Seq)
				}
				return ""
			}}
			track(r, c, ChaosTask.RemoteFrom(r.awaitCtx, r.c, pf), func() { <-sem })
		}
		if !r.pace(rng, 30, 120) {
			return
		}
	}
}

// put stores v with Put and records the call; false if it failed. Put is one publish
// awaiting its ack: a minute rides out a broker restart unless the publish itself was lost.
func put[T comparable](r *chaos, v T) (*futures.Future[T], bool) {
	c := &call{kind: "put", submitted: time.Now(), check: wantEqual(v)}
	ctx, cancel := context.WithTimeout(r.awaitCtx, time.Minute)
	defer cancel()
	r.record(c) // before Put returns: the settle period waits for a Put still awaiting its ack
	f := framework.Put(ctx, r.c, v)
	r.mu.Lock()
	c.id = f.ID()
	r.mu.Unlock()
	got, err := f.Await(r.awaitCtx)
	r.finish(c, got, err)
	return f, err == nil
}

func wantEqual[T comparable](want T) func(any) string {
	return func(v any) string {
		if got := v.(T); got != want {
			return fmt.Sprintf("%v, want %v", got, want)
		}
		return ""
	}
}

// counterLoop calls incr on one ChaosCounter, one call at a time.
func (r *chaos) counterLoop(n int, h *actors.Handle[counter]) {
	rng := r.rng(uint64(300 + n))
	for r.loadCtx.Err() == nil {
		c := &call{kind: "counter", actor: h.ID(), submitted: time.Now()}
		f := Incr.Remote(r.awaitCtx, h, 1)
		c.id = f.ID()
		r.record(c)
		v, err := f.Await(r.awaitCtx)
		r.finish(c, v, err)
		if !r.pace(rng, 10, 40) {
			return
		}
	}
}

// asyncLoop calls work on one ChaosAsync, one call at a time (several loops per actor).
func (r *chaos) asyncLoop(n int, h *actors.Handle[asyncActor]) {
	rng := r.rng(uint64(400 + n))
	for r.loadCtx.Err() == nil {
		c := &call{kind: "async", actor: h.ID(), submitted: time.Now()}
		f := Work.Remote(r.awaitCtx, h, 2+rng.IntN(30))
		c.id = f.ID()
		r.record(c)
		v, err := f.Await(r.awaitCtx)
		r.finish(c, v, err)
		if !r.pace(rng, 5, 40) {
			return
		}
	}
}

func (r *chaos) createActors(rng *rand.Rand) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for range numCounters {
		h := ChaosCounter.Remote(ctx, r.c, rng.IntN(1000))
		if err := h.Ready(ctx); err != nil {
			r.t.Fatalf("ChaosCounter %s not ready: %v", h.ID(), err)
		}
		r.counters = append(r.counters, h)
		r.actorIDs = append(r.actorIDs, h.ID())
	}
	for range numAsync {
		h := ChaosAsync.Remote(ctx, r.c, 0)
		if err := h.Ready(ctx); err != nil {
			r.t.Fatalf("ChaosAsync %s not ready: %v", h.ID(), err)
		}
		r.asyncs = append(r.asyncs, h)
		r.actorIDs = append(r.actorIDs, h.ID())
	}
}

// lateActors creates ChaosCounter actors while faults hit (creation must happen once) and
// drives each like the first ones.
func (r *chaos) lateActors(total time.Duration) {
	for i := range lateCounters {
		if !sleepCtx(r.loadCtx, total/time.Duration(lateCounters+1)) {
			return
		}
		h := ChaosCounter.Remote(r.awaitCtx, r.c, 1000*(i+1))
		r.mu.Lock()
		r.actorIDs = append(r.actorIDs, h.ID())
		r.counters = append(r.counters, h)
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(r.awaitCtx, 2*time.Minute)
		err := h.Ready(ctx)
		cancel()
		if err != nil {
			r.violate("actor creation succeeds", "ChaosCounter %s created during the faults: %v", h.ID(), err)
			continue
		}
		r.logf("late ChaosCounter %s ready", h.ID())
		r.wg.Go(func() { r.counterLoop(numCounters+i, h) })
	}
}

// recheckLoop reads results of resolved calls from a second client at once, so a result
// that changes later is caught against both reads.
func (r *chaos) recheckLoop() {
	for {
		select {
		case <-r.awaitCtx.Done():
			return
		case c := <-r.recheck:
			ctx, cancel := context.WithTimeout(r.awaitCtx, 10*time.Second)
			msg, ok := r.compare(ctx, r.c2, c)
			cancel()
			if ok && msg != "" {
				r.violate("no result changes after it was read", "%s %s: read by a second client during the run: %s", c.kind, c.id, msg)
			}
			if ok {
				r.mu.Lock()
				r.recheckOK++
				r.mu.Unlock()
			}
		}
	}
}

// compare reads c's result with cl.Resolve and describes how it differs from what c's
// future gave ("" if not). ok is false when the read itself failed (broker away).
func (r *chaos) compare(ctx context.Context, cl *framework.Client, c *call) (msg string, ok bool) {
	r.mu.Lock()
	v, ferr := c.value, c.err
	r.mu.Unlock()
	var raw json.RawMessage
	err := cl.Resolve(ctx, c.id, &raw)
	var te *framework.TaskError
	if err != nil && !errors.As(err, &te) {
		return "", false
	}
	switch {
	case ferr == nil && err != nil:
		return fmt.Sprintf("the future gave %s, Resolve now gives error %v", jsonOf(v), err), true
	case ferr != nil && err == nil:
		return fmt.Sprintf("the future gave error %v, Resolve now gives %s", ferr, raw), true
	case ferr != nil:
		if errKind(ferr) != errKind(err) {
			return fmt.Sprintf("the future gave error %v, Resolve now gives error %v", ferr, err), true
		}
		return "", true
	}
	var a, b any
	_ = json.Unmarshal([]byte(jsonOf(v)), &a)
	if json.Unmarshal(raw, &b) != nil || !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("the future gave %s, Resolve now gives %s", jsonOf(v), raw), true
	}
	return "", true
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// errKind names an error for the tables: the TaskError kind, or what else it is.
func errKind(err error) string {
	var te *framework.TaskError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &te):
		k := cmp.Or(te.Kind, framework.KindError)
		if k == framework.KindError {
			switch {
			case strings.Contains(te.Message, "reference:"):
				k += ":reference"
			case strings.Contains(te.Message, "(lost)"):
				k += ":child-lost"
			case strings.Contains(te.Message, "child:"):
				k += ":child"
			}
		}
		return string(k)
	case errors.Is(err, actors.ErrDied):
		return "actor_died:fail-fast" // refused in the driver: the record says DEAD
	case errors.Is(err, framework.ErrClosed):
		return "client-closed"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "ctx"
	case strings.Contains(err.Error(), "put"):
		return "put"
	case strings.Contains(err.Error(), "submit"):
		return "submit"
	}
	return "other"
}

// ---- the checks ----

// overlapping counts the faults that overlapped [from, to].
func (r *chaos) overlapping(from, to time.Time, kinds ...string) int {
	n := 0
	for _, f := range r.faults {
		if f.start.Before(to) && f.end.After(from) && (len(kinds) == 0 || slices.Contains(kinds, f.kind)) {
			n++
		}
	}
	return n
}

// allowed reports whether a call may fail the way it did.
func (r *chaos) allowed(c *call) bool {
	k := errKind(c.err)
	switch c.kind {
	case "task", "ref", "from":
		// Attempts count runs started; a run is lost only to a fault. A call may run out of
		// its TaskRetries+1 attempts only if that many faults overlapped its life.
		if k == string(framework.KindLost) || k == "error:child-lost" {
			return r.overlapping(c.submitted, c.received) >= TaskRetries+1
		}
	case "put":
		// Put is one synchronous publish: it may fail while the broker is away.
		return r.overlapping(c.submitted.Add(-10*time.Second), c.received, fServer) > 0
	}
	// Actor calls: MaxRestarts(-1) and MaxTaskRetries(-1), so nothing may fail.
	return false
}

func (r *chaos) check(baseline []string) {
	r.mu.Lock()
	calls := slices.Clone(r.calls)
	r.mu.Unlock()

	type overrun struct {
		peak, slots, calls int
		first              string
	}
	over := map[string]overrun{}
	// Every future resolves, with a value of the right shape or an allowed error.
	for _, c := range calls {
		switch {
		case !c.resolved:
			r.violate("every future resolves", "%s %s submitted %s: unresolved %v after the load stopped%s",
				c.kind, c.id, ts(c.submitted), settleTimeout, r.actorRecord(c.actor))
		case c.err != nil && !r.allowed(c):
			r.violate("no error but those allowed", "%s %s submitted %s, failed %s: [%s] %v%s",
				c.kind, c.id, ts(c.submitted), ts(c.received), errKind(c.err), c.err, r.actorRecord(c.actor))
		case c.err == nil && c.check != nil:
			if msg := c.check(c.value); msg != "" {
				r.violate("results are right", "%s %s: %s", c.kind, c.id, msg)
			}
		}
		if c.err == nil {
			if rep, ok := reportOf(c.value); ok && rep.Peak > rep.Slots {
				o := over[rep.Worker]
				if o.calls == 0 {
					o.first = c.id
				}
				o.calls++
				o.peak, o.slots = max(o.peak, rep.Peak), rep.Slots
				over[rep.Worker] = o
			}
		}
	}
	for _, w := range slices.Sorted(maps.Keys(over)) {
		o := over[w]
		r.violate("task slots never exceeded", "worker %s ran up to %d task calls at once that were not blocked waiting, with %d slots (reported by %d calls, first %s)",
			w, o.peak, o.slots, o.calls, o.first)
	}
	r.checkActors(calls)
	stored := r.checkStored(calls)
	r.checkReread(calls, stored)
	r.checkConsumers(baseline)
}

func reportOf(v any) (Report, bool) {
	switch o := v.(type) {
	case TaskOut:
		return o.Report, true
	case RefOut:
		return o.Report, true
	}
	return Report{}, false
}

// checkActors: one instance at a time, per actor; counters strictly increase per instance;
// limits on concurrent calls hold.
func (r *chaos) checkActors(calls []*call) {
	byActor := map[string][]*call{}
	for _, c := range calls {
		if c.actor != "" && c.resolved && c.err == nil {
			byActor[c.actor] = append(byActor[c.actor], c)
		}
	}
	for id, cs := range byActor {
		type span struct {
			firstRecv, lastSub time.Time
			first, last        *call
			n                  int
		}
		inst := map[string]*span{}
		seen := map[[2]string]string{}
		slices.SortFunc(cs, func(a, b *call) int { return a.submitted.Compare(b.submitted) })
		lastVal := map[string]int{}
		peaks := map[string]int{} // instances over their max_concurrency
		for _, c := range cs {
			a := c.value.(Answer)
			s := inst[a.Instance]
			if s == nil {
				s = &span{firstRecv: c.received, first: c}
				inst[a.Instance] = s
			}
			s.n++
			if c.received.Before(s.firstRecv) {
				s.firstRecv, s.first = c.received, c
			}
			if c.submitted.After(s.lastSub) {
				s.lastSub, s.last = c.submitted, c
			}
			switch c.kind {
			case "counter":
				if a.Peak > 1 {
					peaks[a.Instance] = max(peaks[a.Instance], a.Peak)
				}
				// Calls of one counter are sequential, so submission order is call order.
				if prev, ok := lastVal[a.Instance]; ok && a.Value <= prev {
					r.violate("a plain actor's counter never goes backwards or forks", "actor %s instance %s: call %s answered %d after %d",
						id, a.Instance, c.id, a.Value, prev)
				}
				lastVal[a.Instance] = a.Value
				key := [2]string{a.Instance, strconv.Itoa(a.Value)}
				if other, dup := seen[key]; dup {
					r.violate("a plain actor's counter never goes backwards or forks", "actor %s instance %s answered %d to calls %s and %s",
						id, a.Instance, a.Value, other, c.id)
				}
				seen[key] = c.id
			case "async":
				if a.Peak > AsyncMaxConcurrency {
					peaks[a.Instance] = max(peaks[a.Instance], a.Peak)
				}
			}
		}
		for _, in := range slices.Sorted(maps.Keys(peaks)) {
			limit := 1
			if cs[0].kind == "async" {
				limit = AsyncMaxConcurrency
			}
			r.violate("actor concurrency within max_concurrency", "%s actor %s: instance %s ran up to %d calls at once, max_concurrency %d",
				cs[0].kind, id, in, peaks[in], limit)
		}
		// Instance A provably served before B when an answer of A was received before a call
		// answered by B was submitted. Both ways round means A and B served at once or took
		// turns: two live instances.
		names := slices.Sorted(maps.Keys(inst))
		for i, a := range names {
			for _, b := range names[i+1:] {
				sa, sb := inst[a], inst[b]
				if sa.firstRecv.Before(sb.lastSub) && sb.firstRecv.Before(sa.lastSub) {
					r.violate("each actor's answers come from one instance at a time",
						"actor %s: instances %s (%d answers) and %s (%d answers) interleave: %s answered %s (received %s) before %s (submitted %s) was answered by %s, and %s answered %s (received %s) before %s (submitted %s) was answered by %s",
						id, a, sa.n, b, sb.n,
						a, sa.first.id, ts(sa.firstRecv), sb.last.id, ts(sb.lastSub), b,
						b, sb.first.id, ts(sb.firstRecv), sa.last.id, ts(sa.lastSub), a)
				}
			}
		}
	}
}

// actorRecord describes actor id's record now (for a call's violation), "" for a task call.
func (r *chaos) actorRecord(id string) string {
	if id == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := r.c.JetStream().KeyValue(ctx, "jetray_actors")
	if err != nil {
		return fmt.Sprintf("; actor %s: %v", id, err)
	}
	e, err := kv.Get(ctx, "a."+id)
	if err != nil {
		return fmt.Sprintf("; actor %s: %v", id, err)
	}
	var rec map[string]any
	_ = json.Unmarshal(e.Value(), &rec)
	delete(rec, "input")
	return fmt.Sprintf("; actor %s record (revision %d): %s", id, e.Revision(), jsonOf(rec))
}

func ts(t time.Time) string { return t.Format("15:04:05.000") }

// checkStored reads every result stored for the driver's calls: one each, never two. It
// returns how many each call ID has (nil if the stream could not be read).
func (r *chaos) checkStored(calls []*call) map[string]int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := framework.ResultSubjectPrefix + r.c.ID() + "."
	cons, err := r.c.JetStream().OrderedConsumer(ctx, framework.ResultsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"},
		HeadersOnly:    true,
	})
	if err != nil {
		r.violate("one stored result per call", "cannot read the results stream: %v", err)
		return nil
	}
	info, err := cons.Info(ctx)
	if err != nil {
		r.violate("one stored result per call", "cannot read the results stream: %v", err)
		return nil
	}
	count := map[string]int{}
	status := map[string][]string{}
	for left := info.NumPending; left > 0; {
		batch, err := cons.Fetch(int(min(left, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			r.violate("one stored result per call", "reading results: %v", err)
			return nil
		}
		got := 0
		for m := range batch.Messages() {
			got++
			id := strings.TrimPrefix(m.Subject(), framework.ResultSubjectPrefix)
			count[id]++
			st := m.Headers().Get(framework.HeaderStatus)
			if w := m.Headers().Get(framework.HeaderWorker); w != "" {
				st += " from " + w
			}
			status[id] = append(status[id], st)
		}
		if batch.Error() != nil || got == 0 {
			r.violate("one stored result per call", "reading results: %v with %d left", batch.Error(), left)
			return nil
		}
		left -= uint64(got)
	}
	kinds := map[string]string{}
	for _, c := range calls {
		kinds[c.id] = c.kind
	}
	for id, n := range count {
		if n > 1 {
			r.violate("one stored result per call", "%s call %s has %d stored results: %s",
				cmp.Or(kinds[id], "untracked (actor creation?)"), id, n, strings.Join(status[id], "; "))
		}
	}
	return count
}

// checkReread reads every resolved call's result again from a fresh client and compares it
// with what the future gave. A call the future resolved from a stored result but that has
// none stored now (stored, when known) is reported without waiting for it; the whole pass
// is bounded by five minutes.
func (r *chaos) checkReread(calls []*call, stored map[string]int) {
	c3 := testsupport.Connect(r.t, r.url, framework.WithName("chaos-rereader"))
	defer c3.Close()
	work := make(chan *call)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range 8 {
		wg.Go(func() {
			for c := range work {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				msg, ok := r.compare(ctx, c3, c)
				cancel()
				switch {
				case !ok:
					mu.Lock()
					failed++
					mu.Unlock()
					r.violate("no result changes after it was read", "%s %s: no result readable at the end (Resolve failed or timed out)", c.kind, c.id)
				case msg != "":
					r.violate("no result changes after it was read", "%s %s: %s", c.kind, c.id, msg)
				}
			}
		})
	}
	missing := map[string][]string{}
	skipped := 0
	deadline := time.Now().Add(5 * time.Minute)
	for _, c := range calls {
		var te *framework.TaskError
		switch {
		case !c.resolved, c.err != nil && !errors.As(c.err, &te):
			// unresolved, or failed in the driver: nothing stored to compare with
		case stored != nil && stored[c.id] == 0:
			missing[c.kind] = append(missing[c.kind], c.id)
		case time.Now().After(deadline):
			skipped++
		default:
			work <- c
		}
	}
	close(work)
	wg.Wait()
	for _, k := range slices.Sorted(maps.Keys(missing)) {
		ids := missing[k]
		r.violate("no result changes after it was read", "%d %s calls resolved but have no stored result now (e.g. %s)",
			len(ids), k, strings.Join(ids[:min(len(ids), 5)], ", "))
	}
	if skipped > 0 {
		r.violate("no result changes after it was read", "%d calls not read again: the pass took over 5 minutes", skipped)
	}
}

// checkConsumers expects at most one durable consumer per live actor on JETRAY_ACTORS (an
// actor's consumer of an earlier epoch must be gone), then kills every actor and expects
// JETRAY_ACTORS to be left with the consumers it had before any actor was created.
func (r *chaos) checkConsumers(baseline []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var durable []string
	for _, n := range r.actorConsumers() {
		if slices.Contains(baseline, n) {
			continue
		}
		if c, err := r.c.JetStream().Consumer(ctx, framework.ActorsStream, n); err == nil && c.CachedInfo().Config.Durable != "" {
			durable = append(durable, n)
		}
	}
	if live := len(r.counters) + len(r.asyncs); len(durable) > live {
		r.violate("no consumer leak", "JETRAY_ACTORS has %d durable consumers for %d live actors: %s", len(durable), live, r.describeConsumers(durable))
	}
	var hs []actors.Ref
	for _, h := range r.counters {
		hs = append(hs, h)
	}
	for _, h := range r.asyncs {
		hs = append(hs, h)
	}
	for _, h := range hs {
		if err := actors.Kill(ctx, h); err != nil {
			r.violate("no consumer leak", "Kill: %v", err)
		}
	}
	var left []string
	ok := testsupport.Poll(30*time.Second, func() bool {
		left = left[:0]
		for _, n := range r.actorConsumers() {
			if !slices.Contains(baseline, n) {
				left = append(left, n)
			}
		}
		return len(left) == 0
	})
	if !ok {
		r.violate("no consumer leak", "JETRAY_ACTORS still has %d consumers 30s after every actor was killed (before any actor: %v): %s",
			len(left), baseline, r.describeConsumers(left))
	}
}

// describeConsumers names each JETRAY_ACTORS consumer with its filter, creation time and
// pending counts.
func (r *chaos) describeConsumers(names []string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	for _, n := range names {
		ci, err := r.c.JetStream().Consumer(ctx, framework.ActorsStream, n)
		if err != nil {
			out = append(out, n+": "+err.Error())
			continue
		}
		info := ci.CachedInfo()
		kind := "durable " + info.Config.Durable
		if info.Config.Durable == "" {
			kind = fmt.Sprintf("ephemeral, inactive threshold %v", info.Config.InactiveThreshold)
		}
		filter := cmp.Or(info.Config.FilterSubject, strings.Join(info.Config.FilterSubjects, ","))
		out = append(out, fmt.Sprintf("%s (%s; filter %s; created %s; pending %d, ack pending %d)",
			n, kind, filter, ts(info.Created), info.NumPending, info.NumAckPending))
	}
	return strings.Join(out, "; ")
}

// saveLogs writes the summary, every violation and each process's output to a directory
// that outlives the test, and returns its path.
func (r *chaos) saveLogs(summary string) string {
	dir, err := os.MkdirTemp("", fmt.Sprintf("jetray-chaos-%d-*", r.seed))
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(summary)
	for _, inv := range slices.Sorted(maps.Keys(r.viol)) {
		for _, v := range r.viol[inv] {
			fmt.Fprintf(&b, "\n%s: %s\n", inv, v)
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "violations.txt"), []byte(b.String()), 0o644)
	for _, p := range append(slices.Clone(r.servers), r.procs...) {
		_ = os.WriteFile(filepath.Join(dir, p.Name+".log"), []byte(p.Stderr.String()), 0o644)
	}
	return dir
}

// scanWorkerLogs reports data races and panics in the worker processes.
func (r *chaos) scanWorkerLogs() {
	for _, p := range r.procs {
		s := p.Stderr.String()
		if i := strings.Index(s, "WARNING: DATA RACE"); i >= 0 {
			r.violate("no data race or panic in a worker", "%s:\n%s", p.Name, s[i:min(len(s), i+3000)])
		}
		if i := strings.Index(s, "\npanic: "); i >= 0 {
			r.violate("no data race or panic in a worker", "%s:\n%s", p.Name, s[i:min(len(s), i+3000)])
		}
	}
}

// summary prints the tables and fails the test once per violation (details capped).
func (r *chaos) summary(perKind int) {
	t := r.t
	var b strings.Builder
	fmt.Fprintf(&b, "\nchaos run: CHAOS_SEED=%d, %d faults, lease %v\n\n", r.seed, len(r.faults), r.lease)
	fmt.Fprintf(&b, "| fault | injected |\n|---|---:|\n")
	counts := map[string]int{}
	for _, f := range r.faults {
		counts[f.kind]++
	}
	for _, k := range append(slices.Clone(faultKinds), fHandover) {
		fmt.Fprintf(&b, "| %s | %d |\n", k, counts[k])
		want := perKind
		if k == fHandover {
			want = max(1, perKind-1)
		}
		if counts[k] < want {
			t.Errorf("harness: fault %s injected %d times, want %d", k, counts[k], want)
		}
	}
	landed := false
	for _, h := range r.handovers {
		fmt.Fprintf(&b, "  hand-over: %s\n", h)
		landed = landed || strings.Contains(h, "receiving actor")
	}
	if !landed {
		fmt.Fprintf(&b, "  no SIGKILL was seen to land on a worker receiving actors (blind hand-over faults only)\n")
	}

	type row struct {
		submitted, ok, unresolved int
		failed                    map[string]int
		took                      []time.Duration // submit to resolution, resolved calls
	}
	rows := map[string]*row{}
	order := []string{"task", "ref", "from", "put", "counter", "async"}
	for _, k := range order {
		rows[k] = &row{failed: map[string]int{}}
	}
	for _, c := range r.calls {
		w := rows[c.kind]
		w.submitted++
		switch {
		case !c.resolved:
			w.unresolved++
		case c.err == nil:
			w.ok++
		default:
			w.failed[errKind(c.err)]++
		}
		if c.resolved {
			w.took = append(w.took, c.received.Sub(c.submitted))
		}
	}
	fmt.Fprintf(&b, "\n| calls | submitted | ok | failed (by kind) | unresolved | p50 | p99 | max |\n|---|---:|---:|---|---:|---:|---:|---:|\n")
	for _, k := range order {
		w := rows[k]
		var fs []string
		for _, e := range slices.Sorted(maps.Keys(w.failed)) {
			fs = append(fs, fmt.Sprintf("%s %d", e, w.failed[e]))
		}
		slices.Sort(w.took)
		q := func(p float64) time.Duration {
			if len(w.took) == 0 {
				return 0
			}
			return w.took[min(len(w.took)-1, int(p*float64(len(w.took))))].Round(time.Millisecond)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %d | %v | %v | %v |\n", k, w.submitted, w.ok, cmp.Or(strings.Join(fs, ", "), "0"), w.unresolved,
			q(0.5), q(0.99), q(1))
	}
	fmt.Fprintf(&b, "\nresults read again by a second client during the run: %d\n", r.recheckOK)

	invariants := []string{
		"every future resolves",
		"no error but those allowed",
		"results are right",
		"one stored result per call",
		"no result changes after it was read",
		"each actor's answers come from one instance at a time",
		"a plain actor's counter never goes backwards or forks",
		"actor concurrency within max_concurrency",
		"task slots never exceeded",
		"actor creation succeeds",
		"no consumer leak",
		"no goroutine leak in the driver",
		"workers start and keep running",
		"graceful stop ends",
		"no data race or panic in a worker",
	}
	fmt.Fprintf(&b, "\n| invariant | violations |\n|---|---:|\n")
	for _, inv := range invariants {
		fmt.Fprintf(&b, "| %s | %d |\n", inv, len(r.viol[inv]))
	}
	for inv := range r.viol {
		if !slices.Contains(invariants, inv) {
			fmt.Fprintf(&b, "| %s | %d |\n", inv, len(r.viol[inv]))
		}
	}
	t.Log(b.String())
	for _, inv := range slices.Sorted(maps.Keys(r.viol)) {
		vs := r.viol[inv]
		for _, v := range vs[:min(len(vs), 8)] {
			t.Errorf("%s: %s", inv, v)
		}
		if len(vs) > 8 {
			t.Errorf("%s: ... %d violations in all", inv, len(vs))
		}
	}
	if t.Failed() {
		t.Logf("replay with CHAOS_SEED=%d CHAOS_TIME=%s; logs and every violation in %s", r.seed, os.Getenv("CHAOS_TIME"), r.saveLogs(b.String()))
	}
}
