package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

// WorkerOption configures a Worker.
type WorkerOption func(*workerConfig)

type workerConfig struct {
	concurrency  int
	prefetch     int
	ackWait      time.Duration
	drainTimeout time.Duration
	name         string
	log          *zerolog.Logger
	metrics      *Metrics
	noTaskEvents bool // WithTaskEvents(false)
}

// WithConcurrency sets the task slots of the worker: how many task calls run at once.
// Default runtime.NumCPU(). Values below 1 mean 1. Actor calls do not use task slots.
func WithConcurrency(n int) WorkerOption {
	return func(c *workerConfig) { c.concurrency = max(n, 1) }
}

// WithPrefetch sets how many calls per task name the worker asks the broker for at a time.
// Calls it has received wait in a queue of WithConcurrency places, kept alive with progress
// reports; calls beyond that wait in the client's buffer, where their AckWait runs. Default
// max(concurrency, 32): a larger prefetch raises throughput of short calls, a smaller one
// spreads long calls more evenly over workers. Values below 1 mean 1.
func WithPrefetch(n int) WorkerOption { return func(c *workerConfig) { c.prefetch = max(n, 1) } }

// WithAckWait sets how long the broker waits for a sign of life on a delivered call before
// giving it to another worker, for the task consumers this worker creates (a consumer that
// exists already keeps its AckWait, whoever set it). The worker sends progress for calls it
// holds every third of the smallest AckWait among this value and the consumers it serves, read
// from the broker at start and every 10 s, so long calls are fine. Default 6 s; minimum 1 s.
func WithAckWait(d time.Duration) WorkerOption {
	return func(c *workerConfig) { c.ackWait = max(d, time.Second) }
}

// WithDrainTimeout bounds how long Run waits, after its ctx ends, for running calls to
// finish; then their contexts are cancelled and they are handed back to the broker for
// another worker. Default 30 s.
func WithDrainTimeout(d time.Duration) WorkerOption {
	return func(c *workerConfig) { c.drainTimeout = d }
}

// WithWorkerName names the worker in logs, results and the registry. Default host.pid.
func WithWorkerName(name string) WorkerOption { return func(c *workerConfig) { c.name = name } }

// WithWorkerLogger sets the worker's logger. Default: the client's logger.
func WithWorkerLogger(l zerolog.Logger) WorkerOption { return func(c *workerConfig) { c.log = &l } }

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
	consumers map[string]jetstream.ConsumeContext
	taskCons  map[string]jetstream.Consumer // task consumers served, for their AckWait
	ackWaits  map[string]time.Duration      // last known AckWait of each task consumer
	running   bool
	stopping  bool
	hooksMu   sync.Mutex
	hooks     []func(ctx context.Context) error // extra components started by Run (actors)
	extMu     sync.Mutex
	ext       map[any]*extension
	stopHooks []func()

	queue       chan *delivery
	queueMu     sync.RWMutex // held for reading while sending on queue
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
}

// delivery is one message held by the worker, from receipt to ack, nak or term.
type delivery struct {
	msg  jetstream.Msg
	h    Handler
	name string
	// set by the runner
	state       atomic.Int32 // stateQueued, stateRunning, stateFinishing or stateAbandoned
	slot        bool         // runs in a task slot (not an actor call)
	call        *Call
	tries       int     // result publish tries
	inputObject string  // object holding the input, deleted once the result is stored
	events      taskRun // task state recording (events.go)

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
	w := &Worker{c: c, cfg: cfg, handlers: map[string]Handler{}, consumers: map[string]jetstream.ConsumeContext{},
		taskCons: map[string]jetstream.Consumer{}, ackWaits: map[string]time.Duration{}, held: map[*delivery]struct{}{}, hbReset: make(chan struct{}, 1),
		handBackSem: make(chan struct{}, maxParallelHandBacks)}
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

// extension is one value of Worker.Extension, made once.
type extension struct {
	once sync.Once
	v    any
}

// Extension returns the per-worker value stored under key, creating it with init on first
// use; concurrent first uses wait for one init. init may itself call Extension with other
// keys (not with key). Runtimes built on the worker (actor hosts) keep their state here.
func (w *Worker) Extension(key any, init func() any) any {
	w.extMu.Lock()
	e, ok := w.ext[key]
	if !ok {
		if w.ext == nil {
			w.ext = map[any]*extension{}
		}
		e = &extension{}
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

// Handle serves name with h: the low-level form of Register. Errors as for Register.
func (w *Worker) Handle(name string, h Handler) error {
	if err := ValidName(name); err != nil {
		return err
	}
	w.mu.Lock()
	if _, dup := w.handlers[name]; dup {
		w.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrDuplicateName, name)
	}
	w.handlers[name] = h
	running := w.running && !w.stopping
	w.mu.Unlock()
	kind := "task"
	if strings.HasPrefix(name, "_actor_") {
		kind = "actor" // an actor class's creation calls
	}
	if err := w.RegisterName(name, kind); err != nil {
		return err
	}
	if running {
		return w.startConsumer(context.Background(), name, h)
	}
	return nil
}

// RegisterName records name in the registry bucket so clients accept calls to it; kind says
// what it is ("task" for everything Handle serves). Handle calls it.
func (w *Worker) RegisterName(name, kind string) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.c.cfg.callTimeout)
	defer cancel()
	val, _ := json.Marshal(map[string]string{"name": name, "kind": kind, "worker": w.cfg.name,
		"at": time.Now().UTC().Format(time.RFC3339)})
	if _, err := w.c.registry.Put(ctx, registryKey(name), val); err != nil {
		return fmt.Errorf("jetray: registry put %q: %w", name, err)
	}
	w.c.known.Store(name, struct{}{})
	return nil
}

// OnRun adds a component that Run starts in its own goroutine with Run's ctx and waits for
// before returning; actors use it. Must be called before Run.
func (w *Worker) OnRun(run func(ctx context.Context) error) {
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
// returns). Components added with OnRun (the actor host's hand-over) get the drain timeout
// and 30 s more to finish.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("jetray: worker already running")
	}
	w.running, w.stopping = true, false
	w.queue = make(chan *delivery, w.cfg.concurrency)
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
	runners := &w.runners
	for range w.cfg.concurrency {
		runners.Go(func() { w.runCalls(nil) })
	}
	var bg sync.WaitGroup // heartbeat, AckWait refresh, liveness
	bgDone := make(chan struct{})
	bg.Go(func() { w.heartbeat(bgDone) })
	bg.Go(func() { w.refreshAckWait(bgDone) })
	bg.Go(func() { w.liveness(bgDone) })
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
	bg.Wait()
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

// DrainTimeout returns how long Run lets running calls finish after its ctx ends (see
// WithDrainTimeout). Components started with OnRun bound their own shutdown by it.
func (w *Worker) DrainTimeout() time.Duration { return w.cfg.drainTimeout }

// startConsumer opens the durable consumer for name, creating it if absent, and starts
// consuming. An existing consumer keeps its AckWait, whoever set it: the heartbeat follows it.
func (w *Worker) startConsumer(ctx context.Context, name string, h Handler) error {
	cons, err := w.taskConsumer(ctx, name)
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { w.receive(m, h, name) },
		jetstream.PullMaxMessages(w.cfg.prefetch),
		// Heartbeats every 2 s (default: 15 s) so that a pull lost with its consumer leader (a
		// cluster node gone) is noticed and re-issued within 4 s, not 30 s.
		jetstream.PullHeartbeat(2*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			w.log.Debug().Err(err).Str("task", name).Msg("consume")
		}))
	if err != nil {
		return fmt.Errorf("jetray: consume %s: %w", name, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		cc.Stop()
		return nil
	}
	w.consumers[name] = cc
	w.taskCons[name] = cons
	w.setAckWait(name, cons.CachedInfo().Config.AckWait)
	return nil
}

// taskConsumer returns the durable consumer task-<name>, created with this worker's settings
// if absent. An existing one is used as it is, except for settings the worker needs (filter,
// MaxAckPending, MaxDeliver), which are updated; its AckWait is never changed, since other
// workers heartbeat for their calls of that consumer.
func (w *Worker) taskConsumer(ctx context.Context, name string) (jetstream.Consumer, error) {
	cctx, cancel := w.c.apiContext(ctx)
	defer cancel()
	want := jetstream.ConsumerConfig{
		Durable:       taskConsumerName(name),
		Description:   "jetray task " + name,
		FilterSubject: TaskSubject(name),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.ackWait,
		MaxAckPending: 65536,
		MaxDeliver:    -1,
	}
	cons, err := w.c.js.Consumer(cctx, TasksStream, want.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = w.c.js.CreateConsumer(cctx, TasksStream, want)
		if errors.Is(err, jetstream.ErrConsumerExists) { // another worker created it meanwhile
			cons, err = w.c.js.Consumer(cctx, TasksStream, want.Durable)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jetray: consumer for %s: %w", name, err)
	}
	cfg := cons.CachedInfo().Config
	if cfg.FilterSubject != want.FilterSubject || len(cfg.FilterSubjects) > 0 ||
		cfg.MaxAckPending != want.MaxAckPending || cfg.MaxDeliver != want.MaxDeliver {
		cfg.FilterSubject, cfg.FilterSubjects = want.FilterSubject, nil
		cfg.MaxAckPending, cfg.MaxDeliver = want.MaxAckPending, want.MaxDeliver
		if cons, err = w.c.js.UpdateConsumer(cctx, TasksStream, cfg); err != nil {
			return nil, fmt.Errorf("jetray: update consumer for %s: %w", name, err)
		}
	}
	if aw := cons.CachedInfo().Config.AckWait; aw != w.cfg.ackWait {
		w.log.Info().Str("task", name).Dur("consumer_ack_wait", aw).Dur("ack_wait", w.cfg.ackWait).
			Msg("task consumer exists with another AckWait; heartbeats follow the consumer's")
	}
	return cons, nil
}

// ackWaitRefresh is how often a running worker rereads the AckWait of its task consumers, in
// case an operator changed one. A variable for tests.
var ackWaitRefresh = 10 * time.Second

// setAckWait records the AckWait of consumer name and sets the heartbeat period to a third of
// the smallest AckWait among the worker's own and its task consumers'. Called with w.mu held.
func (w *Worker) setAckWait(name string, ackWait time.Duration) {
	if ackWait > 0 {
		w.ackWaits[name] = ackWait
	}
	p := w.cfg.ackWait
	for n, aw := range w.ackWaits {
		if _, ok := w.taskCons[n]; ok {
			p = min(p, aw)
		}
	}
	p /= 3
	if old := time.Duration(w.hbPeriod.Swap(int64(p))); p < old {
		w.log.Debug().Str("task", name).Dur("period", p).Msg("heartbeat period follows a consumer's AckWait")
		select {
		case w.hbReset <- struct{}{}:
		default:
		}
	}
}

// refreshAckWait rereads the AckWait of every task consumer served every ackWaitRefresh (an
// operator may change it) and adjusts the heartbeat period, until done closes. A consumer
// whose info cannot be read keeps its last known AckWait.
func (w *Worker) refreshAckWait(done <-chan struct{}) {
	t := time.NewTicker(ackWaitRefresh)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		w.mu.Lock()
		cons := make(map[string]jetstream.Consumer, len(w.taskCons))
		for n, c := range w.taskCons {
			cons[n] = c
		}
		w.mu.Unlock()
		for n, c := range cons {
			ctx, cancel := context.WithTimeout(context.Background(), min(w.c.cfg.callTimeout, ackWaitRefresh))
			info, err := c.Info(ctx)
			cancel()
			if err != nil {
				w.log.Debug().Err(err).Str("task", n).Msg("consumer info")
				continue
			}
			w.mu.Lock()
			w.setAckWait(n, info.Config.AckWait)
			w.mu.Unlock()
		}
	}
}

// receive is the consume handler: it holds the message (progress reports start) and queues it
// for a runner, blocking while the queue is full, which bounds what the worker pulls.
func (w *Worker) receive(m jetstream.Msg, h Handler, name string) {
	d := &delivery{msg: m, h: h, name: name}
	w.hold(d)
	w.queueMu.RLock()
	defer w.queueMu.RUnlock()
	if w.queueClosed {
		w.handBackUnstartedAsync(d)
		return
	}
	select {
	case w.queue <- d:
	case <-w.stopCh:
		w.handBackUnstartedAsync(d)
	}
}

// Serve runs one message of a consumer the caller owns (an actor's) through the worker's
// call path: headers checked, h run with panics caught, the result stored, then the message
// acked; progress is reported while it runs. It returns when h has returned; the ack follows
// once the broker has stored the result. It must be called while Run runs; otherwise the
// message is handed back (Nak) at once.
func (w *Worker) Serve(m jetstream.Msg, name string, h Handler) {
	d := &delivery{msg: m, h: h, name: name}
	w.hold(d)
	w.mu.Lock()
	ok := w.running && w.taskCtx != nil
	w.mu.Unlock()
	if !ok {
		w.handBackUnstarted(d)
		return
	}
	w.execute(d)
}

// stopIntake stops every consumer and waits until their handlers have returned.
func (w *Worker) stopIntake() {
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return
	}
	w.stopping = true
	close(w.stopCh)
	ccs := make([]jetstream.ConsumeContext, 0, len(w.consumers))
	for n, cc := range w.consumers {
		ccs = append(ccs, cc)
		delete(w.consumers, n)
	}
	w.mu.Unlock()
	for _, cc := range ccs {
		cc.Drain()
	}
	for _, cc := range ccs {
		select {
		case <-cc.Closed():
		case <-time.After(5 * time.Second):
			cc.Stop()
		}
	}
}

// runCalls is a runner: it takes a slot token, then runs calls from the queue one at a time
// until the queue closes or stop closes (a lent runner; nil for the regular ones). It keeps
// its token between calls, but gives it to a call that stops waiting (unblock) while it is
// idle, then takes another before it takes the next call. A call that blocks gives up the
// token it runs with and takes one back before it continues (block), so a runner holds a
// token whenever it runs a call that is not blocked.
func (w *Worker) runCalls(stop <-chan struct{}) {
	for {
		select {
		case w.slots <- struct{}{}:
		case <-stop:
			return
		}
	idle:
		for {
			select {
			case d, ok := <-w.queue:
				if !ok {
					<-w.slots
					return
				}
				d.slot = true
				w.execute(d)
				d.settle(w)
				select {
				case <-stop:
					<-w.slots
					return
				default:
				}
			case w.handoff <- struct{}{}: // the token now belongs to an unblocked call
				break idle
			case <-stop:
				<-w.slots
				return
			}
		}
	}
}

// acquire takes a slot token for a call that stopped waiting: a free one, or one an idle
// runner hands over; it waits while every token is held by a running call.
func (w *Worker) acquire() {
	select {
	case w.slots <- struct{}{}:
	case <-w.handoff:
	}
}

// block is the block hook (futures.WithBlockHook) of a call run in a task slot: called when
// the call starts to wait on other work, it gives the call's slot token up and starts a lent
// runner, which runs calls from the queue with a token (so tasks waiting on tasks cannot take
// every slot). The func it returns, called when the wait ends, stops the lent runner (after
// the call it is running, if any) and takes a token back, waiting while every token is held
// by a running call: a call that stopped waiting continues only with a slot. So the calls
// running, not counting those blocked, never exceed WithConcurrency, and a call blocked any
// number of times, or from several goroutines at once, has at most one lent runner at a time.
func (d *delivery) block(w *Worker) func() {
	d.blockMu.Lock()
	if d.finished { // a goroutine of the call outlived it: no slot to lend
		d.blockMu.Unlock()
		return func() {}
	}
	d.blocked++
	if d.blocked == 1 {
		<-w.slots // the call's token
		d.lendStop = make(chan struct{})
		w.runners.Add(1) // the blocked call's runner is counted, so the count is above zero
		go func(stop <-chan struct{}) {
			defer w.runners.Done()
			w.runCalls(stop)
		}(d.lendStop)
	}
	d.blockMu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { d.unblock(w) }) }
}

func (d *delivery) unblock(w *Worker) {
	d.blockMu.Lock()
	defer d.blockMu.Unlock() // held while waiting for a token: a new block of this call waits
	if d.finished || d.blocked == 0 {
		return
	}
	d.blocked--
	if d.blocked == 0 {
		close(d.lendStop)
		w.acquire()
	}
}

// settle ends slot lending for a call that returned: if a goroutine of it is still blocked,
// its lent runner is stopped and the runner takes a token back for its next call.
func (d *delivery) settle(w *Worker) {
	d.blockMu.Lock()
	d.finished = true
	blocked := d.blocked > 0
	if blocked {
		d.blocked = 0
		close(d.lendStop)
	}
	d.blockMu.Unlock()
	if blocked {
		w.acquire()
	}
}

// abandonRunning hands back every call still running after the drain deadline.
func (w *Worker) abandonRunning() {
	w.heldMu.Lock()
	var running []*delivery
	for d := range w.held {
		if d.state.CompareAndSwap(stateRunning, stateAbandoned) {
			running = append(running, d)
		}
	}
	w.heldMu.Unlock()
	for _, d := range running {
		w.callLog(d).Warn().Msg("call ignored cancellation past the drain deadline; handed back")
		w.handBack(d)
	}
}

// handBack returns a call that did not finish here to the broker for another worker. The
// call started running here, so its delivery counts as an attempt.
func (w *Worker) handBack(d *delivery) {
	if err := d.msg.Nak(); err != nil {
		w.callLog(d).Debug().Err(err).Msg("nak")
	}
	w.release(d)
}

// handBackUnstarted hands back a call that never started running here: the hand-back is
// recorded in HandbacksBucket first, so that the next delivery does not count it as an
// attempt (JetStream counts it in NumDelivered).
func (w *Worker) handBackUnstarted(d *delivery) {
	if id := d.msg.Headers().Get(HeaderID); validCallID(id) {
		if err := w.c.recordHandBack(id); err != nil {
			w.callLog(d).Warn().Err(err).Msg("hand-back not recorded; it will count as an attempt")
		}
	}
	w.handBack(d)
}

// maxParallelHandBacks bounds the hand-backs being recorded at once at shutdown.
const maxParallelHandBacks = 32

// handBackUnstartedAsync is handBackUnstarted on its own goroutine (up to
// maxParallelHandBacks at once, then it waits), so a stopping worker records the hand-backs
// of its buffered calls in parallel. Only for Run's own paths (the consume callback and the
// runners): Run waits for these goroutines once both have ended.
func (w *Worker) handBackUnstartedAsync(d *delivery) {
	w.handBackSem <- struct{}{}
	w.handBacks.Go(func() {
		defer func() { <-w.handBackSem }()
		w.handBackUnstarted(d)
	})
}

// HandbacksBucket is the KV bucket where workers count, per call ID, the deliveries they
// handed back without running them (at shutdown): a call's attempt number is its delivery
// count less its hand-backs. Entries live for the results TTL; the bucket is created by the
// first worker that runs.
const HandbacksBucket = "jetray_handbacks"

type handbacksKey struct{}

// handbacksBucket opens (or creates) HandbacksBucket.
func (c *Client) handbacksBucket(ctx context.Context) (jetstream.KeyValue, error) {
	v, err := c.Extension(handbacksKey{}, func() (any, error) {
		return c.ensureBucket(ctx, jetstream.KeyValueConfig{
			Bucket:      HandbacksBucket,
			Description: "jetray: deliveries of each call handed back without running (not attempts)",
			TTL:         c.cfg.resultTTL,
			Storage:     c.storage(),
			Replicas:    c.cfg.replicas,
		})
	})
	if err != nil {
		return nil, err
	}
	return v.(jetstream.KeyValue), nil
}

// handbackTimeout bounds each read or write of HandbacksBucket.
const handbackTimeout = 2 * time.Second

// recordHandBack adds one to the hand-backs of call id (compare-and-swap, retried on
// conflicts with other workers).
func (c *Client) recordHandBack(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.callTimeout, handbackTimeout))
	defer cancel()
	kv, err := c.handbacksBucket(ctx)
	if err != nil {
		return err
	}
	for range 10 {
		if _, err = kv.Create(ctx, id, []byte("1")); !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
		e, gerr := kv.Get(ctx, id)
		if errors.Is(gerr, jetstream.ErrKeyNotFound) {
			continue // expired meanwhile
		}
		if gerr != nil {
			return gerr
		}
		n, _ := strconv.Atoi(string(e.Value()))
		_, err = kv.Update(ctx, id, []byte(strconv.Itoa(n+1)), e.Revision())
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
	}
	return fmt.Errorf("jetray: record hand-back of %s: %w", id, err)
}

// handBacks returns how many deliveries of call id were handed back without running.
func (c *Client) handBacks(id string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.callTimeout, handbackTimeout))
	defer cancel()
	kv, err := c.handbacksBucket(ctx)
	if err != nil {
		return 0, err
	}
	e, err := kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(e.Value()))
}

func (w *Worker) hold(d *delivery) {
	w.heldMu.Lock()
	w.held[d] = struct{}{}
	w.heldMu.Unlock()
}

func (w *Worker) release(d *delivery) {
	w.heldMu.Lock()
	delete(w.held, d)
	w.heldMu.Unlock()
}

// heartbeat tells the broker every AckWait/3 (hbPeriod: the smallest AckWait of the worker
// and its task consumers) that held calls are still being worked on.
func (w *Worker) heartbeat(done <-chan struct{}) {
	period := time.Duration(w.hbPeriod.Load())
	t := time.NewTimer(period)
	defer t.Stop()
	last := time.Now()
	var batch []*delivery
	for {
		select {
		case <-done:
			return
		case <-w.hbReset: // the period shrank: the next beat may be due already
			period = time.Duration(w.hbPeriod.Load())
			if wait := period - time.Since(last); wait > 0 {
				t.Reset(wait)
				continue
			}
		case <-t.C:
		}
		period = time.Duration(w.hbPeriod.Load())
		last = time.Now()
		t.Reset(period)
		batch = batch[:0]
		w.heldMu.Lock()
		for d := range w.held {
			batch = append(batch, d)
		}
		w.heldMu.Unlock()
		for _, d := range batch {
			_ = d.msg.InProgress()
		}
	}
}

// waitHeld waits until every held call was acked, termed or handed back, or until timeout.
func (w *Worker) waitHeld(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; time.Now().Before(deadline); delay = min(delay*2, 50*time.Millisecond) {
		w.heldMu.Lock()
		n := len(w.held)
		w.heldMu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(delay)
	}
	w.log.Warn().Msg("results still unacknowledged at shutdown; the broker will redeliver them")
}
