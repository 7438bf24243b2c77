package wire

// Headers of jetray messages. NATS headers are case-sensitive: use these constants. The NATS
// headers jetray sets (Nats-Msg-Id, Nats-Expected-Last-Subject-Sequence) are jetstream's
// MsgIDHeader and ExpectedLastSubjSeqHeader.
const (
	// HeaderID carries the call ID on calls, and on the results stored by PublishFailure,
	// Cancel, Put and deadline schedules; a call without a valid one is terminated, as no
	// result can be addressed. A worker's results and stream values do not carry it: readers
	// of results take the call ID from the subject.
	HeaderID = "Jetray-Id"
	// HeaderTask carries the call's name on calls: the task name, MethodCallName for actor
	// method calls, ActorCreationName for creations. Informational: workers dispatch by
	// consumer.
	HeaderTask = "Jetray-Task"
	// HeaderReply carries the result subject on calls; it must equal ResultSubject(call ID).
	// It is a header because PublishAsync uses the message's reply field for the PubAck.
	HeaderReply = "Jetray-Reply"
	// HeaderCodec names the codec of the payload of calls and ok results; absent means "json".
	HeaderCodec = "Jetray-Codec"
	// HeaderParent carries, on a call made from inside a running call, that call's ID.
	HeaderParent = "Jetray-Parent"
	// HeaderOwner carries, on a call made from inside a running call, the owner of the call
	// tree: the actor the tree runs in (an actor ID), or else the client at its root (a
	// client ID). Actors created inside the tree are owned by it (package actors).
	HeaderOwner = "Jetray-Owner"

	// HeaderMaxRetries is CallOptions.MaxRetries, in decimal; absent means 3.
	HeaderMaxRetries = "Jetray-Max-Retries"
	// HeaderRetryErrors is "1" when CallOptions.RetryErrors is set; absent means not set.
	HeaderRetryErrors = "Jetray-Retry-Errors"
	// HeaderBackoff is CallOptions.BackoffMin and BackoffMax as "<min>,<max>" in milliseconds;
	// absent means 100,10000.
	HeaderBackoff = "Jetray-Backoff"
	// HeaderTimeout is CallOptions.Timeout in milliseconds; absent means none.
	HeaderTimeout = "Jetray-Timeout"
	// HeaderStreamWindow is CallOptions.StreamWindow, in decimal; absent means 0, no bound.
	HeaderStreamWindow = "Jetray-Stream-Window"

	// HeaderStatus is StatusOK or StatusError on results (absent on stream values).
	HeaderStatus = "Jetray-Status"
	// HeaderAttempt is the attempt (from 1) that produced a result, in decimal.
	HeaderAttempt = "Jetray-Attempt"
	// HeaderWorker names the worker that produced a result.
	HeaderWorker = "Jetray-Worker"
	// HeaderObject names the object in ObjectsBucket that holds the payload of a call, an ok
	// result or a Put value; the message then has no payload.
	HeaderObject = "Jetray-Object"

	// HeaderDeadReason says why a call was dead-lettered.
	HeaderDeadReason = "Jetray-Dead-Reason"
	// HeaderDeadAttempts is the number of attempts a dead-lettered call had, in decimal.
	HeaderDeadAttempts = "Jetray-Dead-Attempts"
	// HeaderDeadSubject is the subject a dead-lettered call was published to.
	HeaderDeadSubject = "Jetray-Dead-Subject"

	// HeaderActor carries the actor ID on actor creation and method calls; on a creation it
	// equals the creation call's HeaderID.
	HeaderActor = "Jetray-Actor"
	// HeaderMaxConcurrency is the actor's max_concurrency on creation calls, in decimal, at
	// least 1.
	HeaderMaxConcurrency = "Jetray-Max-Concurrency"
	// HeaderActorName is the actor's name on creation calls of named actors (informational:
	// the name is bound in ActorsBucket before the call is sent).
	HeaderActorName = "Jetray-Actor-Name"
	// HeaderActorEpoch is, on the creation calls of restarts and hand-overs, the record epoch
	// the call is meant for, in decimal; absent means 0.
	HeaderActorEpoch = "Jetray-Actor-Epoch"
)

// Values of HeaderStatus.
const (
	StatusOK    = "ok"
	StatusError = "error"
)
