package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
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

// LivenessKey returns the worker's current lease key in WorkersBucket: its name made
// subject-safe, its client ID and, after the first lease it lost, the lease's generation. It
// is "" before Run has taken a lease. Runtimes record it on what the worker owns (actors).
func (w *Worker) LivenessKey() string { return w.lease().Key() }

// LeaseKey is LivenessKey under the name the ownership protocol uses.
func (w *Worker) LeaseKey() string { return w.lease().Key() }

// Lease returns the worker's lease, for runtimes that check it on every call (lock-free).
func (w *Worker) Lease() *Lease { return w.lease() }

// LeaseValid reports whether the worker can still prove its lease: it renewed it less than
// the lease period (the bucket's TTL) minus a safety margin ago, by its own monotonic clock.
// The broker expires the key no earlier than that, so a worker that stops serving when
// LeaseValid turns false stops before anyone may judge it dead and take its work over.
func (w *Worker) LeaseValid() bool { return w.lease().Valid() }

// LeaseTTL returns the lease period of the worker's current lease bucket (LivenessTTL unless
// the bucket was created with another TTL).
func (w *Worker) LeaseTTL() time.Duration { return w.lease().TTL() }

// leaseMargin is how much earlier than the broker a worker gives up its own lease: room for
// clock-rate differences and for the time between a renewal's send and its storage.
func leaseMargin(ttl time.Duration) time.Duration { return max(ttl/5, 500*time.Millisecond) }

// Lease is a worker's lease on what it owns: a key in WorkersBucket that the worker renews
// by compare-and-swap while it runs. Only the worker's liveness loop changes it; anyone may
// read it concurrently.
type Lease struct {
	cur atomic.Value // leaseState
	ttl atomic.Int64 // bucket TTL in nanoseconds
}

// Key returns the current lease key, "" while the worker holds none.
func (l *Lease) Key() string {
	k, _ := l.cur.Load().(leaseState)
	return k.key
}

// Valid reports whether the current lease was renewed less than TTL minus a safety margin
// ago (see Worker.LeaseValid).
func (l *Lease) Valid() bool {
	k, _ := l.cur.Load().(leaseState)
	return k.key != "" && time.Now().Before(k.until)
}

// Held returns the current key and whether it is valid, read together.
func (l *Lease) Held() (key string, valid bool) {
	k, _ := l.cur.Load().(leaseState)
	return k.key, k.key != "" && time.Now().Before(k.until)
}

// TTL returns the lease period: the TTL of the worker's lease bucket, LivenessTTL until the
// bucket was read.
func (l *Lease) TTL() time.Duration {
	if d := time.Duration(l.ttl.Load()); d > 0 {
		return d
	}
	return LivenessTTL
}

type leaseState struct {
	key   string
	until time.Time // monotonic: the lease is valid before this instant
}

type leaseExtKey struct{}

func (w *Worker) lease() *Lease {
	return w.Extension(leaseExtKey{}, func() any { return &Lease{} }).(*Lease)
}

func (w *Worker) leaseBase() string {
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

// liveness holds the worker's lease until done closes, then deletes it. A lease is a key of
// WorkersBucket created with Create and renewed every LivenessInterval with a compare-and-swap
// Update on its last revision. A renewal that finds the key gone (it expired while the worker
// was stalled or cut off, or the broker lost its memory bucket) means the lease is lost for
// good: the worker never renews it, and takes a new lease under the next generation's key.
// Whatever the worker owned under the old key it must re-claim by compare-and-swap.
func (w *Worker) liveness(done <-chan struct{}) {
	l := w.lease()
	ctx := context.Background()
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
		l.cur.Store(cur)
		rev = 0
		gen++
	}
	step := func() {
		pctx, cancel := context.WithTimeout(ctx, LivenessInterval)
		defer cancel()
		if kv == nil {
			nkv, err := w.c.workersBucket(pctx)
			if err != nil {
				w.log.Warn().Err(err).Msg("liveness bucket")
				return
			}
			kv = nkv
			if st, err := kv.Status(pctx); err == nil && st.TTL() > 0 {
				l.ttl.Store(int64(st.TTL()))
			}
		}
		ttl := l.TTL()
		sent := time.Now()
		if rev == 0 {
			key := w.leaseBase()
			if gen > 0 {
				key += "-" + strconv.Itoa(gen)
			}
			info, _ := json.Marshal(WorkerInfo{Key: key, Name: w.cfg.name, Client: w.c.id, Started: started, Names: names})
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
			l.cur.Store(cur)
			return
		}
		info, _ := json.Marshal(WorkerInfo{Key: cur.key, Name: w.cfg.name, Client: w.c.id, Started: started, Names: names})
		r, err := kv.Update(pctx, cur.key, info, rev)
		switch {
		case err == nil:
			rev = r
			cur.until = sent.Add(ttl - leaseMargin(ttl))
			l.cur.Store(cur)
		case w.c.bucketGone(err):
			kv = nil
			lose(err)
		case isConflictErr(err):
			lose(err)
		default:
			// Unreachable broker or a slow one: the lease runs out by time if this lasts.
			w.log.Debug().Err(err).Msg("lease renewal")
			if time.Now().After(cur.until) {
				lose(err)
			}
		}
	}
	step()
	t := time.NewTicker(LivenessInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			if kv != nil && cur.key != "" {
				dctx, cancel := context.WithTimeout(ctx, time.Second)
				_ = kv.Delete(dctx, cur.key, jetstream.LastRevision(rev))
				cancel()
			}
			l.cur.Store(leaseState{})
			return
		case <-t.C:
			step()
		}
	}
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
		var wi WorkerInfo
		if json.Unmarshal(e.Value(), &wi) == nil && time.Since(e.Created()) < LivenessTTL {
			out[k] = wi
		}
	}
	return out, nil
}
