package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/internal/lease"
	"github.com/jetray/jetray/internal/wire"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Handler runs one call and returns its encoded output. Tasks are bound to workers through
// handlers; use it directly to serve a name without Go types (a bridge to another language).
type Handler func(ctx context.Context, call *Call) ([]byte, error)

// Definition is something a Worker serves: a *Task or an actor class (*actors.Class).
type Definition interface {
	// Name is the definition's wire name.
	Name() string
	// Bind installs the definition's handlers on w; Worker.Register calls it.
	Bind(w *Worker) error
}

// Worker executes the calls of the definitions registered on it. Create it with NewWorker,
// Register definitions, then Run it. A worker never stops because of one bad call: undecodable
// input, an unknown codec, a panic or a malformed message fails that call only.
type Worker struct {
	c   *Client
	cfg workerConfig
	js  jetstream.JetStream // result publishes; its async handlers belong to the worker
	log zerolog.Logger
	bg  background // result retries and clean-ups; Run waits for them before it returns

	mu        sync.Mutex
	handlers  map[string]Handler
	consumers map[string]*taskPuller        // by consumer name
	taskCons  map[string]jetstream.Consumer // task consumers served, for their AckWait
	ackWaits  map[string]time.Duration      // last known AckWait of each task consumer
	running   bool
	stopping  bool
	hooksMu   sync.Mutex
	hooks     []func(ctx context.Context) error // extra components started by Run (actors)
	extMu     sync.Mutex
	ext       map[any]*extValue
	ls        *lease.Lease // written by the liveness loop only
	stopHooks []func()

	queue       chan *delivery // normal priority: the default routes and labelled ones
	queueHigh   chan *delivery // high priority routes (routes.go); runners take these first
	queueLow    chan *delivery // low priority routes; runners take these last
	queueMu     sync.RWMutex   // held for reading while sending on a queue
	queueClosed bool
	stopCh      chan struct{}
	runners     sync.WaitGroup // runners, including those lent while a call blocks
	// slots holds one token per task call allowed to run: a runner holds one while it runs
	// calls, a call blocked awaiting other work gives its token up (lend) and takes one back
	// before it continues. Sending takes a token, receiving gives one back.
	slots   chan struct{}
	handoff chan struct{} // an idle runner gives its token to a call that stopped waiting

	handBacks   sync.WaitGroup // handBackUnstartedAsync goroutines
	handBackSem chan struct{}

	hbPeriod atomic.Int64  // heartbeat period in ns: min(AckWait of cfg and consumers)/3
	hbReset  chan struct{} // wakes the heartbeat when hbPeriod shrinks

	owners sync.Map // *nats.Msg (a result in flight) -> *delivery
	cw     *cancelWatch

	heldMu sync.Mutex
	held   map[*delivery]struct{}

	taskCtx    context.Context // parent of call contexts; cancelled after the drain deadline
	taskCancel context.CancelFunc
	inflight   atomic.Int64

	routes      routeState      // guarded by mu
	routeCtx    context.Context // the route watch and pullers stop when it ends (stopIntake)
	routeCancel context.CancelFunc
	routeWG     sync.WaitGroup // route pullers, joined by stopIntake
	watchWG     sync.WaitGroup // the route watch, joined at the end of Run
	pool        *resourcePool  // WithResources: what the calls and actors running here hold
}

// delivery is one message held by the worker, from receipt to ack, nak or term.
type delivery struct {
	msg  jetstream.Msg
	h    Handler
	name string
	lost error // the error of a call whose workers were all lost (nil: ErrWorkerLost)
	// set by the runner
	state       atomic.Int32 // stateQueued, stateRunning, stateFinishing or stateAbandoned
	slot        bool         // runs in a task slot (not an actor call)
	grant       *grant       // resources the call holds (routes with a placement); nil: none
	call        *Call
	tries       int            // result publish tries
	inputObject string         // object holding the input, deleted once the result is stored
	deadlines   wire.Deadlines // the call's deadlines (deadline_worker.go)
	events      taskRun        // task state recording (events.go)

	// slot lending (the block hook, block): goroutines of the call blocked awaiting other
	// work, and the stop of the runner lent meanwhile.
	blockMu  sync.Mutex
	blocked  int
	finished bool // the call returned: its goroutines lend no more
	lendStop chan struct{}
}

const (
	stateQueued int32 = iota
	stateRunning
	stateFinishing
	stateAbandoned
)

// NewWorker returns a worker serving with client c.
func NewWorker(c *Client, opts ...WorkerOption) *Worker {
	host, _ := os.Hostname()
	cfg := workerConfig{
		concurrency:  runtime.NumCPU(),
		ackWait:      6 * time.Second,
		drainTimeout: 30 * time.Second,
		name:         fmt.Sprintf("%s.%d.%s", host, os.Getpid(), c.id[:4]),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.prefetch == 0 {
		cfg.prefetch = max(cfg.concurrency, 32)
	}
	w := &Worker{c: c, cfg: cfg, handlers: map[string]Handler{}, consumers: map[string]*taskPuller{},
		taskCons: map[string]jetstream.Consumer{}, ackWaits: map[string]time.Duration{}, held: map[*delivery]struct{}{}, hbReset: make(chan struct{}, 1),
		handBackSem: make(chan struct{}, maxParallelHandBacks), ls: lease.New(LivenessTTL),
		routes: routeState{known: map[string]wire.RouteEntry{}, on: map[string]bool{}}, pool: newResourcePool(cfg.resources)}
	w.hbPeriod.Store(int64(cfg.ackWait / 3))
	if cfg.log != nil {
		w.log = cfg.log.With().Str("worker", cfg.name).Logger()
	} else {
		w.log = c.log.With().Str("worker", cfg.name).Logger()
	}
	js, err := jetstream.New(c.nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(10*time.Second),
		jetstream.WithPublishAsyncAckHandler(w.onResultAck),
		jetstream.WithPublishAsyncErrHandler(w.onResultError),
		jetstream.WithDefaultTimeout(c.cfg.callTimeout),
	)
	if err != nil { // only invalid options fail here
		panic(fmt.Sprintf("jetray: worker jetstream: %v", err))
	}
	w.js = js
	w.cw = newCancelWatch(w)
	return w
}

// extValue is one value of Worker.extension, made once.
type extValue struct {
	once sync.Once
	v    any
}

// extension returns the per-worker value stored under key, creating it with init on first
// use; concurrent first uses wait for one init. init may itself call extension with other
// keys (not with key). Runtimes built on the worker (actor hosts) keep their state here.
func (w *Worker) extension(key any, init func() any) any {
	w.extMu.Lock()
	e, ok := w.ext[key]
	if !ok {
		if w.ext == nil {
			w.ext = map[any]*extValue{}
		}
		e = &extValue{}
		w.ext[key] = e
	}
	w.extMu.Unlock()
	e.once.Do(func() { e.v = init() })
	return e.v
}

// AckWait returns the worker's configured AckWait (see WithAckWait), which consumers created
// for this worker's actors use. Default 6 s.
func (w *Worker) AckWait() time.Duration { return w.cfg.ackWait }

// Name returns the worker's name.
func (w *Worker) Name() string { return w.cfg.name }

// Client returns the client the worker serves with.
func (w *Worker) Client() *Client { return w.c }

// Logger returns the worker's logger.
func (w *Worker) Logger() zerolog.Logger { return w.log }

// Register adds definitions to the worker and records their names in the registry, so that
// clients accept calls to them. It may be called before or while Run runs. Errors: an invalid
// or duplicate name (ErrInvalidName, ErrDuplicateName), or the registry cannot be written.
func (w *Worker) Register(defs ...Definition) error {
	for _, d := range defs {
		if err := d.Bind(w); err != nil {
			return fmt.Errorf("jetray: register %s: %w", d.Name(), err)
		}
	}
	return nil
}

// RegisterHandler serves name with h: the low-level form of Register, for calls without Go
// types (a bridge to another language). Errors as for Register.
func (w *Worker) RegisterHandler(name string, h Handler) error {
	return w.handle(name, wire.RegistryKindTask, h)
}

// Handle is RegisterHandler.
//
// Deprecated: use RegisterHandler.
func (w *Worker) Handle(name string, h Handler) error {
	return w.handle(name, wire.RegistryKindTask, h)
}

// handle serves name with h and records it in the registry as kind ("task", or "actor" for
// an actor class's creation calls).
func (w *Worker) handle(name, kind string, h Handler) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if w.cfg.optErr != nil {
		return w.cfg.optErr
	}
	w.mu.Lock()
	if _, dup := w.handlers[name]; dup {
		w.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrDuplicateName, name)
	}
	w.handlers[name] = h
	running := w.running && !w.stopping
	w.mu.Unlock()
	if err := w.registerName(name, kind); err != nil {
		return err
	}
	if running {
		if err := w.startConsumer(context.Background(), name, h); err != nil {
			return err
		}
		w.startKnownRoutes(name, h)
	}
	return nil
}

// registerName records name in the registry bucket so clients accept calls to it; kind says
// what it is ("task", "actor"). The entry keeps the shapes (labels and capacities) of every
// worker that registered the name: this worker merges its own in by compare-and-swap on the
// entry's revision, so concurrent registrations lose none.
func (w *Worker) registerName(name, kind string) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.c.cfg.callTimeout)
	defer cancel()
	key := wire.RegistryKey(name)
	now := time.Now()
	for {
		entry := wire.NewRegistryEntry(name, kind, w.cfg.name, now)
		var rev uint64
		e, err := w.c.registry.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("jetray: registry get %q: %w", name, err)
		default:
			rev = e.Revision()
			var old wire.RegistryEntry
			if json.Unmarshal(e.Value(), &old) == nil {
				entry.Shapes = old.Shapes
			}
		}
		if len(w.cfg.labels) > 0 || len(w.cfg.resources) > 0 {
			entry.Shapes = wire.AddShape(entry.Shapes, wire.WorkerShape{Labels: w.cfg.labels,
				Capacity: w.cfg.resources, Worker: w.cfg.name, At: entry.At})
		}
		val, _ := json.Marshal(entry)
		if rev == 0 {
			_, err = w.c.registry.Create(ctx, key, val)
		} else {
			_, err = w.c.registry.Update(ctx, key, val, rev)
		}
		if err == nil {
			break
		}
		if !isConflictErr(err) || ctx.Err() != nil {
			return fmt.Errorf("jetray: registry put %q: %w", name, err)
		}
	}
	w.c.known.Store(name, struct{}{})
	return nil
}

// onRun adds a component that Run starts in its own goroutine with Run's ctx and waits for
// before returning; actors use it. Must be called before Run.
func (w *Worker) onRun(run func(ctx context.Context) error) {
	w.hooksMu.Lock()
	w.hooks = append(w.hooks, run)
	w.hooksMu.Unlock()
}

// Run serves the registered definitions until ctx ends, then shuts down in this order: stop
// taking calls, hand queued calls that have not started back to the broker, let running calls
// finish (up to WithDrainTimeout, then cancel them and hand them back), wait for their results
// to be stored, ack, and return. It returns nil after a clean shutdown; an error when a
// consumer cannot be created, when Run is already running, or when calls were still running
// at the drain deadline. Whatever it returns, the goroutines it started have ended, except
// those of calls that ignored cancellation past the drain deadline (they end when their code
// returns). Runtimes built on the worker (the actor host, which hands its actors over) get the
// drain timeout and 30 s more to finish.
//
// Run composes the worker's components (one file each) in this order. Start: the hand-backs
// bucket (handback.go), the cancel watch (cancel.go), the intake (intake.go: one consumer per
// served name; routes.go: the route watch, then a consumer per route it may serve), the
// runners (runners.go), then the heartbeat (held.go), the RUNNING-event sweep (events.go),
// the AckWait refresh (intake.go), the lease (liveness.go) and the runtimes built on the
// worker (the actor host). Stop, once ctx ends: the intake (routes first), then the queues
// close, the runners and runtimes drain (up to the drain timeout), held calls settle (their
// results are published by publish.go and acked), hand-backs end, and last the heartbeat,
// RUNNING-event sweep, AckWait refresh and lease, so the worker is seen alive until it holds
// nothing.
func (w *Worker) Run(ctx context.Context) error {
	if w.cfg.optErr != nil {
		return w.cfg.optErr
	}
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("jetray: worker already running")
	}
	w.running, w.stopping = true, false
	w.queue = make(chan *delivery, w.cfg.concurrency)
	w.queueHigh = make(chan *delivery, w.cfg.concurrency)
	w.queueLow = make(chan *delivery, w.cfg.concurrency)
	w.routeCtx, w.routeCancel = context.WithCancel(context.Background())
	clear(w.routes.on)
	w.slots = make(chan struct{}, w.cfg.concurrency)
	w.handoff = make(chan struct{})
	w.queueClosed = false
	w.stopCh = make(chan struct{})
	w.taskCtx, w.taskCancel = context.WithCancel(context.Background())
	clear(w.taskCons)
	clear(w.ackWaits)
	w.hbPeriod.Store(int64(w.cfg.ackWait / 3))
	handlers := make(map[string]Handler, len(w.handlers))
	for n, h := range w.handlers {
		handlers[n] = h
	}
	taskCancel := w.taskCancel
	w.mu.Unlock()
	w.hooksMu.Lock()
	hooks := w.hooks
	w.hooksMu.Unlock()
	w.bg.reopen()
	defer func() {
		taskCancel() // on every path: it also ends the cancel watcher
		w.cw.wait(5 * time.Second)
		if !w.bg.stop(10 * time.Second) {
			w.log.Warn().Msg("result retries still running after the worker stopped")
		}
		w.mu.Lock()
		w.running = false
		w.mu.Unlock()
	}()

	if _, err := w.c.handbacksBucket(ctx); err != nil {
		w.log.Warn().Err(err).Msg("hand-backs bucket unavailable: calls handed back at shutdown will count as attempts")
	}
	if err := w.cw.start(w.taskCtx); err != nil {
		return err
	}
	for n, h := range handlers {
		if err := w.startConsumer(ctx, n, h); err != nil {
			w.stopIntake()
			w.handBacks.Wait()
			return err
		}
	}
	w.startRouteWatch()
	runners := &w.runners
	for range w.cfg.concurrency {
		runners.Go(func() { w.runCalls(nil) })
	}
	var bg sync.WaitGroup // heartbeat, AckWait refresh, liveness
	bgDone := make(chan struct{})
	leaseCtx, leaseStop := context.WithCancel(context.Background()) // ends a renewal under way
	defer leaseStop()
	bg.Go(func() { w.heartbeat(bgDone) })
	if !w.cfg.noTaskEvents {
		bg.Go(func() { w.runningEvents(bgDone) })
	}
	bg.Go(func() { w.refreshAckWait(bgDone) })
	bg.Go(func() { w.liveness(leaseCtx) })
	var hookWG sync.WaitGroup
	hookErrs := make(chan error, len(hooks))
	for _, h := range hooks {
		hookWG.Go(func() {
			if err := h(ctx); err != nil {
				hookErrs <- err
			}
		})
	}
	w.log.Info().Int("concurrency", w.cfg.concurrency).Int("names", len(handlers)).Msg("worker running")

	<-ctx.Done()
	w.log.Info().Msg("worker draining")
	w.stopIntake()
	w.queueMu.Lock() // stopCh is closed: senders leave at once
	w.queueClosed = true
	close(w.queue)
	close(w.queueHigh)
	close(w.queueLow)
	w.queueMu.Unlock()
	var err error
	drained := make(chan struct{})
	hooksDone := make(chan struct{})
	go func() { hookWG.Wait(); close(hooksDone) }()
	go func() { runners.Wait(); <-hooksDone; close(drained) }()
	select {
	case <-drained:
	case <-time.After(w.cfg.drainTimeout):
		err = fmt.Errorf("jetray: worker drain timeout %s: %d calls cancelled and handed back", w.cfg.drainTimeout, w.inflight.Load())
		w.taskCancel()
		select {
		case <-drained:
		case <-time.After(2 * time.Second):
			// Calls that ignore their ctx: hand them back now; their goroutines end when
			// the user code returns, and their results are then dropped.
			w.abandonRunning()
		}
	}
	w.taskCancel()
	if !waitClosed(hooksDone, 30*time.Second) { // the actor host hands its actors over meanwhile
		w.log.Warn().Msg("components still stopping after the drain deadline")
	}
	w.waitHeld(10 * time.Second)
	w.handBacks.Wait() // intake and runners have ended: no new ones; each is bounded by 2 s
	close(bgDone)
	leaseStop()
	bg.Wait()
	w.watchWG.Wait() // cancelled with the intake; its consumer delete may wait for the broker
	_ = w.c.nc.FlushTimeout(5 * time.Second)
	select {
	case herr := <-hookErrs:
		err = errors.Join(err, herr)
	default:
	}
	w.log.Info().Err(err).Msg("worker stopped")
	return err
}

// waitClosed waits up to d for ch to close.
func waitClosed(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}
