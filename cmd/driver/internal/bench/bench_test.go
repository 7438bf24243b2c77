package bench

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/internal/testsupport"
)

// TestRunTiny runs the whole suite with tiny parameters on an embedded server and checks that
// every benchmark printed a row with a positive figure, in the table and in JSON.
func TestRunTiny(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bench.json")
	var stdout strings.Builder
	cfg := Config{Worker: true, JSON: file, Params: DefaultParams().Tiny()}
	if err := Run(testsupport.Context(t, 2*time.Minute), cfg, &stdout); err != nil {
		t.Fatalf("Run: %v\nstdout:\n%s", err, stdout.String())
	}
	out := stdout.String()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Machine machine `json:"machine"`
		Results []Row   `json:"results"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("bench.json: %v\n%s", err, data)
	}
	if got.Machine.CPUs < 1 || got.Machine.Go == "" {
		t.Errorf("machine = %+v", got.Machine)
	}
	rows := map[string]Row{}
	for _, r := range got.Results {
		rows[r.Name] = r
	}
	for _, c := range cases() {
		r, ok := rows[c.name]
		if !ok {
			t.Errorf("no JSON row for %q", c.name)
			continue
		}
		if r.Ops <= 0 || r.Rate <= 0 || r.CPUus <= 0 {
			t.Errorf("%q: %d ops, %.1f/s, %.1f us of CPU per op; want positive", c.name, r.Ops, r.Rate, r.CPUus)
		}
		switch c.kind {
		case kindSync, kindSubstrateSync, kindKeptSync:
			if r.P50us <= 0 || r.P99us < r.P50us {
				t.Errorf("%q: p50 %.0f us, p99 %.0f us", c.name, r.P50us, r.P99us)
			}
		}
		if (c.kind == kindSync || c.kind == kindAsync) && (r.Ratio <= 0 || r.CPURatio <= 0 || r.SubCPUus <= 0) {
			t.Errorf("%q: substrate ratio %.2f, CPU ratio %.2f of %.1f us; want positive", c.name, r.Ratio, r.CPURatio, r.SubCPUus)
		}
		if floor := map[rowKind]string{kindSync: keptName, kindAsync: durableName}[c.kind]; floor != "" &&
			(r.Floor != floor || r.FloorRatio <= 0 || r.FloorCPURatio <= 0 || r.FloorCPUus <= 0 || (c.kind == kindSync && r.FloorP50Ratio <= 0)) {
			t.Errorf("%q: floor %q ratio %.2f, p50 ratio %.2f, CPU ratio %.2f of %.1f us; want %q, positive",
				c.name, r.Floor, r.FloorRatio, r.FloorP50Ratio, r.FloorCPURatio, r.FloorCPUus, floor)
		}
		if !tableHasRow(out, c.name) {
			t.Errorf("table has no row %q:\n%s", c.name, out)
		}
	}
}

// tableHasRow reports whether the printed table has a row for name with a positive figure.
func tableHasRow(out, name string) bool {
	for l := range strings.Lines(out) {
		cells := strings.Split(l, "|")
		if len(cells) > 3 && strings.TrimSpace(cells[1]) == name {
			figure := strings.Fields(strings.ReplaceAll(cells[2], ",", ""))
			return len(figure) > 0 && figure[0] != "0" && figure[0] != "0.0"
		}
	}
	return false
}

func TestSelectCasesNoMatch(t *testing.T) {
	_, err := selectCases("nothing-like-this")
	if !errors.Is(err, ErrNoMatch) || !strings.Contains(err.Error(), "1:1 actor calls sync") {
		t.Fatalf("selectCases = %v; want ErrNoMatch listing the benchmarks", err)
	}
}

func TestSelectCases(t *testing.T) {
	tests := []struct {
		only string
		want []string
	}{
		{"put", []string{substrateSyncName, keptName, "put calls"}},
		{"N:N ASYNC-actor", []string{substrateAsyncName, durableName, "n:n async-actor calls async"}},
		{"wait", []string{"wait on 1,000 futures one at a time"}},
		{"substrate: pipe", []string{substrateAsyncName}},
		{"durable", []string{durableName}},
		{"tasks", []string{substrateSyncName, substrateAsyncName, keptName, durableName,
			"single client tasks sync", "single client tasks async", "multi client tasks async"}},
	}
	for _, tt := range tests {
		cs, err := selectCases(tt.only)
		var names []string
		for _, c := range cs {
			names = append(names, c.name)
		}
		if err != nil || strings.Join(names, "|") != strings.Join(tt.want, "|") {
			t.Errorf("selectCases(%q) = %q, %v; want %q", tt.only, names, err, tt.want)
		}
	}
}

// TestMedian checks that a row is the run with the median key and carries the CPU figures of
// the run with the median CPU key and the floor figures of the runs with the median floor
// ratios, with every run's figures.
func TestMedian(t *testing.T) {
	rs := []Row{
		{Rate: 100, Ratio: 0.5, CPUus: 30, SubCPUus: 10, CPURatio: 3, FloorRatio: 0.9, FloorRate: 111, FloorCPUus: 5, FloorCPURatio: 6},
		{Rate: 300, Ratio: 0.2, CPUus: 20, SubCPUus: 10, CPURatio: 2, FloorRatio: 0.7, FloorRate: 429, FloorCPUus: 4, FloorCPURatio: 5},
		{Rate: 200, Ratio: 0.4, CPUus: 40, SubCPUus: 40, CPURatio: 1, FloorRatio: 0.8, FloorRate: 250, FloorCPUus: 10, FloorCPURatio: 4},
	}
	m := median(rs, func(r Row) float64 { return r.Ratio }, func(r Row) float64 { return r.CPURatio })
	if m.Rate != 200 || m.CPUus != 20 || m.SubCPUus != 10 || m.CPURatio != 2 {
		t.Errorf("median = %+v; want rate 200 with CPU 20 us of 10 us (ratio 2)", m)
	}
	if m.FloorRatio != 0.8 || m.FloorRate != 250 || m.FloorCPURatio != 5 || m.FloorCPUus != 4 {
		t.Errorf("median floor figures = %+v; want ratio 0.8 of 250/s, CPU ratio 5 of 4 us", m)
	}
	if len(m.Runs) != 3 || m.Runs[1] != 300 || len(m.CPURuns) != 3 || m.CPURuns[2] != 40 {
		t.Errorf("runs %v, CPU runs %v; want every run in order", m.Runs, m.CPURuns)
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[float64]string{5: "5.0", 99.94: "99.9", 100: "100", 1234.5: "1,235", 27688: "27,688", 1234567: "1,234,567"} {
		if got := formatRate(in); got != want {
			t.Errorf("formatRate(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{42: "42 us", 999.4: "999 us", 1500: "1.50 ms"} {
		if got := formatUS(in); got != want {
			t.Errorf("formatUS(%v) = %q, want %q", in, got, want)
		}
	}
}
