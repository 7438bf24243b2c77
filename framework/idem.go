// Idempotency keys: a caller names a call with a key (IdempotencyKey) so that submitting it
// again (an HTTP handler retried by its client, a driver restarted) does not run it again.
// The key is claimed in the KV bucket jetray_idempotency by an atomic create of
// k.<hash of the key> -> {call ID, name, input hash}, whose TTL is the results TTL. The
// submitter whose create succeeds submits its call; every later submission with the key,
// from any client, finds the entry and gets a future of that call instead (its ID, resolved
// from the results stream: the stored result once it exists), or ErrIdempotencyConflict if
// its name or input differs. Nobody changes an entry once created; the TTL removes it.
//
// A submission that claimed the key and then could not publish its call stores its failure
// as the call's result, so the later ones do not wait for nothing. A process that dies
// between the claim and the broker's storing of its call (a window of one publish) leaves the
// key bound to a call that never runs, until the TTL; later submissions read it as a
// reference does, so they fail with ErrOwnerDied once that process is judged gone.

package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// IdempotencyKey gives the call a key: while the results TTL (default 1 h) has not passed
// since the first submission with key, a submission with the same key, from this or any
// other client, runs nothing and returns a future of that first call (same ID; its result,
// stored or to come). The first call's name and encoded input must match: otherwise the
// future fails with ErrIdempotencyConflict and nothing is submitted. Keys are global to the
// namespace, not per task; any string works (it is hashed). Use it per call, with Options:
// on a task's definition every call would share the key. Default: none. Not for streaming
// calls or RemoteFrom (their futures fail with an error saying so). Each keyed submission
// costs one KV create (and a read for a repeated key).
func IdempotencyKey(key string) TaskOption {
	return func(c *taskConfig) { c.IdempotencyKey = key }
}

// IdempotencyBucket is the KV bucket of idempotency keys (in the default namespace; see
// Client.Names): each key, hashed, names the call that holds it, for the results TTL. It is
// created by the first client that submits a call with an IdempotencyKey.
const IdempotencyBucket = "jetray_idempotency"

type idempotencyBucketKey struct{}

// idempotencyBucket opens (or creates) the idempotency bucket, with the results TTL.
func (c *Client) idempotencyBucket(ctx context.Context) (jetstream.KeyValue, error) {
	v, err := c.extension(idempotencyBucketKey{}, func() (any, error) {
		return c.ensureBucket(ctx, jetstream.KeyValueConfig{
			Bucket:      c.names.IdempotencyBucket(),
			Description: "jetray: idempotency keys -> the call that holds each",
			TTL:         c.resultsTTL(),
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

// claimKey binds key to call id of name with encoded input data, unless another call holds
// it: first is then that call's ID. Errors: ErrIdempotencyConflict (wrapped) when the holder
// has another name or input; the bucket cannot be read or written before ctx ends.
func (c *Client) claimKey(ctx context.Context, key, name string, data []byte, id string) (first string, err error) {
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	kv, err := c.idempotencyBucket(ctx)
	if err != nil {
		return "", fmt.Errorf("jetray: idempotency key: %w", err)
	}
	hash := wire.InputHash(name, c.cfg.codec.Name(), data)
	entry, _ := json.Marshal(wire.IdempotencyEntry{ID: id, Name: name, Hash: hash, At: time.Now().UTC()})
	k := wire.IdempotencyKVKey(key)
	for range 5 {
		_, err := kv.Create(ctx, k, entry)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("jetray: idempotency key: %w", err)
		}
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired between the two: claim it again
		}
		if err != nil {
			return "", fmt.Errorf("jetray: idempotency key: %w", err)
		}
		var held wire.IdempotencyEntry
		if err := json.Unmarshal(e.Value(), &held); err != nil || !wire.ValidCallID(held.ID) {
			return "", fmt.Errorf("jetray: idempotency key: unreadable entry %q", e.Value())
		}
		if held.Hash != hash {
			return "", fmt.Errorf("%w: the key is held by call %s of %s, submitted at %s", ErrIdempotencyConflict,
				held.ID, held.Name, held.At.Format(time.RFC3339))
		}
		return held.ID, nil
	}
	return "", fmt.Errorf("jetray: idempotency key: claimed and expired repeatedly")
}

// keyed handles the idempotency key of a call of name about to be submitted as id with
// encoded input data. done reports that f replaces the submission: a future of the call that
// holds the key, or a failed one.
func keyed[Out any](ctx context.Context, c *Client, key, name, id string, data []byte) (f *futures.Future[Out], done bool) {
	first, err := c.claimKey(ctx, key, name, data, id)
	if err != nil {
		return futures.Failed[Out](id, err), true
	}
	if first == id {
		return nil, false
	}
	return follow[Out](c, first), true
}

// follow returns a future of call id, submitted earlier (by any client), resolved from the
// results stream when its result is stored. It waits on the client's background set, until
// the result comes or the client closes (ErrClosed).
func follow[Out any](c *Client, id string) *futures.Future[Out] {
	p := futures.NewPromise[Out](id)
	if !c.bg.Go(func() {
		ctx, cancel := c.lifetime(context.Background())
		defer cancel()
		hdr, data, err := c.awaitResult(ctx, id)
		if err != nil {
			if c.closed.Load() {
				err = ErrClosed
			}
			p.Reject(err)
			return
		}
		deliverResult(c, promiseSink[Out]{p}, id, hdr, data)
	}) {
		p.Reject(ErrClosed)
	}
	return p.Future()
}

// errKeyUnsupported fails the calls that cannot carry an idempotency key.
func errKeyUnsupported(what string) error {
	return fmt.Errorf("jetray: IdempotencyKey is not supported for %s", what)
}
