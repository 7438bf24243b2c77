package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jetray/jetray/internal/lease"
	"github.com/jetray/jetray/internal/wire"
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
	Key     string    `json:"key"`             // the worker's lease key
	Name    string    `json:"name"`            // the worker's name (WithWorkerName)
	Client  string    `json:"client"`          // the worker's client ID
	Started time.Time `json:"started"`         // when the worker's Run took its first lease
	Names   []string  `json:"names,omitempty"` // task names and actor classes' creation names it serves
	// Labels and Capacity are what the worker advertises (WithLabels, WithResources); InUse is
	// the amount of each resource held by the calls and actors it runs, as of its last renewal
	// (at most LivenessInterval old). All three are empty for a worker that declares none.
	Labels   map[string]string  `json:"labels,omitempty"`
	Capacity map[string]float64 `json:"capacity,omitempty"`
	InUse    map[string]float64 `json:"in_use,omitempty"`
}

// leaseMargin is how much earlier than the broker a worker gives up its own lease: room for
// clock-rate differences and for the time between a renewal's send and its storage.
func leaseMargin(ttl time.Duration) time.Duration { return max(ttl/5, 500*time.Millisecond) }

// leaseState is the liveness loop's own copy of the lease it holds.
type leaseState struct {
	key   string
	until time.Time // monotonic: the lease is valid before this instant
}

// lease returns the worker's lease, which its liveness loop writes and runtimes read.
func (w *Worker) lease() *lease.Lease { return w.ls }

func (c *Client) workersBucket(ctx context.Context) (jetstream.KeyValue, error) {
	v, err := c.extension(workersBucketKey{}, func() (any, error) {
		return c.ensureBucket(ctx, jetstream.KeyValueConfig{
			Bucket:      c.names.WorkersBucket(),
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
func (c *Client) bucketGone(err error) bool { return c.dropIfGone(workersBucketKey{}, err) }

// dropIfGone drops the bucket handle cached under key if err says its bucket is gone, and
// reports whether it did.
func (c *Client) dropIfGone(key any, err error) bool {
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) {
		c.dropExtension(key)
		return true
	}
	return false
}

// liveness holds the worker's lease until ctx ends, then deletes it. A lease is a key of
// WorkersBucket created with Create and renewed every LivenessInterval with a compare-and-swap
// Update on its last revision. A renewal that finds the key gone (it expired while the worker
// was stalled or cut off, or the broker lost its memory bucket) means the lease is lost for
// good: the worker never renews it, and takes a new lease under the next generation's key.
// Whatever the worker owned under the old key it must re-claim by compare-and-swap.
//
// A loaded broker can answer a renewal late. A renewal may take as long as the lease has left
// (at least LivenessInterval), and one the worker stopped waiting for may still have been
// stored: the next renewal then finds a newer revision than it asks for. Only this loop writes
// this generation's key, so a newer revision of a key that still exists is the worker's own
// late renewal: the loop reads it and renews on it, keeping the validity it had (it cannot know
// when the late write was stored). A key that is gone is lost, as above.
func (w *Worker) liveness(ctx context.Context) {
	l := w.lease()
	var kv jetstream.KeyValue
	var rev uint64
	var cur leaseState
	gen := 0
	w.mu.Lock()
	names := make([]string, 0, len(w.handlers))
	for n := range w.handlers {
		names = append(names, n)
	}
	w.mu.Unlock()
	started := time.Now().UTC()
	lose := func(why error) {
		if cur.key != "" {
			w.log.Warn().Err(why).Str("lease", cur.key).Msg("lease lost")
		}
		cur = leaseState{}
		l.Clear()
		rev = 0
		gen++
	}
	// adopt reads the key after a renewal was refused for its revision: if it still exists,
	// the stored revision is the worker's own late renewal, and the next one goes on it.
	adopt := func(pctx context.Context) bool {
		e, err := kv.Get(pctx, cur.key)
		if err != nil || e.Operation() != jetstream.KeyValuePut {
			return false
		}
		rev = e.Revision()
		return true
	}
	step := func() {
		wait := LivenessInterval
		if cur.key != "" {
			wait = max(wait, time.Until(cur.until))
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		if kv == nil {
			nkv, err := w.c.workersBucket(pctx)
			if err != nil {
				w.log.Warn().Err(err).Msg("liveness bucket")
				return
			}
			kv = nkv
			if st, err := kv.Status(pctx); err == nil && st.TTL() > 0 {
				l.SetTTL(st.TTL())
			}
		}
		ttl := l.TTL()
		sent := time.Now()
		if rev == 0 {
			key := wire.LeaseKey(w.cfg.name, w.c.id, gen)
			info, _ := json.Marshal(w.workerInfo(key, started, names))
			r, err := kv.Create(pctx, key, info)
			if err != nil {
				if errors.Is(err, jetstream.ErrKeyExists) {
					gen++ // an earlier lease of ours under that key: never reuse it
				} else if w.c.bucketGone(err) {
					kv = nil
				}
				w.log.Debug().Err(err).Str("lease", key).Msg("lease create")
				return
			}
			rev, cur = r, leaseState{key: key, until: sent.Add(ttl - leaseMargin(ttl))}
			l.Set(cur.key, cur.until)
			return
		}
		info, _ := json.Marshal(w.workerInfo(cur.key, started, names))
		r, err := kv.Update(pctx, cur.key, info, rev)
		switch {
		case err == nil:
			rev = r
			cur.until = sent.Add(ttl - leaseMargin(ttl))
			l.Set(cur.key, cur.until)
		case w.c.bucketGone(err):
			kv = nil
			lose(err)
		case isConflictErr(err) && !errors.Is(err, jetstream.ErrKeyNotFound) && adopt(pctx):
			w.log.Debug().Str("lease", cur.key).Msg("lease renewal stored late; renewing on it")
		case isConflictErr(err):
			lose(err)
		default:
			// Unreachable broker or a slow one: the lease runs out by time if this lasts.
			w.log.Debug().Err(err).Msg("lease renewal")
		}
		if cur.key != "" && time.Now().After(cur.until) {
			lose(fmt.Errorf("not renewed before it ran out: %w", err))
		}
	}
	step()
	t := time.NewTicker(LivenessInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if kv != nil && cur.key != "" {
				dctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = kv.Delete(dctx, cur.key, jetstream.LastRevision(rev))
				cancel()
			}
			l.Clear()
			return
		case <-t.C:
			step()
		}
	}
}

// workerInfo is the value of the worker's lease key: who it is, what it serves, its labels
// and capacity, and the resources in use now.
func (w *Worker) workerInfo(key string, started time.Time, names []string) wire.WorkerInfo {
	return wire.WorkerInfo{Key: key, Name: w.cfg.name, Client: w.c.id, Started: started, Names: names,
		Labels: w.cfg.labels, Capacity: w.cfg.resources, InUse: w.pool.inUse()}
}

// isConflictErr reports a compare-and-swap that found another revision (or no key).
func isConflictErr(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) ||
		strings.Contains(err.Error(), "wrong last sequence")
}

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
		var wi wire.WorkerInfo // the record as workers write it
		if json.Unmarshal(e.Value(), &wi) == nil && time.Since(e.Created()) < LivenessTTL {
			out[k] = WorkerInfo(wi)
		}
	}
	return out, nil
}
