package chaostest

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// saveLogs writes the summary, every violation and each process's output to a directory
// that outlives the test, and returns its path.
func (r *chaos) saveLogs(summary string) string {
	dir, err := os.MkdirTemp("", fmt.Sprintf("jetray-chaos-%d-*", r.seed))
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(summary)
	for _, inv := range slices.Sorted(maps.Keys(r.viol)) {
		for _, v := range r.viol[inv] {
			fmt.Fprintf(&b, "\n%s: %s\n", inv, v)
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "violations.txt"), []byte(b.String()), 0o644)
	for _, p := range append(slices.Clone(r.servers), r.procs...) {
		_ = os.WriteFile(filepath.Join(dir, p.Name+".log"), []byte(p.Stderr.String()), 0o644)
	}
	return dir
}

// summary prints the tables and fails the test once per violation (details capped).
func (r *chaos) summary(perKind int) {
	t := r.t
	var b strings.Builder
	fmt.Fprintf(&b, "\nchaos run: CHAOS_SEED=%d, %d faults, lease %v\n\n", r.seed, len(r.faults), r.lease)
	fmt.Fprintf(&b, "| fault | injected |\n|---|---:|\n")
	counts := map[string]int{}
	for _, f := range r.faults {
		counts[f.kind]++
	}
	for _, k := range append(slices.Clone(faultKinds), fHandover) {
		fmt.Fprintf(&b, "| %s | %d |\n", k, counts[k])
		want := perKind
		if k == fHandover {
			want = max(1, perKind-1)
		}
		if counts[k] < want {
			t.Errorf("harness: fault %s injected %d times, want %d", k, counts[k], want)
		}
	}
	landed := false
	for _, h := range r.handovers {
		fmt.Fprintf(&b, "  hand-over: %s\n", h)
		landed = landed || strings.Contains(h, "receiving actor")
	}
	if !landed {
		fmt.Fprintf(&b, "  no SIGKILL was seen to land on a worker receiving actors (blind hand-over faults only)\n")
	}

	type row struct {
		submitted, ok, unresolved int
		failed                    map[string]int
		took                      []time.Duration // submit to resolution, resolved calls
	}
	rows := map[string]*row{}
	order := []string{"task", "ref", "from", "put", "counter", "async"}
	for _, k := range order {
		rows[k] = &row{failed: map[string]int{}}
	}
	for _, c := range r.calls {
		w := rows[c.kind]
		w.submitted++
		switch {
		case !c.resolved:
			w.unresolved++
		case c.err == nil:
			w.ok++
		default:
			w.failed[errKind(c.err)]++
		}
		if c.resolved {
			w.took = append(w.took, c.received.Sub(c.submitted))
		}
	}
	fmt.Fprintf(&b, "\n| calls | submitted | ok | failed (by kind) | unresolved | p50 | p99 | max |\n|---|---:|---:|---|---:|---:|---:|---:|\n")
	for _, k := range order {
		w := rows[k]
		var fs []string
		for _, e := range slices.Sorted(maps.Keys(w.failed)) {
			fs = append(fs, fmt.Sprintf("%s %d", e, w.failed[e]))
		}
		slices.Sort(w.took)
		q := func(p float64) time.Duration {
			if len(w.took) == 0 {
				return 0
			}
			return w.took[min(len(w.took)-1, int(p*float64(len(w.took))))].Round(time.Millisecond)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %d | %v | %v | %v |\n", k, w.submitted, w.ok, cmp.Or(strings.Join(fs, ", "), "0"), w.unresolved,
			q(0.5), q(0.99), q(1))
	}
	fmt.Fprintf(&b, "\nresults read again by a second client during the run: %d\n", r.recheckOK)

	invariants := []string{
		"every future resolves",
		"no error but those allowed",
		"results are right",
		"one stored result per call",
		"no result changes after it was read",
		"each actor's answers come from one instance at a time",
		"a plain actor's counter never goes backwards or forks",
		"actor concurrency within max_concurrency",
		"task slots never exceeded",
		"actor creation succeeds",
		"no consumer leak",
		"no goroutine leak in the driver",
		"workers start and keep running",
		"graceful stop ends",
		"no data race or panic in a worker",
	}
	fmt.Fprintf(&b, "\n| invariant | violations |\n|---|---:|\n")
	for _, inv := range invariants {
		fmt.Fprintf(&b, "| %s | %d |\n", inv, len(r.viol[inv]))
	}
	for inv := range r.viol {
		if !slices.Contains(invariants, inv) {
			fmt.Fprintf(&b, "| %s | %d |\n", inv, len(r.viol[inv]))
		}
	}
	t.Log(b.String())
	for _, inv := range slices.Sorted(maps.Keys(r.viol)) {
		vs := r.viol[inv]
		for _, v := range vs[:min(len(vs), 8)] {
			t.Errorf("%s: %s", inv, v)
		}
		if len(vs) > 8 {
			t.Errorf("%s: ... %d violations in all", inv, len(vs))
		}
	}
	if t.Failed() {
		t.Logf("replay with CHAOS_SEED=%d CHAOS_TIME=%s; logs and every violation in %s", r.seed, os.Getenv("CHAOS_TIME"), r.saveLogs(b.String()))
	}
}
