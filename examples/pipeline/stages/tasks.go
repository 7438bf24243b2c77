package stages

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// Readings returns n deterministic pseudo-random sensor readings in [-100, 999]. About one in
// eleven is negative: a sensor fault that Clean drops.
func Readings(n int) []int {
	out := make([]int, n)
	x := uint32(2463534242)
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = int(x%1100) - 100
	}
	return out
}

// Clean drops faulty (negative) readings. The pipeline calls it with RemoteFrom on the Put
// future of the dataset.
var Clean = framework.NewTask("pipeline_clean", func(_ context.Context, readings []int) ([]int, error) {
	kept := make([]int, 0, len(readings))
	for _, r := range readings {
		if r >= 0 {
			kept = append(kept, r)
		}
	}
	return kept, nil
})

// ShardIn is the input of one shard task. Data is the cleaned dataset as a future: inside a
// value it travels as a reference ({"jetray_future":"<id>"}), never as its value, and the task
// awaits it on the worker, which fetches the stored result by ID.
type ShardIn struct {
	Data   *futures.Future[[]int] `json:"data"`
	Shard  int                    `json:"shard"`   // which part, 0 to Shards-1
	Shards int                    `json:"shards"`  // how many parts the dataset is cut into
	WorkMS int                    `json:"work_ms"` // simulated work in milliseconds
}

// Summary is the count, sum and maximum of some readings.
type Summary struct {
	Count int `json:"count"`
	Sum   int `json:"sum"`
	Max   int `json:"max"`
}

// Add returns the summary of the readings of s and t together.
func (s Summary) Add(t Summary) Summary {
	return Summary{Count: s.Count + t.Count, Sum: s.Sum + t.Sum, Max: max(s.Max, t.Max)}
}

// Summarize returns the summary of readings.
func Summarize(readings []int) Summary {
	var s Summary
	for _, r := range readings {
		s.Count++
		s.Sum += r
		s.Max = max(s.Max, r)
	}
	return s
}

// ShardSum is the output of one shard task.
type ShardSum struct {
	Shard int `json:"shard"`
	Summary
}

// Bounds returns the half-open range [lo, hi) of shard i of a dataset of n values cut into
// shards parts.
func Bounds(n, i, shards int) (lo, hi int) { return n * i / shards, n * (i + 1) / shards }

// SumShard summarises one shard of the cleaned dataset. It awaits in.Data first (while it
// waits, the worker lends its task slot to another call), then works for in.WorkMS
// milliseconds, stopping early with ctx's error when the call is cancelled.
var SumShard = framework.NewTask("pipeline_shard", func(ctx context.Context, in ShardIn) (ShardSum, error) {
	if in.Data == nil || in.Shards < 1 || in.Shard < 0 || in.Shard >= in.Shards {
		return ShardSum{}, framework.Permanent(fmt.Errorf("bad shard %d of %d (data %v)", in.Shard, in.Shards, in.Data != nil))
	}
	data, err := in.Data.Await(ctx)
	if err != nil {
		return ShardSum{}, fmt.Errorf("shard %d: dataset: %w", in.Shard, err)
	}
	if err := work(ctx, time.Duration(in.WorkMS)*time.Millisecond); err != nil {
		return ShardSum{}, err
	}
	lo, hi := Bounds(len(data), in.Shard, in.Shards)
	return ShardSum{Shard: in.Shard, Summary: Summarize(data[lo:hi])}, nil
})

// ScanIn is the input of Scan.
type ScanIn struct {
	Data   *futures.Future[[]int] `json:"data"`    // the dataset, a reference as in ShardIn
	Above  int                    `json:"above"`   // count readings strictly above this
	Steps  int                    `json:"steps"`   // progress reports, at least 1
	StepMS int                    `json:"step_ms"` // simulated work per step in milliseconds
}

// Progress is one value of Scan's stream.
type Progress struct {
	Percent int `json:"percent"` // of the dataset scanned so far
	Scanned int `json:"scanned"` // readings scanned so far
	Matches int `json:"matches"` // readings above the threshold so far
}

// Scan counts the readings above a threshold, in Steps chunks, yielding a Progress after each
// chunk: the caller reads them while the scan still runs.
var Scan = framework.NewStreamTask("pipeline_scan", func(ctx context.Context, in ScanIn, yield func(Progress) error) error {
	if in.Data == nil || in.Steps < 1 {
		return framework.Permanent(errors.New("scan needs data and at least one step"))
	}
	data, err := in.Data.Await(ctx)
	if err != nil {
		return fmt.Errorf("scan: dataset: %w", err)
	}
	var p Progress
	for step := range in.Steps {
		lo, hi := Bounds(len(data), step, in.Steps)
		for _, r := range data[lo:hi] {
			if r > in.Above {
				p.Matches++
			}
		}
		if err := work(ctx, time.Duration(in.StepMS)*time.Millisecond); err != nil {
			return err
		}
		p.Scanned = hi
		p.Percent = 100 * (step + 1) / in.Steps
		if err := yield(p); err != nil {
			return err
		}
	}
	return nil
})

// work simulates d of work, returning ctx's error if ctx ends first.
func work(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
