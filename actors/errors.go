package actors

import (
	"errors"

	"github.com/jetray/jetray/framework"
)

// KindDied is the TaskError.Kind of a call to a dead actor. It keeps its identity across task
// boundaries: a task that fails because an actor it called died fails with this kind too.
const KindDied framework.Kind = "actor_died"

// KindStateTooLarge is the TaskError.Kind of a durable actor's call (or creation) whose state
// snapshot would not fit in one message; it matches ErrStateTooLarge across task boundaries.
const KindStateTooLarge framework.Kind = "actor_state_too_large"

var (
	// ErrDied: the actor is dead: killed, its constructor failed, or its worker died without
	// restarts left. Remote errors of KindDied match it through errors.Is, across any number of
	// task boundaries.
	ErrDied = errors.New("jetray: actor died")
	// ErrActorDied is ErrDied.
	//
	// Deprecated: use ErrDied.
	ErrActorDied = ErrDied
	// ErrNotFound: Get found no live actor of that name.
	ErrNotFound = errors.New("jetray: actor not found")
	// ErrNotFound is ErrNotFound.
	//
	// Deprecated: use ErrNotFound.
	ErrActorNotFound = ErrNotFound
	// ErrNameTaken: a named actor already exists and GetIfExists was not given.
	ErrNameTaken = errors.New("jetray: actor name taken")
	// ErrSelfDeadlock: a max_concurrency-1 actor called itself from inside a method; awaiting
	// that call would hang forever, so it fails at once.
	ErrSelfDeadlock = errors.New("jetray: actor called itself with max_concurrency 1 (would deadlock)")
	// ErrPendingCallsLimit: a handle with MaxPendingCalls already has that many unresolved calls.
	ErrPendingCallsLimit = errors.New("jetray: actor handle has too many pending calls")
	// ErrBadOption: a class option cannot be honoured (a Prefetch window out of range, or on an
	// actor with max_concurrency above 1); Remote's handle fails with it before anything is
	// recorded.
	ErrBadOption = errors.New("jetray: bad actor option")
	// ErrUnknownGroup: a call names a concurrency group (ConcurrencyGroup) the actor does not
	// have (ConcurrencyGroups); the call fails at once and nothing is sent.
	ErrUnknownGroup = errors.New("jetray: unknown concurrency group")
	// ErrStateTooLarge: a durable actor's state snapshot (Durable: the state, the IDs of its
	// last calls and the last answer, up to 64 KiB of it) would exceed the largest message the
	// broker accepts (its max_payload, 1 MiB by default) less 4 KiB. The call that grew the
	// state fails with it and is not applied: the instance goes back to the last stored state.
	// On creation, Ready fails with it.
	ErrStateTooLarge = errors.New("jetray: durable actor state too large")
	// ErrNoClient: a handle that arrived inside a value was called with a ctx that carries no
	// client (only ctx of a running task or method does).
	ErrNoClient = errors.New("jetray: no client for actor handle (call from a task ctx or use a handle from Remote/Get)")
)
