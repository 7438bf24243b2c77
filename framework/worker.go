package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
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
// giving it to another worker. The worker sends progress every AckWait/3 for calls it holds,
// so long calls are fine. Default 6 s; minimum 1 s.
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

	mu        sync.Mutex
	handlers  map[string]Handler
	consumers map[string]jetstream.ConsumeContext
	running   bool
	stopping  bool
	hooksMu   sync.Mutex
	hooks     []func(ctx context.Context) error // extra components started by Run (actors)
	ext       map[any]any
	stopHooks []func()

	queue       chan *delivery
	queueMu     sync.RWMutex // held for reading while sending on queue
	queueClosed bool
	stopCh      chan struct{}
	runners     sync.WaitGroup // runners, including those lent while a call blocks

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
		held: map[*delivery]struct{}{}}
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

// Extension returns the per-worker value stored under key, creating it with init on first
// use. Runtimes built on the worker (actor hosts) keep their state here.
func (w *Worker) Extension(key any, init func() any) any {
	w.mu.Lock()
	defer w.mu.Unlock()
	if v, ok := w.ext[key]; ok {
		return v
	}
	if w.ext == nil {
		w.ext = map[any]any{}
	}
	v := init()
	w.ext[key] = v
	return v
}

// AckWait returns the worker's AckWait (see WithAckWait).
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
// at the drain deadline.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("jetray: worker already running")
	}
	w.running, w.stopping = true, false
	w.queue = make(chan *delivery, w.cfg.concurrency)
	w.queueClosed = false
	w.stopCh = make(chan struct{})
	w.taskCtx, w.taskCancel = context.WithCancel(context.Background())
	handlers := make(map[string]Handler, len(w.handlers))
	for n, h := range w.handlers {
		handlers[n] = h
	}
	w.mu.Unlock()
	w.hooksMu.Lock()
	hooks := w.hooks
	w.hooksMu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running = false
		w.mu.Unlock()
	}()

	if err := w.cw.start(w.taskCtx); err != nil {
		return err
	}
	for n, h := range handlers {
		if err := w.startConsumer(ctx, n, h); err != nil {
			w.stopIntake()
			return err
		}
	}
	runners := &w.runners
	for range w.cfg.concurrency {
		runners.Add(1)
		go func() {
			defer runners.Done()
			for d := range w.queue {
				d.slot = true
				w.execute(d)
			}
		}()
	}
	hbDone := make(chan struct{})
	go w.heartbeat(hbDone)
	liveDone := make(chan struct{})
	liveStopped := make(chan struct{})
	go func() { w.liveness(liveDone); close(liveStopped) }()
	var hookWG sync.WaitGroup
	hookErrs := make(chan error, len(hooks))
	for _, h := range hooks {
		hookWG.Add(1)
		go func() {
			defer hookWG.Done()
			if err := h(ctx); err != nil {
				hookErrs <- err
			}
		}()
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
	go func() { runners.Wait(); hookWG.Wait(); close(drained) }()
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
	w.waitHeld(10 * time.Second)
	close(hbDone)
	close(liveDone)
	<-liveStopped
	_ = w.c.nc.FlushTimeout(5 * time.Second)
	select {
	case herr := <-hookErrs:
		err = errors.Join(err, herr)
	default:
	}
	w.log.Info().Err(err).Msg("worker stopped")
	return err
}

// startConsumer creates (or updates) the durable consumer for name and starts consuming.
func (w *Worker) startConsumer(ctx context.Context, name string, h Handler) error {
	cctx, cancel := w.c.apiContext(ctx)
	defer cancel()
	cons, err := w.c.js.CreateOrUpdateConsumer(cctx, TasksStream, jetstream.ConsumerConfig{
		Durable:       taskConsumerName(name),
		Description:   "jetray task " + name,
		FilterSubject: TaskSubject(name),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.ackWait,
		MaxAckPending: 65536,
		MaxDeliver:    -1,
	})
	if err != nil {
		return fmt.Errorf("jetray: consumer for %s: %w", name, err)
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
	return nil
}

// receive is the consume handler: it holds the message (progress reports start) and queues it
// for a runner, blocking while the queue is full, which bounds what the worker pulls.
func (w *Worker) receive(m jetstream.Msg, h Handler, name string) {
	d := &delivery{msg: m, h: h, name: name}
	w.hold(d)
	w.queueMu.RLock()
	defer w.queueMu.RUnlock()
	if w.queueClosed {
		w.handBack(d)
		return
	}
	select {
	case w.queue <- d:
	case <-w.stopCh:
		w.handBack(d)
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
		w.handBack(d)
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

// lendSlot starts a temporary runner while a task blocks awaiting other work (futures'
// block hook), so tasks waiting on tasks cannot take every slot; it ends when the wait ends.
func (w *Worker) lendSlot() func() {
	stop := make(chan struct{})
	w.runners.Add(1) // a runner is running this call, so the count is above zero
	go func() {
		defer w.runners.Done()
		for {
			select {
			case <-stop:
				return
			case d, ok := <-w.queue:
				if !ok {
					return
				}
				d.slot = true
				w.execute(d)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop) }) }
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

// handBack returns a call that did not finish here to the broker for another worker.
func (w *Worker) handBack(d *delivery) {
	if err := d.msg.Nak(); err != nil {
		w.callLog(d).Debug().Err(err).Msg("nak")
	}
	w.release(d)
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

// heartbeat tells the broker every AckWait/3 that held calls are still being worked on.
func (w *Worker) heartbeat(done <-chan struct{}) {
	t := time.NewTicker(w.cfg.ackWait / 3)
	defer t.Stop()
	var batch []*delivery
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
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
