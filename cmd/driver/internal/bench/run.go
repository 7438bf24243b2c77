package bench

import (
	"context"
	"fmt"
	"runtime/pprof"
	"slices"
)

// runOptions says how often and how runCases runs the benchmarks.
type runOptions struct {
	count  int  // runs of the suite; each row is its benchmark's median run
	paired bool // run the matching substrate benchmark right before each jetray one
	// beforeJetray, if not nil, runs once before the first benchmark that is not the
	// substrate's (to start a profile).
	beforeJetray func() error
}

// runCases runs the benchmarks cs in order o.count times, reporting progress, and returns a row
// per benchmark that ran: its median run, with substrate ratios filled in. It stops at the
// first failure.
//
// Paired, each jetray benchmark's ratio is to the substrate run just before it, which keeps
// the ratio honest on a machine whose load changes during the suite; the median run is then
// the one with the median ratio, and the substrate rows show the median of all their runs.
func runCases(ctx context.Context, e *env, cs []benchCase, o runOptions, prog *progress) ([]Row, error) {
	runs := make([][]Row, len(cs))
	subIdx := map[rowKind]int{} // the substrate and floor benchmarks by kind
	for i, c := range cs {
		if isSubstrate(c.kind) {
			subIdx[c.kind] = i
		}
	}
	run := func(i, rep int) (Row, error) {
		c := cs[i]
		label := c.name
		if o.count > 1 {
			label = fmt.Sprintf("%s (run %d/%d)", c.name, rep+1, o.count)
		}
		r, err := runCase(ctx, e, c, label, prog)
		if err == nil {
			runs[i] = append(runs[i], r)
		}
		return r, err
	}
	var err error
loop:
	for rep := range o.count {
		for i, c := range cs {
			if isSubstrate(c.kind) && o.paired {
				continue // run beside each benchmark instead
			}
			if o.beforeJetray != nil && !isSubstrate(c.kind) {
				if err = o.beforeJetray(); err != nil {
					break loop
				}
				o.beforeJetray = nil
			}
			// Paired: the floor, then the substrate, then the benchmark, so that the substrate
			// run is still the one just before it.
			var floor, pair *Row
			if j, ok := subIdx[floorKindOf(c.kind)]; ok && o.paired {
				f, ferr := run(j, rep)
				if err = ferr; err != nil {
					break loop
				}
				floor = &f
			}
			if j, ok := subIdx[substrateKindOf(c.kind)]; ok && o.paired {
				sub, perr := run(j, rep)
				if err = perr; err != nil {
					break loop
				}
				pair = &sub
			}
			if _, err = run(i, rep); err != nil {
				break loop
			}
			if pair != nil {
				ratios(&runs[i][len(runs[i])-1], pair)
			}
			if floor != nil {
				floorRatios(&runs[i][len(runs[i])-1], floor)
			}
		}
	}
	var rows []Row
	for i, rs := range runs {
		if len(rs) == 0 {
			continue
		}
		if o.paired && !isSubstrate(cs[i].kind) && rs[0].Ratio > 0 {
			rows = append(rows, median(rs, func(r Row) float64 { return r.Ratio },
				func(r Row) float64 { return r.CPURatio }))
		} else {
			rows = append(rows, median(rs, func(r Row) float64 { return r.Rate },
				func(r Row) float64 { return r.CPUus }))
		}
	}
	return fillRatios(rows), err
}

// isSubstrate reports whether k is a substrate or floor benchmark, which no jetray code runs.
func isSubstrate(k rowKind) bool {
	return k == kindSubstrateSync || k == kindSubstrateAsync || k == kindKeptSync || k == kindDurableAsync
}

// substrateKindOf returns the kind of the substrate benchmark k is compared with, or -1.
func substrateKindOf(k rowKind) rowKind {
	switch k {
	case kindSync:
		return kindSubstrateSync
	case kindAsync:
		return kindSubstrateAsync
	}
	return -1
}

// floorKindOf returns the kind of the floor benchmark k is compared with, or -1.
func floorKindOf(k rowKind) rowKind {
	switch k {
	case kindSync:
		return kindKeptSync
	case kindAsync:
		return kindDurableAsync
	}
	return -1
}

// runCase runs c once and turns its measure into a row.
func runCase(ctx context.Context, e *env, c benchCase, label string, prog *progress) (Row, error) {
	prog.begin(label, e.p.Duration)
	var m measure
	var err error
	pprof.Do(ctx, pprof.Labels("bench", c.name), func(ctx context.Context) { m, err = c.run(ctx, e) })
	if err == nil && m.ops == 0 {
		err = fmt.Errorf("no operation completed in %s", m.elapsed)
	}
	if err != nil {
		prog.end(fmt.Sprintf("%s: failed: %v", label, err))
		return Row{}, fmt.Errorf("bench %q: %w", c.name, err)
	}
	r := Row{Name: c.name, Shape: c.shape(e.p), Unit: "calls/s", Ops: m.ops, Seconds: m.elapsed.Seconds(),
		Rate: m.rate(), Ray: c.ray, CPUus: m.cpuPerOp(), kind: c.kind}
	if c.kind == kindRounds {
		r.Unit = "rounds/s"
	}
	if len(m.lat) > 0 {
		r.P50us = us(m.percentile(0.50))
		r.P99us = us(m.percentile(0.99))
	}
	r.SlowestUS = us(m.slowest)
	line := fmt.Sprintf("%-36s %12s %s", label, formatRate(r.Rate), r.Unit)
	if r.P50us > 0 {
		line += fmt.Sprintf("  p50 %s  p99 %s  slowest call %s", formatUS(r.P50us), formatUS(r.P99us), formatUS(r.SlowestUS))
	} else {
		line += fmt.Sprintf("  slowest round %s", formatUS(r.SlowestUS))
	}
	if r.CPUus > 0 {
		line += "  cpu " + formatCPU(r)
		if r.Unit == "calls/s" {
			line += "/call"
		}
	}
	prog.end(line)
	return r, nil
}

// median returns the run with the median key (the lower one of an even count), with the CPU
// figures of the run with the median cpuKey and the floor figures of the runs with the median
// floor ratio and floor CPU ratio (paired runs; otherwise fillRatios sets them), carrying every
// run's ops/s in Runs and CPU per call in CPURuns.
func median(rs []Row, key, cpuKey func(Row) float64) Row {
	m := medianBy(rs, key)
	c := medianBy(rs, cpuKey)
	m.CPUus, m.SubCPUus, m.CPURatio = c.CPUus, c.SubCPUus, c.CPURatio
	f := medianBy(rs, func(r Row) float64 { return r.FloorRatio })
	m.Floor, m.FloorRate, m.FloorRatio, m.FloorP50Ratio = f.Floor, f.FloorRate, f.FloorRatio, f.FloorP50Ratio
	fc := medianBy(rs, func(r Row) float64 { return r.FloorCPURatio })
	m.FloorCPUus, m.FloorCPURatio = fc.FloorCPUus, fc.FloorCPURatio
	if len(rs) > 1 {
		m.Runs = make([]float64, len(rs))
		m.CPURuns = make([]float64, len(rs))
		for i, r := range rs {
			m.Runs[i], m.CPURuns[i] = r.Rate, r.CPUus
		}
	}
	return m
}

// medianBy returns the run with the median key, the lower one of an even count.
func medianBy(rs []Row, key func(Row) float64) Row {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b Row) int {
		switch ka, kb := key(a), key(b); {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return sorted[(len(sorted)-1)/2]
}
