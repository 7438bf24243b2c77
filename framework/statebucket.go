package framework

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// StateBucket is the KV bucket of durable actors' state snapshots (in the default namespace;
// see Client.Names): one key per durable actor (actors.Durable), written after each of its
// calls. It is created by the first host that places a durable actor.
const StateBucket = "jetray_state"

type stateBucketKey struct{}

// stateBucket opens (or creates) the durable actor state bucket: History 1, no TTL (a
// snapshot lives as long as its actor), the client's storage and replicas.
func (c *Client) stateBucket(ctx context.Context) (jetstream.KeyValue, error) {
	v, err := c.extension(stateBucketKey{}, func() (any, error) {
		return c.ensureBucket(ctx, jetstream.KeyValueConfig{
			Bucket:      c.names.StateBucket(),
			Description: "jetray: durable actors' state snapshots (a.<actor id>)",
			History:     1,
			Storage:     c.storage(),
			Replicas:    c.cfg.replicas,
		})
	})
	if err != nil {
		return nil, err
	}
	return v.(jetstream.KeyValue), nil
}

// failureOf is the TaskError a worker stores for a handler that returned err, without the
// call's own fields: its kind, message, user error code and detail.
func failureOf(err error) *TaskError {
	kind := KindError
	var ce *callError
	if errors.As(err, &ce) {
		kind = ce.kind
	} else if k, ok := kindOfError(err); ok {
		kind = k
	}
	code, detail := userErrorCode(err)
	return &TaskError{Kind: kind, Message: err.Error(), Code: code, Detail: detail}
}
