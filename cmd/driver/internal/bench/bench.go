// Package bench is the suite behind "driver bench": Ray's microbenchmarks
// (python/ray/_private/ray_perf.py) on jetray, measured beside the bare JetStream path they
// are built on (the substrate), in one run on one server. For each row it reports calls/s,
// latency percentiles, the process CPU time per call, and the ratios of both to the substrate.
//
// The parts, a file each: what the benchmarks call (catalog.go), the rows (cases.go), the
// server, clients and worker they run against (env.go), the substrate (substrate.go), timing
// and CPU time (measure.go, cpu.go), running the suite with -count and -paired (run.go), and
// what it prints and writes (report.go, machine.go, progress.go).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"
)

// ErrNoMatch is returned, wrapped with the names there are, when no benchmark matches
// Config.Only.
var ErrNoMatch = errors.New("no benchmark matches")

// Params sizes the benchmarks. The defaults mirror ray_perf.py on Ray's published machine
// (64 vCPUs, so 32 actors); Tiny shrinks everything for tests.
type Params struct {
	Duration    time.Duration `json:"duration_ns"`        // measured time per benchmark (plus a tenth for warm-up)
	Batch       int           `json:"batch"`              // calls submitted before gathering them
	Clients     int           `json:"clients"`            // multi client tasks: clients, each its own connection
	Callers     int           `json:"callers"`            // n:n benchmarks: callers, each its own client
	Actors      int           `json:"actors"`             // 1:n and n:n benchmarks: actors called round-robin
	ConcCallers int           `json:"conc_callers"`       // 1:1 concurrent: goroutines calling the one actor
	MaxConc     int           `json:"max_conc"`           // 1:1 concurrent: the actor's max_concurrency
	WaitN       int           `json:"wait_n"`             // wait benchmark: futures per round
	Window      int           `json:"window"`             // substrate pipelined: messages in flight
	Concurrency int           `json:"concurrency"`        // in-process worker's task slots
	Prefetch    int           `json:"prefetch"`           // in-process worker's prefetch per task name
	Replicas    int           `json:"replicas,omitempty"` // replicas of every stream jetray and the substrate create (0: 1); for a cluster
}

// DefaultParams returns the sizes of a full run: 2 s per benchmark, batches of 1,000, 4
// clients and callers, 32 actors, a window of 1,000, 16 task slots and a prefetch of 1,024.
func DefaultParams() Params {
	return Params{Duration: 2 * time.Second, Batch: 1000, Clients: 4, Callers: 4, Actors: 32,
		ConcCallers: 4, MaxConc: 16, WaitN: 1000, Window: 1000, Concurrency: 16, Prefetch: 1024}
}

// Tiny shrinks p to prove the suite works in a test: 100 ms runs, small batches, few actors.
func (p Params) Tiny() Params {
	p.Duration = 100 * time.Millisecond
	p.Batch, p.Clients, p.Callers, p.Actors, p.ConcCallers, p.WaitN, p.Window = 20, 2, 2, 3, 2, 20, 50
	return p
}

// Config says what Run runs, against what, and where it writes.
type Config struct {
	URL        string // NATS server; "" starts an embedded one (file storage, temporary directory)
	Worker     bool   // run an in-process worker serving the catalog; without it one must run elsewhere (NewWorker)
	Only       string // run only benchmarks whose name contains this (case-insensitive), and their substrate rows; "" runs all
	Count      int    // runs of the suite (below 1: one); each row is its benchmark's median run
	Paired     bool   // run the matching substrate benchmark right before each jetray one and compare with that run
	JSON       string // if not "", also write the machine, parameters and rows as JSON to this file
	CPUProfile string // if not "", write a CPU profile of jetray's benchmarks (the whole process) to this file
	Params     Params
}

// Run runs the suite as cfg says, printing progress and then a table of the rows to stdout.
// It returns an error wrapping ErrNoMatch before anything runs if cfg.Only matches nothing,
// and otherwise the first benchmark's failure, joined with any error of the teardown, of the
// profile or of writing the JSON file; the rows measured before a failure are still printed.
func Run(ctx context.Context, cfg Config, stdout io.Writer) error {
	cs, err := selectCases(cfg.Only)
	if err != nil {
		return err
	}
	count, p := max(1, cfg.Count), cfg.Params
	e, err := startEnv(ctx, cfg.URL, cfg.Worker, p)
	if err != nil {
		return err
	}
	m := machineInfo()
	fmt.Fprintf(stdout, "jetray bench: %s; %s\n", m, e.where)
	fmt.Fprintf(stdout, "%d benchmarks, %s each after %s warm-up", len(cs), p.Duration, p.Duration/10)
	if count > 1 {
		fmt.Fprintf(stdout, ", %d runs of the suite (the table shows each benchmark's median run)", count)
	}
	if cfg.Paired {
		fmt.Fprint(stdout, ", each paired with a substrate run just before it")
	}
	fmt.Fprintln(stdout)

	// The profile covers jetray's benchmarks only, not the substrate's, which run first
	// (unless paired).
	prof := &profile{path: cfg.CPUProfile}
	o := runOptions{count: count, paired: cfg.Paired}
	if prof.path != "" {
		o.beforeJetray = prof.start
	}
	rows, runErr := runCases(ctx, e, cs, o, newProgress(stdout, runsPerSuite(cs, cfg.Paired)*count))
	runErr = errors.Join(runErr, prof.stop(), e.close())
	if len(rows) > 0 {
		fmt.Fprintln(stdout)
		writeTable(stdout, rows)
		if cfg.JSON != "" {
			runErr = errors.Join(runErr, writeJSON(cfg.JSON, m, p, rows))
		}
	}
	return runErr
}

// runsPerSuite returns how many benchmark runs one run of the suite cs makes: paired, each
// jetray benchmark with a substrate brings its own substrate and floor runs.
func runsPerSuite(cs []benchCase, paired bool) int {
	if !paired {
		return len(cs)
	}
	runs := 0
	for _, c := range cs {
		if substrateKindOf(c.kind) >= 0 {
			runs += 3
		} else if !isSubstrate(c.kind) {
			runs++
		}
	}
	return runs
}

// profile is a CPU profile written to path from start until stop.
type profile struct {
	path string
	f    *os.File
}

func (p *profile) start() error {
	f, err := os.Create(p.path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("bench: cpu profile: %w", err)
	}
	p.f = f
	return nil
}

// stop ends the profile, if it started, and closes its file.
func (p *profile) stop() error {
	if p.f == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := p.f.Close()
	p.f = nil
	return err
}
