package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/cmd/driver/internal/bench"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/testsupport"
)

// substrateSync and keptFloor are the names of the substrate and floor rows the sync
// benchmarks compare with.
const (
	substrateSync = "substrate: one at a time"
	keptFloor     = "substrate: kept message"
)

// TestBenchExternalWorkers runs "bench -serve" against a server and a second "bench
// -no-worker" that relies on it, as on a real deployment.
func TestBenchExternalWorkers(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	var serveOut testsupport.Buffer
	stop := testsupport.Background(t, func(ctx context.Context) error {
		return run(ctx, []string{"bench", "-serve", "-nats", srv.ClientURL()}, &serveOut, &serveOut)
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("bench -serve: %v\n%s", err, serveOut.String())
		}
	})
	file := filepath.Join(t.TempDir(), "bench.json")
	out, errOut, code := runDriver(t, "bench", "-nats", srv.ClientURL(), "-no-worker", "-tiny", "-json", file,
		"-duration", (50 * time.Millisecond).String(), "-only", "1:1 async-actor calls sync", "-paired", "-count", "2")
	if code != 0 || !strings.Contains(out, "| 1:1 async-actor calls sync ") || !strings.Contains(out, "| "+substrateSync+" ") ||
		!strings.Contains(out, "| "+keptFloor+" ") ||
		!strings.Contains(out, "external workers") || !strings.Contains(out, "(run 2/2)") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Results []bench.Row }
	if err := json.Unmarshal(data, &got); err != nil || len(got.Results) != 3 {
		t.Fatalf("bench.json: %v\n%s", err, data)
	}
	for _, r := range got.Results {
		if len(r.Runs) != 2 || len(r.CPURuns) != 2 || r.Rate <= 0 || r.CPUus <= 0 ||
			(r.Name != substrateSync && r.Name != keptFloor && (r.Ratio <= 0 || r.CPURatio <= 0 || r.FloorRatio <= 0 || r.FloorCPURatio <= 0)) {
			t.Errorf("row %+v: want 2 runs, a rate, CPU per call and (but for the substrate and the floor) ratios to both", r)
		}
	}
}

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no match", []string{"bench", "-only", "nothing-like-this"}, "1:1 actor calls sync"},
		{"no-worker without nats", []string{"bench", "-no-worker"}, "-no-worker needs -nats"},
		{"serve without nats", []string{"bench", "-serve"}, "-serve needs -nats"},
		{"bad duration", []string{"bench", "-duration", "0s"}, "-duration must be positive"},
		{"bad count", []string{"bench", "-count", "0"}, "-count must be at least 1"},
		{"extra", []string{"bench", "x"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runDriver(t, tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, tt.want)
			}
		})
	}
}
