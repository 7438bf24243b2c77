package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// WorkersBucket is the KV bucket where running workers announce themselves: key = the
// worker's liveness key, refreshed every LivenessInterval; a key older than the bucket's TTL
// (LivenessTTL) has expired, which means its worker is gone.
const WorkersBucket = "jetray_workers"

const (
	// LivenessInterval is how often a running worker refreshes its key.
	LivenessInterval = time.Second
	// LivenessTTL is how long a worker's key outlives its last refresh.
	LivenessTTL = 5 * time.Second
)

// WorkerInfo is what a worker records about itself in WorkersBucket.
type WorkerInfo struct {
	Key     string    `json:"key"`
	Name    string    `json:"name"`
	Client  string    `json:"client"`
	Started time.Time `json:"started"`
	Names   []string  `json:"names,omitempty"` // task and actor-class names it serves
}

// LivenessKey returns the worker's key in WorkersBucket (its name made subject-safe, plus its
// client ID), recorded by runtimes that place work on it (actors).
func (w *Worker) LivenessKey() string {
	return strings.NewReplacer(".", "_", "*", "_", ">", "_", " ", "_").Replace(w.cfg.name) + "-" + w.c.id
}

func (c *Client) workersBucket(ctx context.Context) (jetstream.KeyValue, error) {
	v, err := c.Extension(workersBucketKey{}, func() (any, error) {
		return c.ensureBucket(ctx, jetstream.KeyValueConfig{
			Bucket:      WorkersBucket,
			Description: "jetray: live workers (keys expire when a worker stops refreshing them)",
			TTL:         LivenessTTL,
			Storage:     jetstream.MemoryStorage,
			Replicas:    c.cfg.replicas,
		})
	})
	if err != nil {
		return nil, err
	}
	return v.(jetstream.KeyValue), nil
}

type workersBucketKey struct{}

// bucketGone reports errors meaning the bucket no longer exists (a broker restart loses the
// memory-stored bucket): the cached handle is dropped so the next use recreates it.
func (c *Client) bucketGone(err error) bool {
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) {
		c.dropExtension(workersBucketKey{})
		return true
	}
	return false
}

// liveness refreshes the worker's key until done closes, then deletes it.
func (w *Worker) liveness(done <-chan struct{}) {
	ctx := context.Background()
	kv, err := w.c.workersBucket(ctx)
	if err != nil {
		w.log.Error().Err(err).Msg("liveness bucket")
		return
	}
	w.mu.Lock()
	names := make([]string, 0, len(w.handlers))
	for n := range w.handlers {
		names = append(names, n)
	}
	w.mu.Unlock()
	info, _ := json.Marshal(WorkerInfo{Key: w.LivenessKey(), Name: w.cfg.name, Client: w.c.id, Started: time.Now().UTC(), Names: names})
	put := func() {
		pctx, cancel := context.WithTimeout(ctx, LivenessInterval)
		defer cancel()
		if _, err := kv.Put(pctx, w.LivenessKey(), info); err != nil {
			w.log.Warn().Err(err).Msg("liveness refresh")
			if w.c.bucketGone(err) {
				if nkv, err := w.c.workersBucket(pctx); err == nil {
					kv = nkv
					_, _ = kv.Put(pctx, w.LivenessKey(), info)
				}
			}
		}
	}
	put()
	t := time.NewTicker(LivenessInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			dctx, cancel := context.WithTimeout(ctx, time.Second)
			_ = kv.Delete(dctx, w.LivenessKey())
			cancel()
			return
		case <-t.C:
			put()
		}
	}
}

// ErrLivenessWarmingUp: the liveness bucket is younger than LivenessTTL (just created, or
// recreated after a broker restart), so a missing key does not yet mean a dead worker.
var ErrLivenessWarmingUp = errors.New("jetray: worker liveness bucket warming up")

// LiveWorkers returns the workers whose liveness keys have not expired, by key. It returns
// ErrLivenessWarmingUp while the bucket is younger than LivenessTTL.
func LiveWorkers(ctx context.Context, c *Client) (map[string]WorkerInfo, error) {
	kv, err := c.workersBucket(ctx)
	if err != nil {
		return nil, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		c.bucketGone(err)
		return nil, fmt.Errorf("jetray: workers bucket: %w", err)
	}
	if kvs, ok := st.(*jetstream.KeyValueBucketStatus); ok && time.Since(kvs.StreamInfo().Created) < LivenessTTL {
		return nil, ErrLivenessWarmingUp
	}
	out := map[string]WorkerInfo{}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return out, nil
		}
		c.bucketGone(err)
		return nil, fmt.Errorf("jetray: list workers: %w", err)
	}
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var wi WorkerInfo
		if json.Unmarshal(e.Value(), &wi) == nil && time.Since(e.Created()) < LivenessTTL {
			out[k] = wi
		}
	}
	return out, nil
}
