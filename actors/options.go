package actors

import (
	"fmt"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/wire"
)

// ClassOption configures an actor class on Define, or one instance with Class.Options.
type ClassOption func(*classConfig)

type classConfig struct {
	async          bool
	maxConcurrency int // 0: default (1, or 1000 for async)
	name           string
	getIfExists    bool
	maxRestarts    int
	maxTaskRetries int
	maxPending     int
	prefetch       int                // 0: none (a window of 1)
	labels         map[string]string  // LabelSelector; replaced, never changed, by options
	resources      map[string]float64 // Resources; replaced, never changed, by options
	detached       bool
	groups         map[string]int // ConcurrencyGroups; replaced, never changed, by options
	durable        bool
}

func (c classConfig) concurrency() int {
	if c.maxConcurrency > 0 {
		return c.maxConcurrency
	}
	if c.async {
		return 1000
	}
	return 1
}

// MaxPrefetch is the largest window Prefetch accepts.
const MaxPrefetch = 1024

// check reports an option that cannot be honoured, wrapping ErrBadOption.
func (c classConfig) check() error {
	if c.prefetch < 0 || c.prefetch > MaxPrefetch {
		return fmt.Errorf("%w: Prefetch(%d): the window is 0 to %d calls", ErrBadOption, c.prefetch, MaxPrefetch)
	}
	for g, n := range c.groups {
		if g == "" {
			return fmt.Errorf("%w: ConcurrencyGroups: a group needs a name (\"\" is the default group, sized by MaxConcurrency)", ErrBadOption)
		}
		if err := wire.ValidGroup(g); err != nil {
			return fmt.Errorf("%w: ConcurrencyGroups: %w", ErrBadOption, err)
		}
		if n < 1 || n > MaxGroupConcurrency {
			return fmt.Errorf("%w: ConcurrencyGroups: group %q limit %d is not 1 to %d", ErrBadOption, g, n, MaxGroupConcurrency)
		}
	}
	if len(c.groups) > MaxGroups {
		return fmt.Errorf("%w: ConcurrencyGroups: %d groups, at most %d", ErrBadOption, len(c.groups), MaxGroups)
	}
	if c.durable && (c.concurrency() > 1 || len(c.groups) > 0) {
		return fmt.Errorf("%w: Durable is for plain actors (max_concurrency 1, no ConcurrencyGroups): "+
			"a snapshot after each call is a consistent cut only while one call runs at a time; this actor has max_concurrency %d and %d groups",
			ErrBadOption, c.concurrency(), len(c.groups))
	}
	if c.prefetch > 1 && c.concurrency() > 1 {
		return fmt.Errorf("%w: Prefetch(%d) is for plain actors (max_concurrency 1), not max_concurrency %d",
			ErrBadOption, c.prefetch, c.concurrency())
	}
	return nil
}

// Async makes an async actor: many calls run at once, up to max_concurrency, which defaults to
// 1000 (Ray's default) unless MaxConcurrency sets it.
func Async() ClassOption { return func(c *classConfig) { c.async = true } }

// MaxConcurrency sets how many calls of one actor run at once; the broker enforces it. On
// Define or per instance with Options. Default 1 for plain actors, 1000 for Async. Values
// below 1 restore the default.
func MaxConcurrency(n int) ClassOption {
	return func(c *classConfig) { c.maxConcurrency = max(n, 0) }
}

// Name makes a named actor that any client can find with Get. Names are global and must be
// valid names (framework.ValidName); a name is freed when its actor dies.
func Name(name string) ClassOption { return func(c *classConfig) { c.name = name } }

// GetIfExists, with Name, returns the live actor of that name if there is one instead of
// creating another; the get-or-create is atomic (a KV create), so concurrent creators share one
// actor. Without it, Remote on a taken name gives a handle whose Ready returns ErrNameTaken.
func GetIfExists() ClassOption { return func(c *classConfig) { c.getIfExists = true } }

// MaxRestarts sets how many times the actor is rebuilt on another worker (its constructor
// re-run with the original input) after its worker dies. Default 0: the actor dies with its
// worker and its calls fail with ErrActorDied. -1 restarts forever. A killed actor is never
// restarted. With restarts allowed, a worker that stops gracefully (SIGTERM, Run's ctx
// ending) hands the actor over to another worker serving the class, with its queued calls;
// a hand-over does not count as a restart. Worker death is detected through the jetray_workers liveness bucket within
// about framework.LivenessTTL plus a few seconds.
func MaxRestarts(n int) ClassOption { return func(c *classConfig) { c.maxRestarts = max(n, -1) } }

// MaxTaskRetries sets how many times a method call that was running when its worker died is
// run again (on the restarted actor). Default 0: calls are at-most-once and such a call fails
// with ErrActorDied; n > 0 makes them at-least-once; -1 retries forever.
func MaxTaskRetries(n int) ClassOption { return func(c *classConfig) { c.maxTaskRetries = max(n, -1) } }

// MaxPendingCalls bounds the calls of one handle that have not resolved yet; past it Remote
// fails at once with ErrPendingCallsLimit (backpressure, Ray's max_pending_calls). Default 0:
// no limit.
func MaxPendingCalls(n int) ClassOption { return func(c *classConfig) { c.maxPending = max(n, 0) } }

// Prefetch gives a plain actor (max_concurrency 1) a window of n calls: its host holds up to n
// delivered calls at once (its consumer's MaxAckPending is n instead of 1) and still runs them
// one at a time, in stream order, each only once the one before it has its result stored.
// Between two calls of a caller that pipelines them, the actor then waits only for the first
// one's result to be stored, not also for its ack to reach the broker and the next call to be
// delivered. Nothing else changes: never two calls at once, the same order, the same
// hand-over, Kill and attempt rules (a call waiting in the window has not started: a graceful
// stop hands it over without using an attempt, and after a crash only the first unanswered
// call of the window can have run, so only that one counts an attempt). Calls waiting in the
// window are kept alive with progress reports, so AckWait does not run out while they wait.
//
// Default 0 (1 means the same): no window, one call delivered at a time. n may be 0 to
// MaxPrefetch (1024); outside that range, or with max_concurrency above 1 (Async,
// MaxConcurrency), Remote returns a handle whose Ready fails with an error wrapping
// ErrBadOption (nothing is recorded or submitted), and so do its calls. On Define or per
// instance with Options; the window is kept in the actor's record, so a restarted or
// handed-over actor keeps it. Memory: up to n calls (inputs included) wait on the worker.
func Prefetch(n int) ClassOption { return func(c *classConfig) { c.prefetch = n } }

// LabelSelector places the actor only on workers whose labels (framework.WithLabels) include
// every key with exactly the given value, for every placement: creation, restarts and
// hand-overs. It adds to the selector of earlier options. Rules and errors as for
// framework.LabelSelector: an invalid label fails Ready with ErrInvalidName, one no worker
// serving the class has ever had with framework.ErrInfeasible.
func LabelSelector(labels map[string]string) ClassOption {
	return func(c *classConfig) { c.labels = wire.WithLabels(c.labels, labels) }
}

// Resources makes the actor hold amounts of resources on its worker for as long as it lives
// there (Ray's actor resources): it is placed only on a worker with that much free, which
// counts it against its capacity (framework.WithResources) until the actor dies, is handed
// over or its worker stops. Restarts and hand-overs place it the same way. An amount of 0
// removes a need. Rules and errors as for framework.Resources.
func Resources(amounts map[string]float64) ClassOption {
	return func(c *classConfig) { c.resources = wire.WithResources(c.resources, amounts) }
}

// NumCPUs is Resources({"cpu": n}).
func NumCPUs(n float64) ClassOption { return Resources(map[string]float64{wire.ResourceCPU: n}) }

// NumGPUs is Resources({"gpu": n}) (Ray's num_gpus).
func NumGPUs(n float64) ClassOption { return Resources(map[string]float64{wire.ResourceGPU: n}) }

// Memory is Resources({"memory": bytes}).
func Memory(bytes int64) ClassOption {
	return Resources(map[string]float64{wire.ResourceMemory: float64(bytes)})
}

// placementOptions are the creation call's options for an actor with labels and resources.
func placementOptions(labels map[string]string, resources map[string]float64) []framework.TaskOption {
	var opts []framework.TaskOption
	if len(labels) > 0 {
		opts = append(opts, framework.LabelSelector(labels))
	}
	if len(resources) > 0 {
		opts = append(opts, framework.Resources(resources))
	}
	return opts
}

// Detached makes an actor that no one owns (Ray's lifetime="detached"): it lives until it is
// killed, exits, or dies with its worker, whatever happens to the client that created it. On
// Define or per instance with Options: Class.Options(actors.Detached()).Remote(ctx, c, in).
//
// Without it an actor is owned (named actors too, as in Ray) and dies, like Kill, soon after
// its owner is gone: the client that created it, once that client closes or vanishes (judged
// as docs/architecture.md says: within about framework.ClientTTL, 30 s, of a crash, a few
// seconds of a Close); for an actor created inside a running task, the owner of that task's
// call tree (the client that submitted its root call); for an actor created inside an actor's
// constructor or method, that actor (the child dies when its parent is DEAD or FAILED). An
// actor found with GetIfExists keeps its owner. A worker's graceful stop never kills the
// actors its tasks created: they are owned by their trees' clients, not by the worker.
func Detached() ClassOption { return func(c *classConfig) { c.detached = true } }

// Concurrency group bounds.
const (
	// MaxGroups is the most concurrency groups an actor may declare besides the default one
	// (each is a consumer per actor on the broker).
	MaxGroups = 16
	// MaxGroupConcurrency is the largest limit of one concurrency group.
	MaxGroupConcurrency = 10000
)

// ConcurrencyGroups declares the actor's concurrency groups (Ray's concurrency_groups): group
// name -> how many of the group's calls run at once. A method joins a group with
// ConcurrencyGroup, on Method or per call with MethodDef.Options; methods in no group run in
// the default group, whose limit stays MaxConcurrency (1 for a plain actor, 1000 for Async).
// Groups run side by side: a slow group with every slot busy never delays another group's
// calls. Each group's limit is enforced by the broker, as max_concurrency is (a consumer per
// actor and group whose MaxAckPending is the limit), and again by the host. Within a group of
// limit 1 calls run one at a time in the order sent, like a plain actor's. Calls of different
// groups may run at the same time on the same object, so state they share needs a lock, as in
// Ray's threaded actors.
//
// Default: none. On Define or per instance with Options; later options replace the whole set.
// The groups are kept in the actor's record, so restarts and hand-overs keep them. Names are
// valid names (framework.ValidName rules) other than ""; limits are 1 to MaxGroupConcurrency;
// at most MaxGroups groups. Otherwise Remote returns a handle whose Ready fails with an error
// wrapping ErrBadOption (nothing is recorded or submitted), and so do its calls.
func ConcurrencyGroups(groups map[string]int) ClassOption {
	return func(c *classConfig) {
		c.groups = nil
		if len(groups) > 0 {
			c.groups = make(map[string]int, len(groups))
			for g, n := range groups {
				c.groups[g] = n
			}
		}
	}
}

// MethodOption configures an actor method: on Method for every call, or for one call or a
// family of calls with MethodDef.Options.
type MethodOption func(*methodConfig)

type methodConfig struct {
	group string // concurrency group; "" the default group
}

// ConcurrencyGroup runs the method's calls in the actor's concurrency group name (declared
// with ConcurrencyGroups; Ray's concurrency_group). On Method it is the method's group; with
// MethodDef.Options it overrides that for the calls made with the copy. "" is the default
// group. A call naming a group its actor does not have fails at once with an error wrapping
// ErrUnknownGroup and is not sent.
func ConcurrencyGroup(name string) MethodOption { return func(c *methodConfig) { c.group = name } }
