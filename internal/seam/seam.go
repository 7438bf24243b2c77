// Package seam joins package framework to the runtimes jetray builds on it (the actor host in
// package actors) without making the joints public API. Users never import it; go doc
// ./framework shows only what users call.
//
// Package framework sets every function variable below in its init, with the concrete type
// written in the variable's comment; package actors asserts each to that type once, at its
// own init (package framework always initialises first, since actors imports it), so a
// mismatch fails every test at start-up instead of at a call. The pattern is grpc-go's
// internal package.
//
// Who may use what: only packages of this module (Go's internal rule); the worker and client
// stay the owners of their state, and these functions are the only doors into it.
package seam

import "errors"

// ErrNotOwner is returned by a runtime's handler (the actor host) that lost ownership of
// what the call runs on (its lease lapsed, another host took the actor over): the worker
// stores no result and neither acks nor hands the call back, so the broker gives it to the
// new owner. Callers never see it.
var ErrNotOwner = errors.New("jetray: not the owner")

// Received is implemented by a message a runtime passes to Serve when it knows how many of
// the call's deliveries reached it: the actor host, the only puller of its placement's
// consumer. Received returns that count, this delivery included (0: unknown), and the worker
// counts the call's attempts from it instead of NumDelivered, which also counts deliveries
// the broker sent on a connection that was already lost: those never ran.
type Received interface{ Received() uint64 }

// Route sets how a framework.Request travels, for runtimes whose calls do not go to a task
// subject (actor method calls).
type Route struct {
	// Subject is where the call is published instead of the task subject of its name.
	Subject string
	// Unregistered skips the registry check of the call's name (actor methods are not in
	// the registry; the actor record is checked instead).
	Unregistered bool
	// OnDone, if set, runs once when the call's future resolves or fails (pending calls per
	// actor handle).
	OnDone func()
}

// Functions of package framework, set by its init. The comment of each gives its type.
var (
	// RegisterKind func(kind string, sentinel error): a failure whose error wraps sentinel
	// travels with this kind, and a TaskError of this kind matches sentinel with errors.Is,
	// across any number of task boundaries. Call it at init.
	RegisterKind func(kind string, sentinel error)

	// Serve func(w *framework.Worker, m jetstream.Msg, name string, h framework.Handler, lost error):
	// runs one message of a consumer the caller owns through the worker's call path (headers
	// checked, h run with panics caught, the result stored, then the ack; progress reported
	// meanwhile). lost is the error a call fails with when its attempts ran out because its
	// workers were lost (nil: framework.ErrWorkerLost). It returns when h has returned. Called
	// while the worker does not run, it hands the message back (Nak) at once. If m implements
	// Received, the call's attempts are counted from it.
	Serve any

	// OnRun func(w *framework.Worker, run func(context.Context) error): adds a component that
	// Worker.Run starts with Run's ctx and waits for before returning (the drain timeout and
	// 30 s more). Must be called before Run.
	OnRun any

	// WorkerExtension func(w *framework.Worker, key any, init func() any) any: the per-worker
	// value stored under key, made by init on first use (concurrent first uses wait for one).
	WorkerExtension any

	// Handle func(w *framework.Worker, name, kind string, h framework.Handler) error: serves
	// name with h from a shared task consumer and records it in the registry as kind ("task",
	// "actor"). Errors as for Worker.Register.
	Handle any

	// Lease func(w *framework.Worker) *lease.Lease: the worker's lease, which only its
	// liveness loop writes.
	Lease any

	// DrainTimeout func(w *framework.Worker) time.Duration: the worker's WithDrainTimeout.
	DrainTimeout any

	// ClientExtension func(c *framework.Client, key any, init func() (any, error)) (any, error):
	// the per-client value stored under key, made by init on first use; an init error is
	// returned and nothing is stored.
	ClientExtension any

	// OnClose func(c *framework.Client, fn func()): fn runs when the client closes, before the
	// connection does.
	OnClose any

	// PublishFailure func(c *framework.Client, ctx context.Context, te *framework.TaskError) error:
	// stores te as the result of call te.TaskID, first writer wins (nil if the call had a
	// result already).
	PublishFailure any

	// ConnectedFor func(c *framework.Client) time.Duration: how long the client has been
	// connected without a break (0 while disconnected).
	ConnectedFor any

	// ResultStored func(c *framework.Client, ctx context.Context, id string) (bool, error):
	// whether a result for call id is stored.
	ResultStored any

	// SetRoute func(req *framework.Request, r Route): routes req as r says.
	SetRoute any

	// Names func(c *framework.Client) wire.Names: every stream, bucket and subject name of
	// the client's namespace.
	Names any

	// KeepResources func(ctx context.Context) (release func()): keeps the resources held by
	// the call running with ctx (its placement's, see framework.Resources) past the call's
	// return, until release is called (once; later calls do nothing). The actor host calls it
	// when a creation call has placed an actor, which holds them for its lifetime here. For
	// a call that holds none, release is nil.
	KeepResources any

	// ActorState func(w *framework.Worker, class, from, to string): moves one actor of class
	// from state from to state to ("" for none) in the worker's actor gauge (WithMetrics).
	ActorState any

	// ClientsGone func(c *framework.Client, ctx context.Context, ids []string) map[string]bool:
	// the clients among ids judged gone (no liveness key while c has been connected for a
	// full client TTL, and no answer to a probe); unsure cases judge nobody gone.
	ClientsGone any

	// TreeOwner func(ctx context.Context) string: the owner of the call tree ctx runs in (an
	// actor ID or a client ID), "" outside a running call.
	TreeOwner any

	// WaitLive func(c *framework.Client, ctx context.Context): waits (briefly) until the
	// client's liveness key has been written once.
	WaitLive any

	// StateBucket func(c *framework.Client, ctx context.Context) (jetstream.KeyValue, error):
	// the durable actor state bucket (wire.Names.StateBucket), created on first use with the
	// client's storage and replicas, History 1, the wire version in its metadata.
	StateBucket any

	// FailureOf func(err error) *framework.TaskError: the failure a worker would store for a
	// handler that returned err (kind, message, user error code and detail), without the
	// call's own fields (task, ID, attempts, worker).
	FailureOf any
)
