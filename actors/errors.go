package actors

import (
	"errors"

	"github.com/jetray/jetray/framework"
)

var (
	// ErrActorDied: the actor is dead: killed, its constructor failed, or its worker stopped.
	// Remote errors match it through errors.Is. It is framework.ErrActorDied.
	ErrActorDied = framework.ErrActorDied
	// ErrActorNotFound: Get found no live actor of that name.
	ErrActorNotFound = errors.New("jetray: actor not found")
	// ErrNameTaken: a named actor already exists and GetIfExists was not given.
	ErrNameTaken = errors.New("jetray: actor name taken")
	// ErrSelfDeadlock: a max_concurrency-1 actor called itself from inside a method; awaiting
	// that call would hang forever, so it fails at once.
	ErrSelfDeadlock = errors.New("jetray: actor called itself with max_concurrency 1 (would deadlock)")
	// ErrPendingCallsLimit: a handle with MaxPendingCalls already has that many unresolved calls.
	ErrPendingCallsLimit = errors.New("jetray: actor handle has too many pending calls")
	// ErrNoClient: a handle that arrived inside a value was called with a ctx that carries no
	// client (only ctx of a running task or method does).
	ErrNoClient = errors.New("jetray: no client for actor handle (call from a task ctx or use a handle from Remote/Get)")
)
