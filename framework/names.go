package framework

import "strings"

// Names are the stream, bucket and subject-prefix names of one deployment (one namespace, see
// WithNamespace), for tools and for users who inspect JetStream directly. In the default
// namespace they equal the constants TasksStream, ResultsStream, ... of this package.
type Names struct {
	Namespace         string // "" for the default namespace
	TasksStream       string // work queue of task calls
	ResultsStream     string // results, Put values and stream values, until the results TTL
	ActorsStream      string // actor method calls
	DeadStream        string // dead letters
	EventsStream      string // the latest state event of each call
	RegistryBucket    string // names served by workers
	ActorsBucket      string // actor records and names
	CancelBucket      string // cancelled call IDs
	WorkersBucket     string // workers' leases
	HandbacksBucket   string // hand-backs per call ID
	IdempotencyBucket string // idempotency keys -> the call holding each
	ObjectsBucket     string // object store of big values
	ClientsBucket     string // clients' liveness keys
	StateBucket       string // durable actors' state snapshots (actors.Durable)
	// TaskSubjectPrefix, ResultSubjectPrefix and ActorSubjectPrefix prefix the subjects of
	// task calls (<prefix><name>), results (<prefix><call id>) and actor calls
	// (<prefix><actor id>.<method>).
	TaskSubjectPrefix, ResultSubjectPrefix, ActorSubjectPrefix string
}

// Names returns the names of the client's deployment.
func (c *Client) Names() Names {
	n := c.names
	prefix := func(streamSubject string) string { return strings.TrimSuffix(streamSubject, ">") }
	return Names{
		Namespace:           n.Namespace(),
		TasksStream:         n.TasksStream(),
		ResultsStream:       n.ResultsStream(),
		ActorsStream:        n.ActorsStream(),
		DeadStream:          n.DeadStream(),
		EventsStream:        n.EventsStream(),
		RegistryBucket:      n.RegistryBucket(),
		ActorsBucket:        n.ActorsBucket(),
		CancelBucket:        n.CancelBucket(),
		WorkersBucket:       n.WorkersBucket(),
		HandbacksBucket:     n.HandbacksBucket(),
		IdempotencyBucket:   n.IdempotencyBucket(),
		ClientsBucket:       n.ClientsBucket(),
		StateBucket:         n.StateBucket(),
		ObjectsBucket:       n.ObjectsBucket(),
		TaskSubjectPrefix:   prefix(n.TasksStreamSubject()),
		ResultSubjectPrefix: prefix(n.ResultsStreamSubject()),
		ActorSubjectPrefix:  prefix(n.ActorsStreamSubject()),
	}
}

// Streams returns the names of the deployment's streams, the KV buckets' and object store's
// backing streams excluded.
func (n Names) Streams() []string {
	return []string{n.TasksStream, n.ResultsStream, n.ActorsStream, n.DeadStream, n.EventsStream}
}
