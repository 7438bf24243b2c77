package actors

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
