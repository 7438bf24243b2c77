package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Row is one benchmark's outcome, as printed and as written to the JSON file (Config.JSON).
// Figures that do not apply are zero and left out of the JSON.
type Row struct {
	Name      string  `json:"name"`
	Shape     string  `json:"shape"`       // how it runs
	Unit      string  `json:"unit"`        // calls/s, or rounds/s for the wait benchmark
	Ops       int     `json:"ops"`         // calls or rounds in the measured time
	Seconds   float64 `json:"seconds"`     // the measured time
	Rate      float64 `json:"ops_per_sec"` // Ops / Seconds
	P50us     float64 `json:"p50_us,omitempty"`
	P99us     float64 `json:"p99_us,omitempty"`
	SlowestUS float64 `json:"slowest_us,omitempty"`            // the slowest call (one at a time) or round (batches)
	Substrate string  `json:"substrate,omitempty"`             // the row compared with
	SubRate   float64 `json:"substrate_ops_per_sec,omitempty"` // its ops/s (paired: the run just before)
	Ratio     float64 `json:"substrate_ratio,omitempty"`       // Rate / the substrate's rate
	P50Ratio  float64 `json:"substrate_p50_ratio,omitempty"`   // P50us / the substrate's
	Ray       float64 `json:"ray_ops_per_sec,omitempty"`       // Ray 2.22, m5.16xlarge (64 vCPUs)
	// Runs holds the ops/s of every run when the suite ran more than once; the row is the
	// median run (for a paired jetray row, the run with the median Ratio).
	Runs []float64 `json:"runs,omitempty"`

	// CPUus is the process CPU time (getrusage, user plus system; the server, the worker and
	// the driver share the process) per call, or per round for rounds/s, in microseconds, over
	// the measured time. With more than one run, the CPU figures come from the run with the
	// median CPURatio (a paired jetray row) or the median CPUus.
	CPUus    float64   `json:"cpu_us_per_op,omitempty"`
	SubCPUus float64   `json:"substrate_cpu_us_per_op,omitempty"` // the substrate's (paired: the run just before)
	CPURatio float64   `json:"substrate_cpu_ratio,omitempty"`     // CPUus / SubCPUus
	CPURuns  []float64 `json:"cpu_runs,omitempty"`                // CPUus of every run, with Runs

	// The floor is the substrate doing one more thing jetray does (floors.go): for one call at
	// a time, keeping a message in its work queue (kept message); pipelined, storing its
	// replies and reading them back (durable reply). Paired, the floor's figures are those of
	// its run just before the substrate's, from the runs with the median FloorRatio and the
	// median FloorCPURatio.
	Floor         string  `json:"floor,omitempty"`               // the floor row compared with
	FloorRate     float64 `json:"floor_ops_per_sec,omitempty"`   // its ops/s
	FloorRatio    float64 `json:"floor_ratio,omitempty"`         // Rate / the floor's rate
	FloorP50Ratio float64 `json:"floor_p50_ratio,omitempty"`     // P50us / the floor's
	FloorCPUus    float64 `json:"floor_cpu_us_per_op,omitempty"` // the floor's CPU per call
	FloorCPURatio float64 `json:"floor_cpu_ratio,omitempty"`     // CPUus / FloorCPUus

	kind rowKind
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// fillRatios compares each row with the substrate and floor rows of its kind, unless it was
// paired with runs of its own.
func fillRatios(rows []Row) []Row {
	byKind := map[rowKind]*Row{}
	for i := range rows {
		if isSubstrate(rows[i].kind) {
			byKind[rows[i].kind] = &rows[i]
		}
	}
	for i := range rows {
		r := &rows[i]
		if sub := byKind[substrateKindOf(r.kind)]; sub != nil && r.Ratio == 0 {
			ratios(r, sub)
		}
		if floor := byKind[floorKindOf(r.kind)]; floor != nil && r.FloorRatio == 0 {
			floorRatios(r, floor)
		}
	}
	return rows
}

// ratios sets r's ratios to the substrate row sub.
func ratios(r, sub *Row) {
	r.Substrate, r.SubRate, r.Ratio = sub.Name, sub.Rate, r.Rate/sub.Rate
	if sub.P50us > 0 && r.P50us > 0 {
		r.P50Ratio = r.P50us / sub.P50us
	}
	cpuRatios(r, sub)
}

// floorRatios sets r's figures compared with the floor row floor.
func floorRatios(r, floor *Row) {
	r.Floor, r.FloorRate, r.FloorRatio = floor.Name, floor.Rate, r.Rate/floor.Rate
	if floor.P50us > 0 && r.P50us > 0 {
		r.FloorP50Ratio = r.P50us / floor.P50us
	}
	if floor.CPUus > 0 && r.CPUus > 0 {
		r.FloorCPUus, r.FloorCPURatio = floor.CPUus, r.CPUus/floor.CPUus
	}
}

// cpuRatios sets r's CPU-per-call figures compared with the substrate row sub.
func cpuRatios(r, sub *Row) {
	if sub.CPUus > 0 && r.CPUus > 0 {
		r.SubCPUus, r.CPURatio = sub.CPUus, r.CPUus/sub.CPUus
	}
}

// writeTable prints rows as an aligned Markdown table, then which floor each kind of row is
// compared with.
func writeTable(w io.Writer, rows []Row) {
	header := []string{"benchmark", "jetray ops/s", "p50", "p99", "substrate ops/s", "% of substrate", "p50 / substrate p50",
		"CPU/call", "substrate CPU/call", "CPU / substrate", "% of floor", "p50 / floor p50", "CPU / floor",
		"Ray 2.22 ops/s", "jetray / Ray"}
	cells := [][]string{header}
	for _, r := range rows {
		c := make([]string, len(header))
		c[0], c[1] = r.Name, formatRate(r.Rate)
		if r.Unit != "calls/s" {
			c[1] += " " + strings.TrimSuffix(r.Unit, "/s") + "/s"
		}
		if r.P50us > 0 {
			c[2], c[3] = formatUS(r.P50us), formatUS(r.P99us)
		}
		if r.Ratio > 0 {
			c[4] = formatRate(r.SubRate)
			c[5] = fmt.Sprintf("%.0f%%", 100*r.Ratio)
		}
		if r.P50Ratio > 0 {
			c[6] = fmt.Sprintf("%.2fx", r.P50Ratio)
		}
		if r.CPUus > 0 {
			c[7] = formatCPU(r)
		}
		if r.CPURatio > 0 {
			c[8] = formatUS(r.SubCPUus)
			c[9] = fmt.Sprintf("%.2fx", r.CPURatio)
		}
		if r.FloorRatio > 0 {
			c[10] = fmt.Sprintf("%.0f%%", 100*r.FloorRatio)
		}
		if r.FloorP50Ratio > 0 {
			c[11] = fmt.Sprintf("%.2fx", r.FloorP50Ratio)
		}
		if r.FloorCPURatio > 0 {
			c[12] = fmt.Sprintf("%.2fx", r.FloorCPURatio)
		}
		if r.Ray > 0 {
			c[13] = formatRate(r.Ray)
			c[14] = fmt.Sprintf("%.2fx", r.Rate/r.Ray)
		}
		for i := range c {
			if c[i] == "" {
				c[i] = "-"
			}
		}
		cells = append(cells, c)
	}
	widths := make([]int, len(header))
	for _, row := range cells {
		for i, s := range row {
			widths[i] = max(widths[i], len(s))
		}
	}
	bw := bufio.NewWriter(w)
	line := func(row []string) {
		for i, s := range row {
			if i == 0 {
				fmt.Fprintf(bw, "| %-*s ", widths[i], s)
			} else {
				fmt.Fprintf(bw, "| %*s ", widths[i], s)
			}
		}
		fmt.Fprintln(bw, "|")
	}
	line(cells[0])
	for i, wd := range widths {
		if i == 0 {
			fmt.Fprintf(bw, "|%s", strings.Repeat("-", wd+2))
		} else {
			fmt.Fprintf(bw, "|%s:", strings.Repeat("-", wd+1))
		}
	}
	fmt.Fprintln(bw, "|")
	for _, row := range cells[1:] {
		line(row)
	}
	fmt.Fprintf(bw, "\nfloor: %q for one-at-a-time rows, %q for pipelined rows\n", keptName, durableName)
	_ = bw.Flush()
}

// formatRate prints a rate with thousands separators, or one decimal below 100.
func formatRate(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return b.String()
}

// formatUS prints microseconds as "123 us" or "1.23 ms".
func formatUS(v float64) string {
	if v < 1000 {
		return fmt.Sprintf("%.0f us", v)
	}
	return fmt.Sprintf("%.2f ms", v/1000)
}

// formatCPU prints r's CPU time per call, or per round for a rounds/s row ("1.20 ms/round").
func formatCPU(r Row) string {
	s := formatUS(r.CPUus)
	if r.Unit != "calls/s" {
		s += "/" + strings.TrimSuffix(r.Unit, "s/s")
	}
	return s
}

// writeJSON writes the run's machine, parameters and rows to path.
func writeJSON(path string, m machine, p Params, rows []Row) error {
	data, err := json.MarshalIndent(struct {
		Machine machine `json:"machine"`
		Params  Params  `json:"params"`
		Results []Row   `json:"results"`
	}{m, p, rows}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
