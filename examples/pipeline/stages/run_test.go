package stages_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/pipeline/stages"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		cfg     stages.Config
		objects bool // the values go through the object store
	}{
		{"default", stages.Config{}, false},
		// About 1.3 MB of JSON: the dataset, the clean call's input and its result all go
		// through the jetray_objects object store, and the shards read the result from there.
		{"object store", stages.Config{Readings: 300_000, Shards: 4, Slots: 2, Steps: 4}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := frameworktest.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			var out bytes.Buffer
			res, err := stages.Run(ctx, c, &out, tt.cfg)
			t.Log("\n" + out.String())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			check(t, tt.cfg, res, out.String())
			if tt.objects {
				checkObjects(ctx, t, c, res)
			}
		})
	}
}

// check compares res with the pipeline computed locally.
func check(t *testing.T, cfg stages.Config, res stages.Result, out string) {
	t.Helper()
	n, shards, steps, above := def(cfg.Readings, 6000), def(cfg.Shards, 8), def(cfg.Steps, 10), def(cfg.Above, 900)

	var kept []int
	for _, r := range stages.Readings(n) {
		if r >= 0 {
			kept = append(kept, r)
		}
	}
	if res.Readings != n || res.Kept != len(kept) {
		t.Errorf("readings %d, kept %d; want %d, %d", res.Readings, res.Kept, n, len(kept))
	}

	t.Run("results", func(t *testing.T) {
		if len(res.Shards) != shards {
			t.Fatalf("%d shard results, want %d", len(res.Shards), shards)
		}
		var total stages.Summary
		for i, s := range res.Shards {
			lo, hi := stages.Bounds(len(kept), i, shards)
			want := stages.Summarize(kept[lo:hi])
			if s.Shard != i || s.Summary != want {
				t.Errorf("shard %d = %+v, want shard %d %+v", i, s, i, want)
			}
			total = total.Add(want)
		}
		if res.Total != total || total != stages.Summarize(kept) {
			t.Errorf("total %+v, want %+v", res.Total, stages.Summarize(kept))
		}
	})

	t.Run("straggler cancelled", func(t *testing.T) {
		if res.Straggler != shards*2/3 {
			t.Errorf("straggler %d, want %d", res.Straggler, shards*2/3)
		}
		if !errors.Is(res.Cancelled, framework.ErrCancelled) {
			t.Errorf("straggler's future: %v, want ErrCancelled", res.Cancelled)
		}
		if o := res.Outcome; o == nil || o.Kind != framework.KindCancelled || !errors.Is(o, framework.ErrCancelled) {
			t.Errorf("worker's stored outcome: %+v, want kind %q", o, framework.KindCancelled)
		}
		// The straggler would work for 10 minutes; the whole pipeline takes about a second.
		if res.Elapsed > time.Minute {
			t.Errorf("pipeline took %v: the straggler was not stopped", res.Elapsed)
		}
		if want := fmt.Sprintf("cancel shard %d: its future failed at once", res.Straggler); !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	})

	t.Run("progress in order", func(t *testing.T) {
		if len(res.Progress) != steps {
			t.Fatalf("%d progress values, want %d: %+v", len(res.Progress), steps, res.Progress)
		}
		matches := 0
		for i, p := range res.Progress {
			lo, hi := stages.Bounds(len(kept), i, steps)
			for _, r := range kept[lo:hi] {
				if r > above {
					matches++
				}
			}
			want := stages.Progress{Percent: 100 * (i + 1) / steps, Scanned: hi, Matches: matches}
			if p != want {
				t.Errorf("progress %d = %+v, want %+v", i, p, want)
			}
		}
		if !strings.Contains(out, "scan 100%") {
			t.Errorf("output lacks the last progress line")
		}
	})
}

// checkObjects checks what the object store holds after a run with big values: the Put
// value and the clean result are kept (until the results TTL); the clean call's input object
// is deleted once the call is done.
func checkObjects(ctx context.Context, t *testing.T, c *framework.Client, res stages.Result) {
	t.Helper()
	os, err := c.JetStream().ObjectStore(ctx, framework.ObjectsBucket)
	if err != nil {
		t.Fatalf("object store: %v", err)
	}
	for _, name := range []string{res.PutID + ".put", res.CleanID + ".out"} {
		if _, err := os.GetInfo(ctx, name); err != nil {
			t.Errorf("object %s: %v", name, err)
		}
	}
	in := res.CleanID + ".in"
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, err := os.GetInfo(ctx, in)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("input object %s still there after the call: %v", in, err)
			break
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

func def(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func TestRunBadConfig(t *testing.T) {
	_, err := stages.Run(context.Background(), nil, &bytes.Buffer{}, stages.Config{Shards: 1})
	if err == nil || !strings.Contains(err.Error(), "bad config") {
		t.Fatalf("Run with one shard: %v, want a config error", err)
	}
}
