package chaostest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

func (r *chaos) record(c *call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// finish records what a future gave; a future still unresolved when the settle period ends
// stays unresolved.
func (r *chaos) finish(c *call, v any, err error) {
	if err != nil && r.awaitCtx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return
	}
	r.mu.Lock()
	c.received, c.resolved, c.value, c.err = time.Now(), true, v, err
	r.mu.Unlock()
	select {
	case r.recheck <- c:
	default:
	}
}

func (r *chaos) unresolved() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if !c.resolved {
			n++
		}
	}
	return n
}

// track awaits f in its own goroutine and records the outcome; done runs after.
func track[T any](r *chaos, c *call, f *futures.Future[T], done func()) {
	c.id = f.ID()
	r.record(c)
	r.wg.Go(func() {
		defer done()
		v, err := f.Await(r.awaitCtx)
		r.finish(c, v, err)
	})
}

// pace waits a random lo..hi milliseconds between calls; false when the load stops.
func (r *chaos) pace(rng *rand.Rand, lo, hi int) bool {
	return sleepCtx(r.loadCtx, time.Duration(lo+rng.IntN(hi-lo+1))*time.Millisecond)
}

func (r *chaos) rng(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(r.seed, stream)) }

// acquire takes a place in sem unless the load stops.
func (r *chaos) acquire(sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-r.loadCtx.Done():
		return false
	}
}

func (r *chaos) taskLoop(n int) {
	rng := r.rng(uint64(100 + n))
	sem := make(chan struct{}, maxTasks)
	for seq := n * 10_000_000; r.acquire(sem); seq++ {
		in := TaskIn{Seq: seq, SleepMs: 1 + rng.IntN(15)}
		c := &call{kind: "task", submitted: time.Now(), check: wantSeq(in.Seq)}
		track(r, c, ChaosTask.Remote(r.awaitCtx, r.c, in), func() { <-sem })
		if !r.pace(rng, 20, 60) {
			return
		}
	}
}

// refLoop stores values with Put and passes them by reference: inside a chaos_ref input
// (read by the worker, which then waits on a child call) or as a RemoteFrom dependency.
func (r *chaos) refLoop() {
	rng := r.rng(200)
	sem := make(chan struct{}, maxRefs)
	for seq := 1; r.acquire(sem); seq++ {
		v := rng.IntN(1_000_000)
		if seq%2 == 0 {
			pf, ok := put(r, v)
			if !ok {
				<-sem
				continue
			}
			in := RefIn{Seq: seq, Ref: pf, SleepMs: 1 + rng.IntN(10)}
			c := &call{kind: "ref", submitted: time.Now(), check: func(x any) string {
				if out := x.(RefOut); out.Seq != in.Seq || out.Value != v || out.ChildSeq != -in.Seq {
					return fmt.Sprintf("%+v, want seq %d value %d child %d", out, in.Seq, v, -in.Seq)
				}
				return ""
			}}
			track(r, c, ChaosRef.Remote(r.awaitCtx, r.c, in), func() { <-sem })
		} else {
			in := TaskIn{Seq: -1_000_000 - seq, SleepMs: 1 + rng.IntN(10)}
			pf, ok := put(r, in)
			if !ok {
				<-sem
				continue
			}
			c := &call{kind: "from", submitted: time.Now(), check: wantSeq(in.Seq)}
			track(r, c, ChaosTask.RemoteFrom(r.awaitCtx, r.c, pf), func() { <-sem })
		}
		if !r.pace(rng, 30, 120) {
			return
		}
	}
}

// put stores v with Put and records the call; false if it failed. Put is one publish
// awaiting its ack: a minute rides out a broker restart unless the publish itself was lost.
func put[T comparable](r *chaos, v T) (*futures.Future[T], bool) {
	c := &call{kind: "put", submitted: time.Now(), check: wantEqual(v)}
	ctx, cancel := context.WithTimeout(r.awaitCtx, time.Minute)
	defer cancel()
	r.record(c) // before Put returns: the settle period waits for a Put still awaiting its ack
	f := framework.Put(ctx, r.c, v)
	r.mu.Lock()
	c.id = f.ID()
	r.mu.Unlock()
	got, err := f.Await(r.awaitCtx)
	r.finish(c, got, err)
	return f, err == nil
}

// wantSeq checks that a chaos_task result echoes its input's sequence number.
func wantSeq(seq int) func(any) string {
	return func(v any) string {
		if out := v.(TaskOut); out.Seq != seq {
			return fmt.Sprintf("seq %d, want %d", out.Seq, seq)
		}
		return ""
	}
}

// wantEqual checks that a result equals want.
func wantEqual[T comparable](want T) func(any) string {
	return func(v any) string {
		if got := v.(T); got != want {
			return fmt.Sprintf("%v, want %v", got, want)
		}
		return ""
	}
}

// counterLoop calls incr on one ChaosCounter, one call at a time.
func (r *chaos) counterLoop(n int, h *actors.Handle[counter]) {
	rng := r.rng(uint64(300 + n))
	r.actorLoop("counter", h.ID(), rng, 10, 40, func() *futures.Future[Answer] { return Incr.Remote(r.awaitCtx, h, 1) })
}

// asyncLoop calls work on one ChaosAsync, one call at a time (several loops per actor).
func (r *chaos) asyncLoop(n int, h *actors.Handle[asyncActor]) {
	rng := r.rng(uint64(400 + n))
	r.actorLoop("async", h.ID(), rng, 5, 40, func() *futures.Future[Answer] { return Work.Remote(r.awaitCtx, h, 2+rng.IntN(30)) })
}

// actorLoop makes the calls of one caller of actor id until the load stops: each submitted
// by submit, awaited and recorded, then a pause of lo to hi ms.
func (r *chaos) actorLoop(kind, id string, rng *rand.Rand, lo, hi int, submit func() *futures.Future[Answer]) {
	for r.loadCtx.Err() == nil {
		c := &call{kind: kind, actor: id, submitted: time.Now()}
		f := submit()
		c.id = f.ID()
		r.record(c)
		v, err := f.Await(r.awaitCtx)
		r.finish(c, v, err)
		if !r.pace(rng, lo, hi) {
			return
		}
	}
}

func (r *chaos) createActors(rng *rand.Rand) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for range numCounters {
		h := ChaosCounter.Remote(ctx, r.c, rng.IntN(1000))
		if err := h.Ready(ctx); err != nil {
			r.t.Fatalf("ChaosCounter %s not ready: %v", h.ID(), err)
		}
		r.counters = append(r.counters, h)
		r.actorIDs = append(r.actorIDs, h.ID())
	}
	for range numAsync {
		h := ChaosAsync.Remote(ctx, r.c, 0)
		if err := h.Ready(ctx); err != nil {
			r.t.Fatalf("ChaosAsync %s not ready: %v", h.ID(), err)
		}
		r.asyncs = append(r.asyncs, h)
		r.actorIDs = append(r.actorIDs, h.ID())
	}
}

// lateActors creates ChaosCounter actors while faults hit (creation must happen once) and
// drives each like the first ones.
func (r *chaos) lateActors(total time.Duration) {
	for i := range lateCounters {
		if !sleepCtx(r.loadCtx, total/time.Duration(lateCounters+1)) {
			return
		}
		h := ChaosCounter.Remote(r.awaitCtx, r.c, 1000*(i+1))
		r.mu.Lock()
		r.actorIDs = append(r.actorIDs, h.ID())
		r.counters = append(r.counters, h)
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(r.awaitCtx, 2*time.Minute)
		err := h.Ready(ctx)
		cancel()
		if err != nil {
			r.violate("actor creation succeeds", "ChaosCounter %s created during the faults: %v", h.ID(), err)
			continue
		}
		r.logf("late ChaosCounter %s ready", h.ID())
		r.wg.Go(func() { r.counterLoop(numCounters+i, h) })
	}
}

// recheckLoop reads results of resolved calls from a second client at once, so a result
// that changes later is caught against both reads.
func (r *chaos) recheckLoop() {
	for {
		select {
		case <-r.awaitCtx.Done():
			return
		case c := <-r.recheck:
			ctx, cancel := context.WithTimeout(r.awaitCtx, 10*time.Second)
			msg, ok := r.compare(ctx, r.c2, c)
			cancel()
			if ok && msg != "" {
				r.violate("no result changes after it was read", "%s %s: read by a second client during the run: %s", c.kind, c.id, msg)
			}
			if ok {
				r.mu.Lock()
				r.recheckOK++
				r.mu.Unlock()
			}
		}
	}
}

// compare reads c's result with cl.Resolve and describes how it differs from what c's
// future gave ("" if not). ok is false when the read itself failed (broker away).
func (r *chaos) compare(ctx context.Context, cl *framework.Client, c *call) (msg string, ok bool) {
	r.mu.Lock()
	v, ferr := c.value, c.err
	r.mu.Unlock()
	var raw json.RawMessage
	err := cl.Resolve(ctx, c.id, &raw)
	var te *framework.TaskError
	if err != nil && !errors.As(err, &te) {
		return "", false
	}
	switch {
	case ferr == nil && err != nil:
		return fmt.Sprintf("the future gave %s, Resolve now gives error %v", jsonOf(v), err), true
	case ferr != nil && err == nil:
		return fmt.Sprintf("the future gave error %v, Resolve now gives %s", ferr, raw), true
	case ferr != nil:
		if errKind(ferr) != errKind(err) {
			return fmt.Sprintf("the future gave error %v, Resolve now gives error %v", ferr, err), true
		}
		return "", true
	}
	var a, b any
	_ = json.Unmarshal([]byte(jsonOf(v)), &a)
	if json.Unmarshal(raw, &b) != nil || !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("the future gave %s, Resolve now gives %s", jsonOf(v), raw), true
	}
	return "", true
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// errKind names an error for the tables: the TaskError kind, or what else it is.
func errKind(err error) string {
	var te *framework.TaskError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &te):
		k := cmp.Or(te.Kind, framework.KindError)
		if k == framework.KindError {
			switch {
			case strings.Contains(te.Message, "reference:"):
				k += ":reference"
			case strings.Contains(te.Message, "(lost)"):
				k += ":child-lost"
			case strings.Contains(te.Message, "child:"):
				k += ":child"
			}
		}
		return string(k)
	case errors.Is(err, actors.ErrDied):
		return "actor_died:fail-fast" // refused in the driver: the record says DEAD
	case errors.Is(err, framework.ErrClosed):
		return "client-closed"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "ctx"
	case strings.Contains(err.Error(), "put"):
		return "put"
	case strings.Contains(err.Error(), "submit"):
		return "submit"
	}
	return "other"
}
