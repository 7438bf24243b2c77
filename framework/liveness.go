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
	v, err := c.Extension(WorkersBucket, func() (any, error) {
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
			w.log.Debug().Err(err).Msg("liveness refresh")
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

// LiveWorkers returns the workers whose liveness keys have not expired, by key.
func LiveWorkers(ctx context.Context, c *Client) (map[string]WorkerInfo, error) {
	kv, err := c.workersBucket(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]WorkerInfo{}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return out, nil
		}
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
