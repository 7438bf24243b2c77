// Package actors brings Ray's stateful actors to jetray: an actor is an instance of a Go type
// placed on one worker, whose methods are called remotely and return futures.
//
//	var Counter = actors.Define("Counter", newCounter)
//	var Incr = actors.Method(Counter, "incr", (*counter).Incr)
//
//	h := Counter.Remote(ctx, client, 0)          // returns at once
//	n, err := Incr.Remote(ctx, h, 1).Await(ctx)   // calls may be sent before placement
//
// Workers serve a class with worker.Register(Counter), which registers its constructor and
// every Method defined on it (define methods before registering).
//
// # Concurrency
//
// A plain actor (max_concurrency 1, the default) runs one call at a time, in the order one
// client submitted them; its methods need no locks. An async actor (Async, or
// MaxConcurrency(n) with n > 1) runs up to max_concurrency calls at once (default 1000 for
// Async) and never more: each actor has its own JetStream consumer whose MaxAckPending equals
// max_concurrency, so the broker holds the limit. Unlike Ray, whose async actor calls
// interleave on one event loop, these calls run on goroutines truly in parallel: state they
// share needs a mutex or atomics.
//
// A plain actor's consumer delivers one call at a time. Prefetch(n) lets it deliver up to n
// ahead, for callers that pipeline many calls to one actor: they still run one at a time, in
// order, each once the one before it has its result stored, and a call waiting in the window
// has not started (a graceful stop hands it over unrun; after a crash only the call that was
// running counts an attempt).
//
// # Durable state
//
// Durable keeps a plain actor's state in JetStream (KV bucket jetray_state): after each call
// the host writes a snapshot of the object (its exported fields as JSON, or StateCodec), by
// compare-and-swap on the revision it wrote last, and only then stores the call's result. A
// restarted or handed-over actor restores the snapshot into new(A) instead of running its
// constructor, and calls Resumed if *A is a Resumer. A call delivered again after its snapshot
// was written is answered from the snapshot, never applied twice; a call whose snapshot was
// not written runs again on the stored state. An instance whose write fails because a newer
// one owns the actor stores no result and ends. Kill deletes the snapshot; Kill with
// AllowRestart keeps it. docs/architecture.md, "Durable actor state", says what a caller can
// observe after a crash mid-call.
//
// # Lifecycle
//
// Class.Remote records the actor (KV bucket jetray_actors, key a.<id>) and queues its
// creation; one worker that registered the class takes it, runs the constructor and binds the
// actor's consumer there. Handle.Ready waits for that and returns the constructor's error.
// Kill stops the actor: running calls see their ctx cancelled and, like queued ones, fail with
// ErrActorDied; later calls fail fast. Calls to an actor whose constructor failed fail with an
// error that wraps ErrActorDied and names the constructor error.
//
// An actor is owned, as in Ray: it dies as Kill makes it die soon after its owner is gone.
// The owner is the client that created it (a few seconds after that client's Close; after a
// crash or a lost connection, once its liveness key expires, framework.WithClientTTL, 30 s by
// default, and a probe gets no answer), or, for an actor created inside a task, the client at
// the root of the task tree, or, inside an actor, that actor. Named actors are owned too. Use
// Detached for an actor that must outlive its creator (driver call -create makes such actors).
//
// # Self-deadlock
//
// A max_concurrency-1 actor that calls itself and awaits the result would wait forever: the
// call cannot start before the current one ends. jetray detects a call submitted from inside a
// running method to the same max_concurrency-1 actor and fails it at once with
// ErrSelfDeadlock. A cycle through another actor (A calls B, B calls A) is not detected: the
// awaiting caller sees its ctx error when its ctx ends, so give such awaits a deadline.
package actors
