package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
)

// TestMultiProcessPlacement runs two worker processes with different labels and capacities
// (-label, -resource): mp-gpu (gpu=a100, region=eu, 4 GPUs) and mp-small (region=us, 1 GPU).
// Calls land only where they may: 2-GPU calls on mp-gpu, two at a time at most; region=us
// calls on mp-small; 1-GPU calls on both, never two at once on mp-small. A call needing a
// label no worker has fails with ErrInfeasible, an actor needing 3 GPUs is placed on mp-gpu
// and holds them, and `driver list workers` shows labels, capacity and what is in use.
func TestMultiProcessPlacement(t *testing.T) {
	driver := testsupport.Driver(t)
	url := testsupport.StartNATS(t, testsupport.NATSConfig{}).URL
	c := testsupport.Connect(t, url)
	workers := []*testsupport.Proc{
		testsupport.StartWorker(t, url, "mp-gpu", "-concurrency", "8", "-drain", "10s",
			"-label", "gpu=a100", "-label", "region=eu", "-resource", "gpu=4"),
		testsupport.StartWorker(t, url, "mp-small", "-concurrency", "8", "-drain", "10s",
			"-label", "region=us", "-resource", "gpu=1"),
	}
	ctx := testCtx(t)

	run := func(n, ms int, opts ...framework.TaskOption) []string {
		t.Helper()
		fs := make([]*futures.Future[int], n)
		ids := make([]string, n)
		for i := range fs {
			fs[i] = demo.Sleep.Options(opts...).Remote(ctx, c, demo.SleepInput{MS: ms})
			ids[i] = fs[i].ID()
		}
		if _, err := futures.Gather(ctx, fs...); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	twoGPU := run(12, 400, framework.NumGPUs(2))
	us := run(8, 50, framework.LabelSelector(map[string]string{"region": "us"}))
	oneGPU := run(16, 300, framework.NumGPUs(1))

	evs := finishedEvents(t, ctx, c, slices.Concat(twoGPU, us, oneGPU))
	for _, tc := range []struct {
		name  string
		ids   []string
		where []string       // the workers allowed
		peaks map[string]int // the most calls running at once on a worker
		exact bool           // the peak must be reached, not only never passed
	}{
		{"2 GPUs", twoGPU, []string{"mp-gpu"}, map[string]int{"mp-gpu": 2}, true},
		{"region=us", us, []string{"mp-small"}, nil, false},
		{"1 GPU", oneGPU, []string{"mp-gpu", "mp-small"}, map[string]int{"mp-gpu": 4, "mp-small": 1}, false},
	} {
		byWorker := map[string][]framework.TaskEvent{}
		for _, id := range tc.ids {
			e := evs[id]
			if !slices.Contains(tc.where, e.Worker) {
				t.Errorf("%s: call %s ran on %q, want one of %v", tc.name, id, e.Worker, tc.where)
			}
			byWorker[e.Worker] = append(byWorker[e.Worker], e)
		}
		for w, want := range tc.peaks {
			if got := peakOverlap(byWorker[w]); got > want || tc.exact && got != want {
				t.Errorf("%s: %d calls ran at once on %s, want a peak of %d (exact: %v)", tc.name, got, w, want, tc.exact)
			}
		}
		t.Logf("%s: calls by worker: mp-gpu %d, mp-small %d", tc.name, len(byWorker["mp-gpu"]), len(byWorker["mp-small"]))
	}

	_, err := demo.Sleep.Options(framework.LabelSelector(map[string]string{"gpu": "h100"})).Remote(ctx, c, demo.SleepInput{}).Await(ctx)
	if !errors.Is(err, framework.ErrInfeasible) || !strings.Contains(err.Error(), "label gpu=h100") {
		t.Errorf("call needing gpu=h100: %v, want ErrInfeasible naming it", err)
	}

	h := demo.CounterClass.Options(actors.NumGPUs(3)).Remote(ctx, c, demo.CounterInput{Start: 1})
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := testsupport.ActorRecord(t, ctx, c, h.ID()); rec.Worker != "mp-gpu" {
		t.Errorf("3-GPU actor placed on %q, want mp-gpu", rec.Worker)
	}
	// The lease is renewed every second: within a few, mp-gpu shows the actor's 3 GPUs in use.
	var out string
	testsupport.WaitFor(t, 30*time.Second, "list workers showing the GPUs in use", func() bool {
		var code int
		out, _, code = testsupport.Run(t, driver, "list", "workers", "-nats", url)
		f := row(out, "mp-gpu", "ALIVE")
		return code == 0 && len(f) > 6 && f[4] == "gpu=a100,region=eu" && f[5] == "gpu=4" && f[6] == "gpu=3"
	})
	if f := row(out, "mp-small", "ALIVE"); len(f) < 7 || f[4] != "region=us" || f[5] != "gpu=1" || f[6] != "-" {
		t.Errorf("mp-small row %q in:\n%s", f, out)
	}

	for _, w := range workers {
		if err, _ := w.Term(t, 30*time.Second); err != nil {
			t.Errorf("%s: exit after SIGTERM: %v", w.Name, err)
		}
	}
}

// finishedEvents waits until every call in ids has its FINISHED event in JETRAY_EVENTS and
// returns them by call ID.
func finishedEvents(t *testing.T, ctx context.Context, c *framework.Client, ids []string) map[string]framework.TaskEvent {
	t.Helper()
	out := map[string]framework.TaskEvent{}
	testsupport.WaitFor(t, time.Minute, "the calls' FINISHED events", func() bool {
		evs, err := framework.TaskEvents(ctx, c, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.State == framework.TaskFinished {
				out[e.ID] = e
			}
		}
		for _, id := range ids {
			if _, ok := out[id]; !ok {
				return false
			}
		}
		return true
	})
	return out
}

// peakOverlap is the most events whose runs (Started to Time) overlap at one instant.
func peakOverlap(evs []framework.TaskEvent) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, e := range evs {
		edges = append(edges, edge{e.Started, 1}, edge{e.Time, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an end before a start at the same instant
	})
	n, peak := 0, 0
	for _, e := range edges {
		n += e.delta
		peak = max(peak, n)
	}
	return peak
}
