package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jetray/jetray/internal/wire"
)

var (
	// ErrUnknownTask: no worker has registered the task name, not even during the client's
	// unknown-name grace (WithUnknownNameGrace). The call is not queued.
	ErrUnknownTask = errors.New("jetray: unknown task")
	// ErrInvalidName: a task or actor name that cannot be used on the wire (see ValidName).
	ErrInvalidName = wire.ErrInvalidName
	// ErrInvalidNamespace: WithNamespace was given a namespace that cannot be used (see
	// WithNamespace). Connect returns it, wrapped.
	ErrInvalidNamespace = wire.ErrInvalidNamespace
	// ErrWireVersion: Connect found a stream, bucket or object store made by a build that
	// speaks another wire version; the error names the resource and both versions. Connect
	// never changes such a resource: upgrade every process of the deployment, or use another
	// namespace.
	ErrWireVersion = wire.ErrWireVersion
	// ErrClosed: the client was closed before the call could be submitted or resolved.
	ErrClosed = errors.New("jetray: client closed")
	// ErrDuplicateName: Register was given two definitions with the same name.
	ErrDuplicateName = errors.New("jetray: name registered twice")
	// ErrRetriesExhausted: a call failed on every attempt it was allowed; the TaskError that
	// carries it gives the attempt count and the last cause.
	ErrRetriesExhausted = errors.New("jetray: retries exhausted")
	// ErrWorkerLost: the worker running a call stopped acknowledging it (crashed, killed, or cut off).
	ErrWorkerLost = errors.New("jetray: worker lost")
	// ErrCancelled: the call was cancelled with Cancel; it did not run, or its ctx was cancelled
	// while it ran. Cancelled calls are not retried.
	ErrCancelled = errors.New("jetray: cancelled")
	// ErrAlreadyAnswered means a result is already stored for the call: the first result stored
	// on a call's result subject is its only one, for the results TTL, and later publishes are
	// refused by the broker. A worker whose result is refused acks its call as answered;
	// Cancel treats it as "the call had finished" and return nil; Put returns
	// it, wrapped, if its fresh ID was taken. A Handler that finds its call's result already
	// stored (a runtime skipping a redelivery, such as the actor host) returns it: the delivery
	// is acked without storing or counting anything.
	ErrAlreadyAnswered = errors.New("jetray: call already answered")
	// ErrLivenessWarmingUp: the liveness bucket is younger than LivenessTTL (just created, or
	// recreated after a broker restart), so a missing key does not yet mean a dead worker.
	ErrLivenessWarmingUp = errors.New("jetray: worker liveness bucket warming up")
	// ErrInfeasible: a call needs labels or resources (LabelSelector, Resources) that no
	// worker serving its task has ever registered (WithLabels, WithResources); the error names
	// what is missing. The call is not queued. Ray calls such work infeasible.
	ErrInfeasible = errors.New("jetray: infeasible")
	// ErrAuthConfig is returned by Auth.Options for contradictory or incomplete settings.
	ErrAuthConfig = errors.New("jetray: auth")
	// ErrDeadline: the call did not start by its StartWithin deadline, or had no result by its
	// FinishWithin deadline. Such a call fails with a TaskError of KindDeadline, is not
	// retried, and a running one has its ctx cancelled with this cause.
	ErrDeadline = errors.New("jetray: deadline passed")
	// ErrIdempotencyConflict: a call was submitted with an IdempotencyKey that an earlier call
	// holds with another name or input (within the results TTL). Nothing is submitted.
	ErrIdempotencyConflict = errors.New("jetray: idempotency key used with another input")
	// ErrSchedulesDisabled: the tasks stream does not allow message schedules, so calls cannot
	// be delayed nor schedules declared. Connect turns them on for a stream made without them
	// when its user may update the stream; otherwise an admin sets allow_msg_schedules on it.
	ErrSchedulesDisabled = errors.New("jetray: the tasks stream does not allow message schedules")
	// ErrScheduleNotFound: no periodic schedule has the name given.
	ErrScheduleNotFound = errors.New("jetray: no such schedule")
	// ErrInvalidSchedule: a schedule spec or time zone the broker's scheduler does not accept
	// (see Every and Cron).
	ErrInvalidSchedule = wire.ErrBadSchedule
	// ErrReferenceLost: a reference (a future decoded from a value, or Resolve) waited for a
	// call that will never be answered: no result is stored, the call is in no call stream,
	// and its client never issued it, no longer waits for it (its submission failed), or is
	// gone (then ErrOwnerDied too). Resolve returns it a bounded time after the wait began
	// (from a third of the client TTL, at most about twice the TTL for a client that died),
	// never for a call that is stored. It travels across task boundaries (kind
	// "reference_lost").
	ErrReferenceLost = errors.New("jetray: reference lost: the call will never be answered")
	// ErrOwnerDied (Ray's OwnerDiedError): the client that issued a reference's call is gone
	// (closed, crashed or cut off for good: see WithClientTTL) and never stored the call. An
	// error wrapping it wraps ErrReferenceLost too. It travels across task boundaries (kind
	// "owner_died").
	ErrOwnerDied = errors.New("jetray: the call's owner died before storing it")
)

// Kind says how a remote call failed: TaskError.Kind, a TaskEvent's ErrorKind and the kind
// label of jetray_tasks_failed_total. On the wire it is the plain string ("error", "panic",
// ...); it compares with untyped string constants and converts from a string (Kind(s)).
// TaskError.Error reads an empty Kind as KindError. Packages built on the framework add kinds
// of their own (the actors package: "actor_died"), which travel the same way.
type Kind string

// Kinds of TaskError.
const (
	KindError     Kind = "error"     // the task returned an error
	KindPanic     Kind = "panic"     // the task panicked; Stack holds the goroutine stack
	KindDecode    Kind = "decode"    // the input did not decode into the task's input type
	KindEncode    Kind = "encode"    // the output did not encode
	KindTimeout   Kind = "timeout"   // the per-attempt Timeout passed
	KindLost      Kind = "lost"      // attempts ran out after system failures (dead worker, lost ack)
	KindBadCall   Kind = "badcall"   // the message itself was malformed (bad headers, unknown codec)
	KindCancelled Kind = "cancelled" // the call was cancelled; errors.Is(err, ErrCancelled)
	KindDeadline  Kind = "deadline"  // StartWithin or FinishWithin passed; errors.Is(err, ErrDeadline)
	// KindOwnerDied: the call failed because a reference it awaited lost its owner;
	// errors.Is(err, ErrOwnerDied) and errors.Is(err, ErrReferenceLost).
	KindOwnerDied Kind = "owner_died"
	// KindReferenceLost: the call failed because a reference it awaited will never be
	// answered; errors.Is(err, ErrReferenceLost).
	KindReferenceLost Kind = "reference_lost"
)

// TaskError is the failure of a remote call as its caller sees it. Use errors.As to get it
// from an Await error. errors.Is(err, context.DeadlineExceeded) holds for KindTimeout and
// errors.Is(err, ErrRetriesExhausted) for a call that used all its attempts.
type TaskError struct {
	Task      string `json:"task"`                // task (or Class.method) name
	TaskID    string `json:"task_id"`             // the call's ID (the future's ID)
	Message   string `json:"message"`             // the remote error text
	Kind      Kind   `json:"kind,omitempty"`      // one of the Kind constants
	Panic     bool   `json:"panic,omitempty"`     // true when the task panicked
	Stack     string `json:"stack,omitempty"`     // goroutine stack of a panic
	Attempts  int    `json:"attempts,omitempty"`  // attempts made, 1-based
	Exhausted bool   `json:"exhausted,omitempty"` // true when no attempts are left
	Worker    string `json:"worker,omitempty"`    // worker that reported the failure
	// Code is the user error code of an application error (RegisterError, WithCode); "" for
	// others. It survives task boundaries: a task failing with an awaited call's error keeps it.
	Code string `json:"code,omitempty"`
	// Detail is the value of a registered error type as JSON, from which errors.As rebuilds it
	// in a process that registered the same code.
	Detail json.RawMessage `json:"detail,omitempty"`

	cause error // the registered error value rebuilt from Code and Detail, if any
}

// Unwrap returns the user error value rebuilt from Code and Detail when this process
// registered a type under Code (RegisterError), so errors.As(err, &e) finds it; nil otherwise.
func (e *TaskError) Unwrap() error { return e.cause }

// Error implements error.
func (e *TaskError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "jetray: task %s (%s)", e.Task, e.TaskID)
	if e.Panic {
		b.WriteString(" panicked")
	} else if e.Kind != "" && e.Kind != KindError {
		b.WriteString(" failed (" + string(e.Kind) + ")")
	} else {
		b.WriteString(" failed")
	}
	if e.Attempts > 1 || e.Exhausted {
		fmt.Fprintf(&b, " after %d attempt(s)", e.Attempts)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// Is matches context.DeadlineExceeded for timeouts, ErrRetriesExhausted for calls that used
// all their attempts, and the sentinel of its kind: ErrWorkerLost for KindLost, ErrCancelled
// for KindCancelled, ErrDeadline for KindDeadline, and the sentinels other packages registered for their kinds (such as
// actors.ErrActorDied for "actor_died").
func (e *TaskError) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Kind == KindTimeout
	case ErrRetriesExhausted:
		return e.Exhausted
	case ErrReferenceLost:
		return e.Kind == KindReferenceLost || e.Kind == KindOwnerDied
	}
	k, ok := kindOfSentinel(target)
	return ok && e.Kind == k
}

// kindSentinel pairs a kind with the sentinel error a failure of that kind matches.
type kindSentinel struct {
	kind     Kind
	sentinel error
}

// kinds holds the kinds that keep their identity across the wire: a handler error wrapping
// a sentinel fails its call with the sentinel's kind, and the TaskError callers get matches
// the sentinel, so the kind survives any number of task boundaries. Written at init only
// (registerKind), read by every failing call.
var kinds = []kindSentinel{
	{KindCancelled, ErrCancelled},
	{KindLost, ErrWorkerLost},
	{KindDeadline, ErrDeadline},
	{KindOwnerDied, ErrOwnerDied}, // before reference_lost: an owner-died error wraps both
	{KindReferenceLost, ErrReferenceLost},
}

// registerKind adds a kind and its sentinel (package actors: "actor_died"). Call it at init
// only: kinds is read without a lock.
func registerKind(kind Kind, sentinel error) {
	kinds = append(kinds, kindSentinel{kind, sentinel})
}

// kindOfSentinel returns the kind registered for sentinel itself.
func kindOfSentinel(target error) (Kind, bool) {
	for _, k := range kinds {
		if k.sentinel == target {
			return k.kind, true
		}
	}
	return "", false
}

// kindOfError returns the kind of the first registered sentinel err wraps.
func kindOfError(err error) (Kind, bool) {
	for _, k := range kinds {
		if errors.Is(err, k.sentinel) {
			return k.kind, true
		}
	}
	return "", false
}
