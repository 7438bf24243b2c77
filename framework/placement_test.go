package framework_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// whereTask returns a task named name that runs for d, counts the calls running at once on
// each worker (by client ID) and returns the ID of the worker's client.
func whereTask(name string, d time.Duration, peaks *workerPeaks) *framework.Task[int, string] {
	return framework.NewTask(name, func(ctx context.Context, _ int) (string, error) {
		id := framework.ClientFromContext(ctx).ID()
		p := peaks.of(id)
		p.enter()
		defer p.leave()
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return id, nil
	})
}

// workerPeaks is a peakCounter per worker client.
type workerPeaks struct {
	mu sync.Mutex
	m  map[string]*peakCounter
}

func (w *workerPeaks) of(id string) *peakCounter {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]*peakCounter{}
	}
	if w.m[id] == nil {
		w.m[id] = &peakCounter{}
	}
	return w.m[id]
}

func (w *workerPeaks) peak(id string) int64 { return w.of(id).peak.Load() }

// TestPlacementLabelsAndCapacity: two workers serve one task, a GPU worker (gpu=a100, 4 GPUs)
// and a plain one (zone=b). Calls needing 2 GPUs run only on the GPU worker, at most two at
// once; calls selecting zone=b only on the other; calls needing nothing on either.
func TestPlacementLabelsAndCapacity(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var peaks workerPeaks
	task := whereTask("where", 300*time.Millisecond, &peaks)
	cg, cp := connect(t, srv.ClientURL()), connect(t, srv.ClientURL())
	runWorker(t, newWorker(t, cg, []framework.WorkerOption{framework.WithConcurrency(8),
		framework.WithLabels(map[string]string{"gpu": "a100"}), framework.WithResources(map[string]float64{"gpu": 4})}, task))
	runWorker(t, newWorker(t, cp, []framework.WorkerOption{framework.WithConcurrency(8),
		framework.WithLabels(map[string]string{"zone": "b"})}, task))
	c := connect(t, srv.ClientURL())

	run := func(n int, opts ...framework.TaskOption) []string {
		t.Helper()
		fs := make([]*futures.Future[string], n)
		for i := range fs {
			fs[i] = task.Options(opts...).Remote(ctx, c, i)
		}
		got, err := futures.Gather(ctx, fs...)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for i, w := range run(8, framework.NumGPUs(2), framework.LabelSelector(map[string]string{"gpu": "a100"})) {
		if w != cg.ID() {
			t.Fatalf("GPU call %d ran on %s, want the GPU worker %s", i, w, cg.ID())
		}
	}
	if p := peaks.peak(cg.ID()); p != 2 {
		t.Errorf("2-GPU calls running at once on a 4-GPU worker: peak %d, want 2", p)
	}
	for i, w := range run(6, framework.LabelSelector(map[string]string{"zone": "b"})) {
		if w != cp.ID() {
			t.Fatalf("zone=b call %d ran on %s, want %s", i, w, cp.ID())
		}
	}
	// A fractional need: 0.5 GPU calls, at most 8 at once on 4 GPUs (and the 8 slots).
	for _, w := range run(10, framework.NumGPUs(0.5)) {
		if w != cg.ID() {
			t.Fatalf("GPU call ran on %s", w)
		}
	}
	if p := peaks.peak(cg.ID()); p > 8 {
		t.Errorf("peak %d above the worker's 8 slots", p)
	}
	// Calls that need nothing may run anywhere.
	run(4)
}

// TestPlacementInfeasible: a call needing a label or more of a resource than any worker
// serving the task ever registered fails with ErrInfeasible naming what is missing, and is
// not queued; so does one whose needs exist only on different workers.
func TestPlacementInfeasible(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var peaks workerPeaks
	task := whereTask("infeasible", 0, &peaks)
	cw := connect(t, srv.ClientURL())
	if err := framework.NewWorker(cw, framework.WithLabels(map[string]string{"gpu": "a100"}),
		framework.WithResources(map[string]float64{"gpu": 4})).Register(task); err != nil {
		t.Fatal(err)
	}
	if err := framework.NewWorker(cw, framework.WithLabels(map[string]string{"region": "eu"})).Register(task); err != nil {
		t.Fatal(err)
	}
	c := connect(t, srv.ClientURL(), framework.WithUnknownNameGrace(300*time.Millisecond))
	tests := []struct {
		name string
		opts []framework.TaskOption
		want string
	}{
		{"unknown label", []framework.TaskOption{framework.LabelSelector(map[string]string{"gpu": "h100"})}, "label gpu=h100"},
		{"too much", []framework.TaskOption{framework.NumGPUs(8)}, "resource gpu=8 (largest registered: 4)"},
		{"unknown resource", []framework.TaskOption{framework.Resources(map[string]float64{"tpu": 1})}, "resource tpu=1 (largest registered: 0)"},
		{"not on one worker", []framework.TaskOption{framework.NumGPUs(1), framework.LabelSelector(map[string]string{"region": "eu"})},
			"all of region=eu; gpu:1 on one worker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := task.Options(tt.opts...).Remote(ctx, c, 0).Await(ctx)
			if !errors.Is(err, framework.ErrInfeasible) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInfeasible naming %q", err, tt.want)
			}
		})
	}
	info, err := c.JetStream().Stream(ctx, framework.TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("%d calls queued, want none", n)
	}
	// Invalid options fail the call with ErrInvalidName, before anything is looked up.
	for _, o := range []framework.TaskOption{framework.LabelSelector(map[string]string{"bad key": "x"}),
		framework.NumGPUs(-1), framework.Priority(7)} {
		if _, err := task.Options(o).Remote(ctx, c, 0).Await(ctx); !errors.Is(err, framework.ErrInvalidName) {
			t.Errorf("err = %v, want ErrInvalidName", err)
		}
	}
}

// TestPlacementDelayedAndScheduled: a delayed call and the runs of a periodic schedule travel
// on their task's route, so they land only on a worker with the selected label, and a delayed
// high-priority call runs.
func TestPlacementDelayedAndScheduled(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	ranOn := map[string]string{} // call ID -> worker client ID
	task := framework.NewTask("where_later", func(ctx context.Context, _ int) (string, error) {
		id := framework.ClientFromContext(ctx).ID()
		mu.Lock()
		ranOn[framework.CallFromContext(ctx).ID] = id
		mu.Unlock()
		return id, nil
	})
	ca, cb := connect(t, srv.ClientURL()), connect(t, srv.ClientURL())
	runWorker(t, newWorker(t, ca, []framework.WorkerOption{framework.WithLabels(map[string]string{"zone": "a"})}, task))
	runWorker(t, newWorker(t, cb, []framework.WorkerOption{framework.WithLabels(map[string]string{"zone": "b"})}, task))
	c := connect(t, srv.ClientURL())
	inB := framework.LabelSelector(map[string]string{"zone": "b"})

	for i := range 4 {
		if w, err := task.Options(inB, framework.Delay(300*time.Millisecond)).Remote(ctx, c, i).Await(ctx); err != nil || w != cb.ID() {
			t.Fatalf("delayed call %d ran on %q (%v), want %s", i, w, err, cb.ID())
		}
	}
	if _, err := task.Options(framework.Priority(framework.High), framework.Delay(200*time.Millisecond)).Remote(ctx, c, 0).Await(ctx); err != nil {
		t.Fatalf("delayed high-priority call: %v", err)
	}

	if err := task.Options(inB).Schedule(ctx, c, "in-zone-b", framework.Every(time.Second), 0); err != nil {
		t.Fatal(err)
	}
	runs := func() (n int, elsewhere []string) {
		mu.Lock()
		defer mu.Unlock()
		for id, w := range ranOn {
			if name, _, ok := framework.ParseTickID(id); ok && name == "in-zone-b" {
				n++
				if w != cb.ID() {
					elsewhere = append(elsewhere, id)
				}
			}
		}
		return n, elsewhere
	}
	waitFor(t, time.Minute, "3 runs of the schedule", func() bool { n, _ := runs(); return n >= 3 })
	if err := framework.DeleteSchedule(ctx, c, "in-zone-b"); err != nil {
		t.Fatal(err)
	}
	if _, elsewhere := runs(); len(elsewhere) > 0 {
		t.Fatalf("runs %v ran outside zone b", elsewhere)
	}
}
