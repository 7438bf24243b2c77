// Stream set-up: the streams, buckets and their configuration that one jetray deployment
// uses, created or checked by Connect (setup). Owner: Connect, once per client; nothing else
// creates or updates a stream's configuration.

package framework

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// maxConsumers lifts the server's default of 1,000 consumers per stream on the streams that
// get one consumer per client (results) or per actor (actors); -1 does not lift it.
const maxConsumers = 10_000_000

func (c *Client) storage() jetstream.StorageType {
	if c.cfg.memory {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// setup creates or checks the streams and buckets and starts the results subscription.
func (c *Client) setup(ctx context.Context) error {
	n := c.names
	tasks := jetstream.StreamConfig{
		Name:        n.TasksStream(),
		Description: "jetray task calls, one durable consumer per task name",
		Subjects:    []string{n.TasksStreamSubject()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     c.storage(),
		Replicas:    c.cfg.replicas,
		Duplicates:  2 * time.Minute,
		AllowMsgTTL: true, // the task keeper's messages expire (keeper.go)
		// Delayed calls and periodic schedules are message schedules, read by direct get
		// (schedule*.go).
		AllowMsgSchedules: true,
		AllowDirect:       true,
	}
	ts, err := c.ensureStream(ctx, tasks)
	if err != nil {
		return err
	}
	c.sched = c.allowTaskSchedules(ts)
	c.startKeeper(ts)
	results := jetstream.StreamConfig{
		Name:         n.ResultsStream(),
		Description:  "jetray call results, kept until MaxAge",
		Subjects:     []string{n.ResultsStreamSubject()},
		Retention:    jetstream.LimitsPolicy,
		Storage:      c.storage(),
		Replicas:     c.cfg.replicas,
		MaxAge:       c.cfg.resultTTL,
		Duplicates:   2 * time.Minute,
		AllowDirect:  true,
		MaxConsumers: maxConsumers,
		// Deadlines are message schedules stored here (deadline.go).
		AllowMsgSchedules: true,
	}
	rs, err := c.ensureStream(ctx, results)
	if err != nil {
		return err
	}
	c.allowSchedules(ctx, rs)
	actors := jetstream.StreamConfig{
		Name:         n.ActorsStream(),
		Description:  "jetray actor calls; acked calls are purged per actor, MaxAge is a backstop",
		Subjects:     []string{n.ActorsStreamSubject()},
		Retention:    jetstream.LimitsPolicy,
		Storage:      c.storage(),
		Replicas:     c.cfg.replicas,
		MaxAge:       24 * time.Hour,
		Duplicates:   2 * time.Minute,
		MaxConsumers: maxConsumers,
	}
	if _, err := c.ensureStream(ctx, actors); err != nil {
		return err
	}
	dead := jetstream.StreamConfig{
		Name:        n.DeadStream(),
		Description: "jetray dead letters: calls that used up their attempts",
		Subjects:    []string{n.DeadStreamSubject()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     c.storage(),
		Replicas:    c.cfg.replicas,
		MaxAge:      7 * 24 * time.Hour,
	}
	if _, err := c.ensureStream(ctx, dead); err != nil {
		return err
	}
	if _, err := c.ensureStream(ctx, c.eventsStreamConfig()); err != nil {
		return err
	}
	if _, err := c.ensureBucket(ctx, jetstream.KeyValueConfig{
		Bucket:      n.ActorsBucket(),
		Description: "jetray: actor records (a.<id>) and names (n.<name>)",
		Storage:     c.storage(),
		Replicas:    c.cfg.replicas,
		History:     1,
	}); err != nil {
		return err
	}
	cancels, err := c.ensureBucket(ctx, jetstream.KeyValueConfig{
		Bucket:      n.CancelBucket(),
		Description: "jetray: cancelled call IDs",
		Storage:     c.storage(),
		Replicas:    c.cfg.replicas,
		TTL:         c.cfg.resultTTL,
	})
	if err != nil {
		return err
	}
	c.cancels = cancels
	kv, err := c.ensureBucket(ctx, jetstream.KeyValueConfig{
		Bucket:      n.RegistryBucket(),
		Description: "jetray: names served by workers",
		Storage:     c.storage(),
		Replicas:    c.cfg.replicas,
	})
	if err != nil {
		return err
	}
	c.registry = kv
	c.results, err = startResults(ctx, c, rs)
	return err
}

// ensureStream creates cfg's stream, or checks that the existing one has the same retention
// and covers the same subjects.
func (c *Client) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	// Look up first: users without create rights can use streams an admin made.
	cfg.Metadata = c.names.Metadata()
	s, err := c.js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = c.js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // created meanwhile
			s, err = c.js.Stream(ctx, cfg.Name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jetray: stream %s: %w", cfg.Name, err)
	}
	have := s.CachedInfo().Config
	if err := wire.CheckVersion("stream "+cfg.Name, have.Metadata); err != nil {
		return nil, err
	}
	if have.Retention != cfg.Retention || !slices.Equal(have.Subjects, cfg.Subjects) {
		return nil, fmt.Errorf("jetray: stream %s exists with retention %s subjects %v; want %s %v",
			cfg.Name, have.Retention, have.Subjects, cfg.Retention, cfg.Subjects)
	}
	return s, nil
}

func (c *Client) ensureBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	cfg.Metadata = c.names.Metadata()
	kv, err := c.js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = c.js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = c.js.KeyValue(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jetray: bucket %s: %w", cfg.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("jetray: bucket %s: %w", cfg.Bucket, err)
	}
	if err := wire.CheckVersion("bucket "+cfg.Bucket, st.Metadata()); err != nil {
		return nil, err
	}
	return kv, nil
}
