package chaostest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/jetray/jetray/internal/wire"
)

// overlapping counts the faults that overlapped [from, to].
func (r *chaos) overlapping(from, to time.Time, kinds ...string) int {
	n := 0
	for _, f := range r.faults {
		if f.start.Before(to) && f.end.After(from) && (len(kinds) == 0 || slices.Contains(kinds, f.kind)) {
			n++
		}
	}
	return n
}

// allowed reports whether a call may fail the way it did.
func (r *chaos) allowed(c *call) bool {
	k := errKind(c.err)
	switch c.kind {
	case "task", "ref", "from":
		// Attempts count runs started; a run is lost only to a fault. A call may run out of
		// its TaskRetries+1 attempts only if that many faults overlapped its life.
		if k == string(framework.KindLost) || k == "error:child-lost" {
			return r.overlapping(c.submitted, c.received) >= TaskRetries+1
		}
	case "put":
		// Put is one synchronous publish: it may fail while the broker is away.
		return r.overlapping(c.submitted.Add(-10*time.Second), c.received, fServer) > 0
	}
	// Actor calls: MaxRestarts(-1) and MaxTaskRetries(-1), so nothing may fail.
	return false
}

func (r *chaos) check(baseline []string) {
	r.mu.Lock()
	calls := slices.Clone(r.calls)
	r.mu.Unlock()

	type overrun struct {
		peak, slots, calls int
		first              string
	}
	over := map[string]overrun{}
	// Every future resolves, with a value of the right shape or an allowed error.
	for _, c := range calls {
		switch {
		case !c.resolved:
			r.violate("every future resolves", "%s %s submitted %s: unresolved %v after the load stopped%s",
				c.kind, c.id, ts(c.submitted), settleTimeout, r.actorRecord(c.actor))
		case c.err != nil && !r.allowed(c):
			r.violate("no error but those allowed", "%s %s submitted %s, failed %s: [%s] %v%s",
				c.kind, c.id, ts(c.submitted), ts(c.received), errKind(c.err), c.err, r.actorRecord(c.actor))
		case c.err == nil && c.check != nil:
			if msg := c.check(c.value); msg != "" {
				r.violate("results are right", "%s %s: %s", c.kind, c.id, msg)
			}
		}
		if c.err == nil {
			if rep, ok := reportOf(c.value); ok && rep.Peak > rep.Slots {
				o := over[rep.Worker]
				if o.calls == 0 {
					o.first = c.id
				}
				o.calls++
				o.peak, o.slots = max(o.peak, rep.Peak), rep.Slots
				over[rep.Worker] = o
			}
		}
	}
	for _, w := range slices.Sorted(maps.Keys(over)) {
		o := over[w]
		r.violate("task slots never exceeded", "worker %s ran up to %d task calls at once that were not blocked waiting, with %d slots (reported by %d calls, first %s)",
			w, o.peak, o.slots, o.calls, o.first)
	}
	r.checkActors(calls)
	stored := r.checkStored(calls)
	r.checkReread(calls, stored)
	r.checkConsumers(baseline)
}

func reportOf(v any) (Report, bool) {
	switch o := v.(type) {
	case TaskOut:
		return o.Report, true
	case RefOut:
		return o.Report, true
	}
	return Report{}, false
}

// checkActors: one instance at a time, per actor; counters strictly increase per instance;
// limits on concurrent calls hold.
func (r *chaos) checkActors(calls []*call) {
	byActor := map[string][]*call{}
	for _, c := range calls {
		if c.actor != "" && c.resolved && c.err == nil {
			byActor[c.actor] = append(byActor[c.actor], c)
		}
	}
	for id, cs := range byActor {
		type span struct {
			firstRecv, lastSub time.Time
			first, last        *call
			n                  int
		}
		inst := map[string]*span{}
		seen := map[[2]string]string{}
		slices.SortFunc(cs, func(a, b *call) int { return a.submitted.Compare(b.submitted) })
		lastVal := map[string]int{}
		peaks := map[string]int{} // instances over their max_concurrency
		for _, c := range cs {
			a := c.value.(Answer)
			s := inst[a.Instance]
			if s == nil {
				s = &span{firstRecv: c.received, first: c}
				inst[a.Instance] = s
			}
			s.n++
			if c.received.Before(s.firstRecv) {
				s.firstRecv, s.first = c.received, c
			}
			if c.submitted.After(s.lastSub) {
				s.lastSub, s.last = c.submitted, c
			}
			switch c.kind {
			case "counter":
				if a.Peak > 1 {
					peaks[a.Instance] = max(peaks[a.Instance], a.Peak)
				}
				// Calls of one counter are sequential, so submission order is call order.
				if prev, ok := lastVal[a.Instance]; ok && a.Value <= prev {
					r.violate("a plain actor's counter never goes backwards or forks", "actor %s instance %s: call %s answered %d after %d",
						id, a.Instance, c.id, a.Value, prev)
				}
				lastVal[a.Instance] = a.Value
				key := [2]string{a.Instance, strconv.Itoa(a.Value)}
				if other, dup := seen[key]; dup {
					r.violate("a plain actor's counter never goes backwards or forks", "actor %s instance %s answered %d to calls %s and %s",
						id, a.Instance, a.Value, other, c.id)
				}
				seen[key] = c.id
			case "async":
				if a.Peak > AsyncMaxConcurrency {
					peaks[a.Instance] = max(peaks[a.Instance], a.Peak)
				}
			}
		}
		for _, in := range slices.Sorted(maps.Keys(peaks)) {
			limit := 1
			if cs[0].kind == "async" {
				limit = AsyncMaxConcurrency
			}
			r.violate("actor concurrency within max_concurrency", "%s actor %s: instance %s ran up to %d calls at once, max_concurrency %d",
				cs[0].kind, id, in, peaks[in], limit)
		}
		// Instance A provably served before B when an answer of A was received before a call
		// answered by B was submitted. Both ways round means A and B served at once or took
		// turns: two live instances.
		names := slices.Sorted(maps.Keys(inst))
		for i, a := range names {
			for _, b := range names[i+1:] {
				sa, sb := inst[a], inst[b]
				if sa.firstRecv.Before(sb.lastSub) && sb.firstRecv.Before(sa.lastSub) {
					r.violate("each actor's answers come from one instance at a time",
						"actor %s: instances %s (%d answers) and %s (%d answers) interleave: %s answered %s (received %s) before %s (submitted %s) was answered by %s, and %s answered %s (received %s) before %s (submitted %s) was answered by %s",
						id, a, sa.n, b, sb.n,
						a, sa.first.id, ts(sa.firstRecv), sb.last.id, ts(sb.lastSub), b,
						b, sb.first.id, ts(sb.firstRecv), sa.last.id, ts(sa.lastSub), a)
				}
			}
		}
	}
}

// actorRecord describes actor id's record now (for a call's violation), "" for a task call.
func (r *chaos) actorRecord(id string) string {
	if id == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := r.c.JetStream().KeyValue(ctx, "jetray_actors")
	if err != nil {
		return fmt.Sprintf("; actor %s: %v", id, err)
	}
	e, err := kv.Get(ctx, "a."+id)
	if err != nil {
		return fmt.Sprintf("; actor %s: %v", id, err)
	}
	var rec map[string]any
	_ = json.Unmarshal(e.Value(), &rec)
	delete(rec, "input")
	return fmt.Sprintf("; actor %s record (revision %d): %s", id, e.Revision(), jsonOf(rec))
}

func ts(t time.Time) string { return t.Format("15:04:05.000") }

// checkStored reads every result stored for the driver's calls: one each, never two. It
// returns how many each call ID has (nil if the stream could not be read).
func (r *chaos) checkStored(calls []*call) map[string]int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := framework.ResultSubjectPrefix + r.c.ID() + "."
	cons, err := r.c.JetStream().OrderedConsumer(ctx, framework.ResultsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"},
		HeadersOnly:    true,
	})
	if err != nil {
		r.violate("one stored result per call", "cannot read the results stream: %v", err)
		return nil
	}
	info, err := cons.Info(ctx)
	if err != nil {
		r.violate("one stored result per call", "cannot read the results stream: %v", err)
		return nil
	}
	count := map[string]int{}
	status := map[string][]string{}
	for left := info.NumPending; left > 0; {
		batch, err := cons.Fetch(int(min(left, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			r.violate("one stored result per call", "reading results: %v", err)
			return nil
		}
		got := 0
		for m := range batch.Messages() {
			got++
			id := strings.TrimPrefix(m.Subject(), framework.ResultSubjectPrefix)
			count[id]++
			st := m.Headers().Get(wire.HeaderStatus)
			if w := m.Headers().Get(wire.HeaderWorker); w != "" {
				st += " from " + w
			}
			status[id] = append(status[id], st)
		}
		if batch.Error() != nil || got == 0 {
			r.violate("one stored result per call", "reading results: %v with %d left", batch.Error(), left)
			return nil
		}
		left -= uint64(got)
	}
	kinds := map[string]string{}
	for _, c := range calls {
		kinds[c.id] = c.kind
	}
	for id, n := range count {
		if n > 1 {
			r.violate("one stored result per call", "%s call %s has %d stored results: %s",
				cmp.Or(kinds[id], "untracked (actor creation?)"), id, n, strings.Join(status[id], "; "))
		}
	}
	return count
}

// checkReread reads every resolved call's result again from a fresh client and compares it
// with what the future gave. A call the future resolved from a stored result but that has
// none stored now (stored, when known) is reported without waiting for it; the whole pass
// is bounded by five minutes.
func (r *chaos) checkReread(calls []*call, stored map[string]int) {
	c3 := testsupport.Connect(r.t, r.url, framework.WithName("chaos-rereader"))
	defer c3.Close()
	work := make(chan *call)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range 8 {
		wg.Go(func() {
			for c := range work {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				msg, ok := r.compare(ctx, c3, c)
				cancel()
				switch {
				case !ok:
					mu.Lock()
					failed++
					mu.Unlock()
					r.violate("no result changes after it was read", "%s %s: no result readable at the end (Resolve failed or timed out)", c.kind, c.id)
				case msg != "":
					r.violate("no result changes after it was read", "%s %s: %s", c.kind, c.id, msg)
				}
			}
		})
	}
	missing := map[string][]string{}
	skipped := 0
	deadline := time.Now().Add(5 * time.Minute)
	for _, c := range calls {
		var te *framework.TaskError
		switch {
		case !c.resolved, c.err != nil && !errors.As(c.err, &te):
			// unresolved, or failed in the driver: nothing stored to compare with
		case stored != nil && stored[c.id] == 0:
			missing[c.kind] = append(missing[c.kind], c.id)
		case time.Now().After(deadline):
			skipped++
		default:
			work <- c
		}
	}
	close(work)
	wg.Wait()
	for _, k := range slices.Sorted(maps.Keys(missing)) {
		ids := missing[k]
		r.violate("no result changes after it was read", "%d %s calls resolved but have no stored result now (e.g. %s)",
			len(ids), k, strings.Join(ids[:min(len(ids), 5)], ", "))
	}
	if skipped > 0 {
		r.violate("no result changes after it was read", "%d calls not read again: the pass took over 5 minutes", skipped)
	}
}

// checkConsumers expects at most one durable consumer per live actor on JETRAY_ACTORS (an
// actor's consumer of an earlier epoch must be gone), then kills every actor and expects
// JETRAY_ACTORS to be left with the consumers it had before any actor was created.
func (r *chaos) checkConsumers(baseline []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var durable []string
	for _, n := range r.actorConsumers() {
		if slices.Contains(baseline, n) {
			continue
		}
		if c, err := r.c.JetStream().Consumer(ctx, framework.ActorsStream, n); err == nil && c.CachedInfo().Config.Durable != "" {
			durable = append(durable, n)
		}
	}
	if live := len(r.counters) + len(r.asyncs); len(durable) > live {
		r.violate("no consumer leak", "JETRAY_ACTORS has %d durable consumers for %d live actors: %s", len(durable), live, r.describeConsumers(durable))
	}
	var hs []actors.Ref
	for _, h := range r.counters {
		hs = append(hs, h)
	}
	for _, h := range r.asyncs {
		hs = append(hs, h)
	}
	for _, h := range hs {
		if err := actors.Kill(ctx, h); err != nil {
			r.violate("no consumer leak", "Kill: %v", err)
		}
	}
	var left []string
	ok := testsupport.Poll(30*time.Second, func() bool {
		left = left[:0]
		for _, n := range r.actorConsumers() {
			if !slices.Contains(baseline, n) {
				left = append(left, n)
			}
		}
		return len(left) == 0
	})
	if !ok {
		r.violate("no consumer leak", "JETRAY_ACTORS still has %d consumers 30s after every actor was killed (before any actor: %v): %s",
			len(left), baseline, r.describeConsumers(left))
	}
}

// describeConsumers names each JETRAY_ACTORS consumer with its filter, creation time and
// pending counts.
func (r *chaos) describeConsumers(names []string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	for _, n := range names {
		ci, err := r.c.JetStream().Consumer(ctx, framework.ActorsStream, n)
		if err != nil {
			out = append(out, n+": "+err.Error())
			continue
		}
		info := ci.CachedInfo()
		kind := "durable " + info.Config.Durable
		if info.Config.Durable == "" {
			kind = fmt.Sprintf("ephemeral, inactive threshold %v", info.Config.InactiveThreshold)
		}
		filter := cmp.Or(info.Config.FilterSubject, strings.Join(info.Config.FilterSubjects, ","))
		out = append(out, fmt.Sprintf("%s (%s; filter %s; created %s; pending %d, ack pending %d)",
			n, kind, filter, ts(info.Created), info.NumPending, info.NumAckPending))
	}
	return strings.Join(out, "; ")
}

// scanWorkerLogs reports data races and panics in the worker processes.
func (r *chaos) scanWorkerLogs() {
	for _, p := range r.procs {
		s := p.Stderr.String()
		if i := strings.Index(s, "WARNING: DATA RACE"); i >= 0 {
			r.violate("no data race or panic in a worker", "%s:\n%s", p.Name, s[i:min(len(s), i+3000)])
		}
		if i := strings.Index(s, "\npanic: "); i >= 0 {
			r.violate("no data race or panic in a worker", "%s:\n%s", p.Name, s[i:min(len(s), i+3000)])
		}
	}
}
