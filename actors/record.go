package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Actor states, as recorded in the jetray_actors bucket.
const (
	StatePending = "PENDING" // created, not yet placed on a worker
	StateAlive   = "ALIVE"   // constructed; its consumer is bound on Worker
	StateFailed  = "FAILED"  // the constructor returned an error (Error)
	StateDead    = "DEAD"    // killed or its worker stopped (Error says why)
)

// Record is an actor's entry in the jetray_actors bucket (key a.<id>), as `driver status`
// lists it.
type Record struct {
	ID             string `json:"id"`
	Class          string `json:"class"`
	Name           string `json:"name,omitempty"`
	State          string `json:"state"`
	Worker         string `json:"worker,omitempty"`
	Control        string `json:"control,omitempty"` // the host's control subject
	MaxConcurrency int    `json:"max_concurrency"`
	MaxRestarts    int    `json:"max_restarts,omitempty"`
	Restarts       int    `json:"restarts,omitempty"`
	MaxTaskRetries int    `json:"max_task_retries,omitempty"`
	// Prefetch is a plain actor's window (actors.Prefetch): how many of its calls its host may
	// hold delivered at once, running them one at a time in order. 0: none (a window of 1).
	Prefetch int `json:"prefetch,omitempty"`
	// Groups are the actor's concurrency groups other than the default one (ConcurrencyGroups):
	// group name -> how many of its calls run at once. Each group is served from a consumer of
	// its own per placement (actor-<id>-<epoch>+<group>, MaxAckPending its limit); the default
	// group keeps MaxConcurrency. Set on creation, never changed.
	Groups map[string]int `json:"groups,omitempty"`
	// Durable: the actor's state is kept in the jetray_state bucket (actors.Durable) and every
	// placement after the first restores it instead of running the constructor. Set on
	// creation, never changed.
	Durable bool `json:"durable,omitempty"`
	// Owner is what the actor's lifetime is tied to: a client ID (the client that created it,
	// or that submitted the root call of the task that did), or an actor ID (the actor whose
	// constructor or method created it). "" for a detached actor (Detached) and for records
	// written before owners existed: such an actor lives until it is killed. Set on creation,
	// never changed; the host serving an owned actor kills it once its owner is gone.
	Owner string `json:"owner,omitempty"`
	// WorkerKey is the lease key (in jetray_workers) of the host that owns the actor: set when
	// a host claims the actor (PENDING while it constructs, then ALIVE), empty while the
	// actor waits for a host. Only the owner changes an owned record, except Kill and a host
	// that judged the owner's lease expired.
	WorkerKey string `json:"worker_key,omitempty"`
	// Epoch counts placements: the owner serves the actor from consumer actor-<id>-<epoch>,
	// and whoever takes the actor over next deletes that consumer before serving, so a stale
	// owner cannot pull another call.
	Epoch uint64 `json:"epoch,omitempty"`
	// Resume says where the next placement's consumer starts and which calls the previous
	// placement may have run; set by whoever retired the previous placement.
	Resume *Resume `json:"resume,omitempty"`
	// Labels and Resources are the actor's placement (LabelSelector, Resources): every
	// placement, restarts and hand-overs included, goes to a worker that has the labels and,
	// free, the resources, which the actor then holds for as long as it lives there.
	Labels    map[string]string  `json:"labels,omitempty"`
	Resources map[string]float64 `json:"resources,omitempty"`
	Input     []byte             `json:"input,omitempty"` // encoded constructor input, for restarts
	Error     string             `json:"error,omitempty"`
	Created   time.Time          `json:"created"`
	Updated   time.Time          `json:"updated"`
}

// Resume is the hand-over note between two placements of an actor.
type Resume struct {
	// From is the first stream sequence the next consumer delivers: the previous consumer's
	// ack floor + 1 (every call below it was answered).
	From uint64 `json:"from"`
	// Upto is the last stream sequence the previous consumer delivered. Calls in [From, Upto]
	// may have been answered out of order; the next host checks for a stored result first.
	Upto uint64 `json:"upto,omitempty"`
	// Crash: the previous host was judged dead, so an unanswered call up to Upto may have run
	// there and counts as one attempt (at-most-once by default, MaxTaskRetries). For an async
	// actor that is every unanswered call of the range. A plain actor's host runs its calls
	// one at a time in stream order, each once the calls before it have their results stored,
	// so only the first unanswered call of the range can have run, however many calls its
	// Prefetch window held: the next host counts that one only (instance.mayHaveRun).
	Crash bool `json:"crash,omitempty"`
	// Started lists the calls (stream sequences) the previous placement's host started and
	// had not answered when it re-claimed the actor under a new lease; they count as one
	// attempt, as on a crash. A graceful hand-over lists none: calls still running then are
	// run again by the next placement.
	Started []uint64 `json:"started,omitempty"`
	// Check is the last stream sequence an earlier placement may have answered: the next
	// host looks for a stored result before it runs any call in [From, max(Upto, Check)],
	// without counting an attempt for those past Upto. Upto alone can fall short: it is read
	// from the retired consumer, and a consumer with memory state that its server recreated
	// empty (a restarted cluster node) reports only what it delivered since.
	Check uint64 `json:"check,omitempty"`
	// Groups holds the notes of the actor's other concurrency groups (Record.Groups), one per
	// group, each about that group's consumer; the fields above are the default group's. A
	// group without a note at a later placement has every call checked for a stored result
	// and none counted as run (laneResume).
	Groups map[string]*Resume `json:"groups,omitempty"`
}

// group returns the note of concurrency group g: rs itself for the default group (""), its
// entry in Groups otherwise; nil if there is none.
func (rs *Resume) group(g string) *Resume {
	if rs == nil || g == "" {
		return rs
	}
	return rs.Groups[g]
}

// withStarted lists seqs as started in rs and in every group note of rs (stream sequences
// are unique across groups, so each note may hold them all).
func (rs *Resume) withStarted(seqs []uint64) {
	rs.Started = seqs
	for _, note := range rs.Groups {
		note.Started = seqs
	}
}

// setGroup stores note as the note of concurrency group g (g != "").
func (rs *Resume) setGroup(g string, note *Resume) {
	if rs.Groups == nil {
		rs.Groups = map[string]*Resume{}
	}
	rs.Groups[g] = note
}

// checks reports whether the call at stream sequence seq may have been answered by an
// earlier placement, so that its stored result is looked for before it runs.
func (rs *Resume) checks(seq uint64) bool {
	return rs != nil && seq >= rs.From && seq <= max(rs.Upto, rs.Check)
}

// bound is the last stream sequence rs says may have been answered (0 for nil).
func (rs *Resume) bound() uint64 {
	if rs == nil {
		return 0
	}
	return max(rs.Upto, rs.Check)
}

// ran reports whether the call at stream sequence seq may have run on the previous placement,
// if it has no stored result (for a plain actor after a crash, see instance.mayHaveRun).
func (rs *Resume) ran(seq uint64) bool {
	if rs == nil || seq > rs.Upto || seq < rs.From {
		return false
	}
	return rs.Crash || slices.Contains(rs.Started, seq)
}

// window is the MaxAckPending of the actor's consumer: max_concurrency, or for a plain actor
// its Prefetch window (1 to MaxPrefetch).
func (r *Record) window(maxConc int) int {
	if maxConc > 1 {
		return maxConc
	}
	return min(max(r.Prefetch, 1), MaxPrefetch)
}

// groupNames returns the record's concurrency groups other than the default one, sorted.
func (r *Record) groupNames() []string { return sortedGroups(r.Groups) }

// sortedGroups returns the names of groups, sorted.
func sortedGroups(groups map[string]int) []string {
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	return names
}

func (r *Record) terminal() bool { return r.State == StateFailed || r.State == StateDead }

// deathError is the error calls to a dead or failed actor get.
func (r *Record) deathError() error {
	if r.State == StateFailed {
		return fmt.Errorf("%w: %s (%s): constructor failed: %s", ErrActorDied, r.Class, r.ID, r.Error)
	}
	return fmt.Errorf("%w: %s (%s): %s", ErrActorDied, r.Class, r.ID, r.Error)
}

func recordKey(id string) string { return wire.ActorRecordKey(id) }
func nameKey(name string) string { return wire.ActorNameKey(name) }

// store is the per-client view of the actors bucket: the KV handle and a cache of actors
// known to be dead, fed by one watch, so calls to them fail without a round trip.
type store struct {
	kv jetstream.KeyValue
	nc *nats.Conn // records are read from the stream leader through it (leaderget.go)

	mu      sync.RWMutex
	dead    map[string]error
	alive   map[string]aliveRef // placed actors and their hosts, for liveness checks
	byLease leaseIndex          // the same, by host lease and owner: judge rounds read it without a scan
	watchOK bool
}

// leaseIndex holds placed actors by host lease, then by owner ("" for detached ones), then by
// ID, kept in step with store.alive by setAlive, so a judge round costs a look at each lease and
// each owner, not at each actor (at 100,000 actors, scans of every actor every 2 s were most of
// an idle worker's CPU).
type leaseIndex map[string]map[string]map[string]aliveRef

// setAlive records actor id as placed (a) or, with placed false, as not placed. Called with
// s.mu held for writing.
func (s *store) setAlive(id string, a aliveRef, placed bool) {
	if old, ok := s.alive[id]; ok {
		byOwner := s.byLease[old.workerKey]
		ids := byOwner[old.owner]
		delete(ids, id)
		if len(ids) == 0 {
			delete(byOwner, old.owner)
			if len(byOwner) == 0 {
				delete(s.byLease, old.workerKey)
			}
		}
		delete(s.alive, id)
	}
	if !placed {
		return
	}
	s.alive[id] = a
	byOwner := s.byLease[a.workerKey]
	if byOwner == nil {
		byOwner = map[string]map[string]aliveRef{}
		s.byLease[a.workerKey] = byOwner
	}
	ids := byOwner[a.owner]
	if ids == nil {
		ids = map[string]aliveRef{}
		byOwner[a.owner] = ids
	}
	ids[id] = a
}

// aliveRef is the host of a placed actor (PENDING while it constructs, or ALIVE) and the
// owner its lifetime is tied to ("" if detached).
type aliveRef struct {
	workerKey string
	epoch     uint64
	owner     string
}

type storeKey struct{}

// storeOf returns the client's store, opening the bucket and starting the watch once.
func storeOf(ctx context.Context, c *framework.Client) (*store, error) {
	v, err := clientExtension(c, storeKey{}, func() (any, error) {
		kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		kv, err := c.JetStream().KeyValue(kctx, namesOf(c).ActorsBucket())
		if err != nil {
			return nil, fmt.Errorf("jetray: actors bucket: %w", err)
		}
		s := &store{kv: kv, nc: c.Conn(), dead: map[string]error{}, alive: map[string]aliveRef{}, byLease: leaseIndex{}}
		wctx, stop := context.WithCancel(context.Background())
		w, err := kv.Watch(wctx, wire.ActorRecordKeys)
		if err != nil {
			stop()
			return nil, fmt.Errorf("jetray: watch actors: %w", err)
		}
		s.watchOK = true
		synced := make(chan struct{})
		watchDone := make(chan struct{})
		go func() { defer close(watchDone); s.watch(w, synced) }()
		onClose(c, func() { // the client owns the watch: Close stops it and waits for it
			stop()
			select {
			case <-watchDone:
			case <-time.After(2 * time.Second):
			}
		})
		// The watch first replays current records (actors that died before this client
		// started included), then a nil marker.
		select {
		case <-synced:
		case <-kctx.Done():
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*store), nil
}

func (s *store) watch(w jetstream.KeyWatcher, synced chan struct{}) {
	defer func() { _ = w.Stop() }()
	for e := range w.Updates() {
		if e == nil {
			if synced != nil {
				close(synced)
				synced = nil
			}
			continue
		}
		if e.Operation() != jetstream.KeyValuePut {
			continue
		}
		var r Record
		if json.Unmarshal(e.Value(), &r) != nil {
			continue
		}
		s.mu.Lock()
		s.setAlive(r.ID, aliveRef{workerKey: r.WorkerKey, epoch: r.Epoch, owner: r.Owner}, !r.terminal() && r.WorkerKey != "")
		s.mu.Unlock()
		if r.terminal() {
			s.markDead(r.ID, r.deathError())
		}
	}
}

func (s *store) markDead(id string, err error) {
	s.mu.Lock()
	s.dead[id] = err
	s.mu.Unlock()
}

// leasesElsewhere returns the host leases other than self that placed actors are recorded on,
// each with one of its actors (to find the host's control subject).
func (s *store) leasesElsewhere(self string) map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out map[string]string
	for lease, byOwner := range s.byLease {
		if lease == self {
			continue
		}
		for _, ids := range byOwner {
			for id := range ids {
				if out == nil {
					out = map[string]string{}
				}
				out[lease] = id
				break
			}
			break
		}
	}
	return out
}

// aliveOn returns the actors recorded on lease key, detached ones included.
func (s *store) aliveOn(key string) map[string]aliveRef {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]aliveRef{}
	for _, ids := range s.byLease[key] {
		for id, a := range ids {
			out[id] = a
		}
	}
	return out
}

// ownersOn returns the owners of the owned (not detached) actors placed under lease key.
func (s *store) ownersOn(key string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for owner := range s.byLease[key] {
		if owner != "" {
			out = append(out, owner)
		}
	}
	return out
}

// ownedBy returns the actors placed under lease key whose owner is owner.
func (s *store) ownedBy(key, owner string) map[string]aliveRef {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.byLease[key][owner])
}

func (s *store) deadErr(id string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.dead[id]
}

// get reads an actor record from the bucket's stream leader, as last written (leaderget.go);
// rec is nil when there is none.
func (s *store) get(ctx context.Context, id string) (rec *Record, rev uint64, err error) {
	val, rev, found, err := leaderGet(ctx, s.nc, s.kv, recordKey(id))
	if err != nil || !found {
		return nil, 0, err
	}
	rec = &Record{}
	if err := json.Unmarshal(val, rec); err != nil {
		return nil, 0, fmt.Errorf("jetray: actor record %s: %w", id, err)
	}
	return rec, rev, nil
}

// holder reads which actor ID name is bound to, from the bucket's stream leader as records
// are (a lagging replica could answer with no binding for a name just claimed, or with the
// binding of a dead actor it replaced); found is false when the name is free.
func (s *store) holder(ctx context.Context, name string) (id string, rev uint64, found bool, err error) {
	val, rev, found, err := leaderGet(ctx, s.nc, s.kv, nameKey(name))
	if err != nil || !found {
		return "", 0, false, err
	}
	return string(val), rev, true, nil
}

// update applies fn to the record with compare-and-swap, retrying on conflicts. fn returns
// false to leave the record as it is.
func (s *store) update(ctx context.Context, id string, fn func(*Record) bool) (*Record, error) {
	for {
		rec, rev, err := s.get(ctx, id)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if !fn(rec) {
			return rec, nil
		}
		rec.Updated = time.Now().UTC()
		val, _ := json.Marshal(rec)
		if _, err := s.kv.Update(ctx, recordKey(id), val, rev); err != nil {
			if isConflict(err) {
				continue
			}
			return nil, err
		}
		if rec.terminal() {
			s.markDead(id, rec.deathError())
		}
		return rec, nil
	}
}

func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || strings.Contains(err.Error(), "wrong last sequence")
}

// Describe returns the record of actor id (Ray's state API get_actor): its state, owner,
// epoch, restarts and error. Errors: ErrNotFound for an unknown ID, or a broker error.
func Describe(ctx context.Context, c *framework.Client, id string) (*Record, error) {
	s, err := storeOf(ctx, c)
	if err != nil {
		return nil, err
	}
	rec, _, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return rec, nil
}

// List returns every actor record in the bucket, for status tools.
func List(ctx context.Context, c *framework.Client) ([]Record, error) {
	s, err := storeOf(ctx, c)
	if err != nil {
		return nil, err
	}
	lister, err := s.kv.ListKeysFiltered(ctx, wire.ActorRecordKeys)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, err
	}
	var out []Record
	for k := range lister.Keys() {
		rec, _, err := s.get(ctx, strings.TrimPrefix(k, wire.ActorRecordKey("")))
		if err == nil && rec != nil {
			out = append(out, *rec)
		}
	}
	return out, nil
}
