package framework

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"

	"github.com/jetray/jetray/internal/wire"
)

// Stream, bucket and subject names of the default namespace (see WithNamespace: a client in
// namespace ns uses JETRAY_<NS>_TASKS, jetray_<ns>_registry, jetray_<ns>.task.<name>, and so
// on). They are stable: workers and drivers of different builds interoperate as long as these
// stay the same. The whole grammar, with the tokens reserved for priorities, worker labels
// and actor concurrency groups, is in docs/architecture.md (Subjects).
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
	// jetray.dead.<name>, with the reason in the Jetray-Dead-Reason header.
	DeadStream = "JETRAY_DEAD"
	// DeadSubjectPrefix prefixes dead-letter subjects.
	DeadSubjectPrefix = "jetray.dead."
	// CancelBucket is the KV bucket of cancelled call IDs, watched by every worker.
	CancelBucket = "jetray_cancel"
	// RegistryBucket is the KV bucket where workers record the names they serve.
	RegistryBucket = "jetray_registry"
	// TaskSubjectPrefix prefixes task subjects: jetray.task.<name>.
	TaskSubjectPrefix = "jetray.task."
	// ResultSubjectPrefix prefixes result subjects: jetray.result.<task id>, where a task id is
	// <client id>.<sequence>, so one client's results match jetray.result.<client id>.>.
	ResultSubjectPrefix = "jetray.result."
)

// ValidName reports whether name can be used as a task or actor name: 1 to 128 characters
// from A-Z, a-z, 0-9, '_' and '-'. Names become NATS subject tokens and consumer names.
// Errors: ErrInvalidName, wrapped with the name.
func ValidName(name string) error { return wire.ValidName(name) }

// TaskSubject returns the subject task calls of name are published to, in the default
// namespace.
func TaskSubject(name string) string { return TaskSubjectPrefix + name }

// ResultSubject returns the subject the result of the call with this ID is published to, in
// the default namespace.
func ResultSubject(id string) string { return ResultSubjectPrefix + id }

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

func (g *idGen) next() string { return wire.CallID(g.prefix, g.seq.Add(1)) }

// ClientIDOf returns the client part of a call ID, or "" if id is not a call ID.
func ClientIDOf(id string) string { return wire.ClientIDOf(id) }
