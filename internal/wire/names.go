package wire

import (
	"fmt"
	"strings"
)

// MaxNamespaceLen is the longest namespace ValidNamespace accepts.
const MaxNamespaceLen = 32

// Names derives every stream, bucket, object store, subject and consumer name of one
// namespace. The zero value is the default namespace "", whose names are exactly those of
// deployments made before namespaces existed (JETRAY_TASKS, jetray_registry, jetray.task.<name>,
// ...). A Names is a small immutable value: copy it freely; it is safe for concurrent use.
type Names struct {
	ns     string
	rootNS string // "jetray_<ns>"; "" in the default namespace
}

// For returns the names of namespace ns ("" is the default namespace). Errors: one wrapping
// ErrInvalidNamespace when ns is not valid (see ValidNamespace).
func For(ns string) (Names, error) {
	if err := ValidNamespace(ns); err != nil {
		return Names{}, err
	}
	if ns == "" {
		return Names{}, nil
	}
	return Names{ns: ns, rootNS: "jetray_" + ns}, nil
}

// ValidNamespace reports whether ns can be used as a namespace: "" (the default), or 1 to
// MaxNamespaceLen characters from a-z, 0-9 and '-', starting and ending with a letter or digit.
// Lower case only, so the upper-cased stream names of two namespaces never coincide; no '_',
// so the namespace and the kind in a name such as jetray_<ns>_actors stay apart. The error
// wraps ErrInvalidNamespace.
func ValidNamespace(ns string) error {
	if ns == "" {
		return nil
	}
	ok := len(ns) <= MaxNamespaceLen && ns[0] != '-' && ns[len(ns)-1] != '-'
	for i := 0; ok && i < len(ns); i++ {
		ch := ns[i]
		ok = ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-'
	}
	if !ok {
		return fmt.Errorf("%w: %q (use 1-32 of a-z 0-9 -, starting and ending with a letter or digit)", ErrInvalidNamespace, ns)
	}
	return nil
}

// Namespace returns the namespace, "" for the default one.
func (n Names) Namespace() string { return n.ns }

// root is the first token of every subject: "jetray", or "jetray_<ns>".
func (n Names) root() string {
	if n.rootNS == "" {
		return "jetray"
	}
	return n.rootNS
}

// stream returns JETRAY_<KIND> or JETRAY_<NS>_<KIND>.
func (n Names) stream(kind string) string {
	if n.ns == "" {
		return "JETRAY_" + kind
	}
	return "JETRAY_" + strings.ToUpper(n.ns) + "_" + kind
}

// bucket returns jetray_<kind> or jetray_<ns>_<kind>.
func (n Names) bucket(kind string) string {
	if n.ns == "" {
		return "jetray_" + kind
	}
	return "jetray_" + n.ns + "_" + kind
}

// TasksStream is the work-queue stream of task calls and actor creation calls: JETRAY_TASKS,
// or JETRAY_<NS>_TASKS.
func (n Names) TasksStream() string { return n.stream("TASKS") }

// ResultsStream is the limits stream of results, Put values and stream values: JETRAY_RESULTS.
func (n Names) ResultsStream() string { return n.stream("RESULTS") }

// ActorsStream is the limits stream of actor method calls: JETRAY_ACTORS.
func (n Names) ActorsStream() string { return n.stream("ACTORS") }

// DeadStream is the limits stream of dead letters: JETRAY_DEAD.
func (n Names) DeadStream() string { return n.stream("DEAD") }

// EventsStream is the memory stream of the latest state event of each call: JETRAY_EVENTS.
func (n Names) EventsStream() string { return n.stream("EVENTS") }

// Streams returns every stream of the namespace, in the order above.
func (n Names) Streams() []string {
	return []string{n.TasksStream(), n.ResultsStream(), n.ActorsStream(), n.DeadStream(), n.EventsStream()}
}

// RegistryBucket is the KV bucket of the names workers serve (keys RegistryKey, values
// RegistryEntry): jetray_registry, or jetray_<ns>_registry.
func (n Names) RegistryBucket() string { return n.bucket("registry") }

// ActorsBucket is the KV bucket of actor records (ActorRecordKey) and actor names
// (ActorNameKey): jetray_actors.
func (n Names) ActorsBucket() string { return n.bucket("actors") }

// CancelBucket is the KV bucket of cancelled calls (key: the call ID, value CancelEntry):
// jetray_cancel.
func (n Names) CancelBucket() string { return n.bucket("cancel") }

// WorkersBucket is the memory KV bucket of worker leases (LeaseKey, WorkerInfo): jetray_workers.
func (n Names) WorkersBucket() string { return n.bucket("workers") }

// HandbacksBucket is the KV bucket counting, per call ID, the deliveries handed back without
// running (value: a decimal count): jetray_handbacks.
func (n Names) HandbacksBucket() string { return n.bucket("handbacks") }

// IdempotencyBucket is the KV bucket of idempotency keys (IdempotencyKey, value
// IdempotencyEntry): jetray_idempotency.
func (n Names) IdempotencyBucket() string { return n.bucket("idempotency") }

// StateBucket is the KV bucket of durable actors' state snapshots (ActorStateKey, value
// StateSnapshot): jetray_state, or jetray_<ns>_state.
func (n Names) StateBucket() string { return n.bucket("state") }

// KVBuckets returns every KV bucket of the namespace, in the order above.
func (n Names) KVBuckets() []string {
	return []string{n.RegistryBucket(), n.ActorsBucket(), n.CancelBucket(), n.WorkersBucket(), n.HandbacksBucket(),
		n.IdempotencyBucket(), n.ClientsBucket(), n.StateBucket()}
}

// ObjectsBucket is the object store of values too big for one message (InputObject,
// OutputObject, PutObject): jetray_objects, or jetray_<ns>_objects.
func (n Names) ObjectsBucket() string { return n.bucket("objects") }
