package framework

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
)

// Stream, subject and header names of the wire protocol. They are stable: workers and drivers
// of different builds interoperate as long as these stay the same.
const (
	// TasksStream is the work-queue stream holding submitted task calls.
	TasksStream = "JETRAY_TASKS"
	// ResultsStream is the limits stream holding task results until their TTL.
	ResultsStream = "JETRAY_RESULTS"
	// ActorsStream is the limits stream holding actor method calls, one subject per actor.
	ActorsStream = "JETRAY_ACTORS"
	// ActorsBucket is the KV bucket of actor records and actor names.
	ActorsBucket = "jetray_actors"
	// ActorSubjectPrefix prefixes actor call subjects: jetray.actor.<actor id>.<method>.
	ActorSubjectPrefix = "jetray.actor."
	// DeadStream is the limits stream keeping calls that used up their attempts, on
	// jetray.dead.<name>, with the reason in Jetray-Dead-Reason.
	DeadStream = "JETRAY_DEAD"
	// DeadSubjectPrefix prefixes dead-letter subjects.
	DeadSubjectPrefix = "jetray.dead."
	// HeaderDeadReason says why a call was dead-lettered; HeaderDeadAttempts how many attempts
	// it had; HeaderDeadSubject the subject it was published to.
	HeaderDeadReason   = "Jetray-Dead-Reason"
	HeaderDeadAttempts = "Jetray-Dead-Attempts"
	HeaderDeadSubject  = "Jetray-Dead-Subject"
	// CancelBucket is the KV bucket of cancelled call IDs, watched by every worker.
	CancelBucket = "jetray_cancel"
	// RegistryBucket is the KV bucket where workers record the names they serve.
	RegistryBucket = "jetray_registry"

	// TaskSubjectPrefix prefixes task subjects: jetray.task.<name>.
	TaskSubjectPrefix = "jetray.task."
	// ResultSubjectPrefix prefixes result subjects: jetray.result.<task id>, where a task id is
	// <client id>.<sequence>, so one client's results match jetray.result.<client id>.>.
	ResultSubjectPrefix = "jetray.result."

	// HeaderID carries the call's ID (also used as Nats-Msg-Id for publish de-duplication).
	HeaderID = "Jetray-Id"
	// HeaderTask carries the task name.
	HeaderTask = "Jetray-Task"
	// HeaderReply carries the subject the result is published to.
	HeaderReply = "Jetray-Reply"
	// HeaderCodec names the codec of the payload; absent means "json".
	HeaderCodec = "Jetray-Codec"
	// HeaderTimeout is the per-attempt timeout in milliseconds; absent means none.
	HeaderTimeout = "Jetray-Timeout"
	// HeaderMaxRetries is the number of retries after system failures (dead worker, lost ack).
	HeaderMaxRetries = "Jetray-Max-Retries"
	// HeaderRetryErrors is "1" when application errors are retried too.
	HeaderRetryErrors = "Jetray-Retry-Errors"
	// HeaderBackoff is "min,max" in milliseconds between attempts after application errors.
	HeaderBackoff = "Jetray-Backoff"
	// HeaderParent is the ID of the task that submitted this one, if any.
	HeaderParent = "Jetray-Parent"
	// HeaderActor carries the actor ID on actor creation and method calls.
	HeaderActor = "Jetray-Actor"
	// HeaderStatus is "ok" or "error" on a result message.
	HeaderStatus = "Jetray-Status"
	// HeaderAttempt is the attempt (1-based) that produced a result.
	HeaderAttempt = "Jetray-Attempt"
	// HeaderWorker names the worker that produced a result.
	HeaderWorker = "Jetray-Worker"

	statusOK    = "ok"
	statusError = "error"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ValidName reports whether name can be used as a task or actor name: 1 to 128 characters
// from A-Z, a-z, 0-9, '_' and '-'. Names become NATS subject tokens and consumer names.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %q (use 1-128 of A-Z a-z 0-9 _ -)", ErrInvalidName, name)
	}
	return nil
}

// TaskSubject returns the subject task calls of name are published to.
func TaskSubject(name string) string { return TaskSubjectPrefix + name }

// ResultSubject returns the subject the result of the call with this ID is published to.
func ResultSubject(id string) string { return ResultSubjectPrefix + id }

// taskConsumerName is the durable consumer shared by every worker serving name.
func taskConsumerName(name string) string { return "task-" + name }

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// newClientID returns 12 random base62 characters (about 71 bits).
func newClientID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("jetray: crypto/rand failed: %v", err))
	}
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b[:])
}

// idGen hands out call IDs <client id>.<base36 sequence>.
type idGen struct {
	prefix string
	seq    atomic.Uint64
}

func (g *idGen) next() string {
	n := g.seq.Add(1)
	buf := make([]byte, 0, len(g.prefix)+1+13)
	buf = append(buf, g.prefix...)
	buf = append(buf, '.')
	return string(strconv.AppendUint(buf, n, 36))
}

// ClientIDOf returns the client part of a call ID, or "" if id is not a call ID.
func ClientIDOf(id string) string {
	i := strings.IndexByte(id, '.')
	if i <= 0 {
		return ""
	}
	return id[:i]
}
