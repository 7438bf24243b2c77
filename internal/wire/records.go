package wire

import "time"

// Values of RegistryEntry.Kind.
const (
	RegistryKindTask  = "task"  // a task name
	RegistryKindActor = "actor" // an ActorCreationName: the class can be instantiated
)

// RegistryEntry is the value of RegistryKey(name) in RegistryBucket: the last worker that
// registered the name. Its JSON is {"at","kind","name","worker"}, fields in that order.
type RegistryEntry struct {
	// At is when the name was registered, UTC, whole seconds on the wire (RFC 3339).
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`   // RegistryKindTask or RegistryKindActor
	Name   string    `json:"name"`   // the registered name
	Worker string    `json:"worker"` // the worker's name
	// Shapes are the distinct label sets and capacities of the workers that registered the
	// name (WorkerShape, AddShape): absent when none of them declared any, so a deployment
	// without labels or resources writes what it always wrote. Workers merge their shape in
	// by compare-and-swap on the entry's revision.
	Shapes []WorkerShape `json:"shapes,omitempty"`
}

// NewRegistryEntry returns the entry a worker writes when it registers name, with at in UTC
// truncated to the second (the precision the registry has always had).
func NewRegistryEntry(name, kind, worker string, at time.Time) RegistryEntry {
	return RegistryEntry{At: at.UTC().Truncate(time.Second), Kind: kind, Name: name, Worker: worker}
}

// WorkerInfo is the value of a worker's lease key (LeaseKey) in WorkersBucket, renewed while
// the worker runs.
type WorkerInfo struct {
	Key     string    `json:"key"`             // the lease key itself
	Name    string    `json:"name"`            // the worker's name
	Client  string    `json:"client"`          // the worker's client ID
	Started time.Time `json:"started"`         // when the worker's Run started taking leases
	Names   []string  `json:"names,omitempty"` // task and ActorCreationName names it serves
	// Labels and Capacity are what the worker advertises (WithLabels, WithResources); InUse
	// is the amount of each resource held by the calls and actors it runs, as of the renewal.
	Labels   map[string]string  `json:"labels,omitempty"`
	Capacity map[string]float64 `json:"capacity,omitempty"`
	InUse    map[string]float64 `json:"in_use,omitempty"`
}

// CancelEntry is the value of a call ID in CancelBucket: the call was cancelled. Its JSON is
// {"at","by"}.
type CancelEntry struct {
	At time.Time `json:"at"` // when, UTC (RFC 3339 with nanoseconds)
	By string    `json:"by"` // the ID of the client that cancelled it
}

// Operations of a ControlRequest.
const (
	// ControlPing asks whether the host still holds lease ControlRequest.Lease ("" for its
	// current one); a judge asks before taking actors over.
	ControlPing = "ping"
	// ControlKill asks the host to kill actor ControlRequest.ID for ControlRequest.Cause.
	ControlKill = "kill"
	// ControlRestart asks the host to kill actor ControlRequest.ID and have it restarted
	// (actors.Kill with AllowRestart): the host sets its record back to PENDING with one more
	// restart, stops the instance, and submits a new creation call. A host that does not know
	// the op answers "bad control message" and the killer restarts the actor itself.
	ControlRestart = "restart"
)

// ControlRequest is the JSON payload of a request to ActorControlSubject.
type ControlRequest struct {
	Op    string `json:"op"`              // ControlPing, ControlKill or ControlRestart
	ID    string `json:"id,omitempty"`    // the actor, for ControlKill and ControlRestart
	Lease string `json:"lease,omitempty"` // the lease asked about, for ControlPing
	Cause string `json:"cause,omitempty"` // why, for ControlKill
}

// ControlReply is the JSON payload of a host's answer: {"ok":true} or {"error":"..."}.
type ControlReply struct {
	OK    bool   `json:"ok,omitempty"`    // the request was done (kill) or the lease is held (ping)
	Error string `json:"error,omitempty"` // otherwise why not: "lease lost", "not here", "bad control message"
}
