package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/jetray/jetray/framework"
)

const benchSynopsis = "bench [-nats URL [-no-worker]] [-only NAME] [-duration 2s] [-count N] [-paired] [-json FILE] [-concurrency 16] [-tiny] [-cpuprofile FILE]\n" +
	"       driver bench -serve -nats URL [-concurrency 16]"

// benchParams sizes the benchmarks. The defaults mirror ray_perf.py on Ray's published machine
// (64 vCPUs, so 32 actors); -tiny shrinks everything for tests.
type benchParams struct {
	Duration    time.Duration `json:"duration_ns"`  // measured time per benchmark (plus a tenth for warm-up)
	Batch       int           `json:"batch"`        // calls submitted before gathering them
	Clients     int           `json:"clients"`      // multi client tasks: clients, each its own connection
	Callers     int           `json:"callers"`      // n:n benchmarks: callers, each its own client
	Actors      int           `json:"actors"`       // 1:n and n:n benchmarks: actors called round-robin
	ConcCallers int           `json:"conc_callers"` // 1:1 concurrent: goroutines calling the one actor
	MaxConc     int           `json:"max_conc"`     // 1:1 concurrent: the actor's max_concurrency
	WaitN       int           `json:"wait_n"`       // wait benchmark: futures per round
	Window      int           `json:"window"`       // substrate pipelined: messages in flight
	Concurrency int           `json:"concurrency"`  // in-process worker's task slots
	Prefetch    int           `json:"prefetch"`     // in-process worker's prefetch per task name
}

func defaultBenchParams() benchParams {
	return benchParams{Duration: 2 * time.Second, Batch: 1000, Clients: 4, Callers: 4, Actors: 32,
		ConcCallers: 4, MaxConc: 16, WaitN: 1000, Window: 1000, Concurrency: 16, Prefetch: 1024}
}

// tiny shrinks p to prove the suite works in a test: short runs, small batches, few actors.
func (p benchParams) tiny() benchParams {
	p.Duration = 100 * time.Millisecond
	p.Batch, p.Clients, p.Callers, p.Actors, p.ConcCallers, p.WaitN, p.Window = 20, 2, 2, 3, 2, 20, 50
	return p
}

// runBench is "driver bench": Ray's microbenchmarks (python/ray/_private/ray_perf.py) on
// jetray, beside the bare JetStream path they are built on, measured in one run on one server.
// It prints a table of calls/s, latency percentiles, the ratio to the substrate and Ray's
// published figures; -json also writes the rows to a file.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", benchSynopsis, stderr)
	p := defaultBenchParams()
	natsURL := fs.String("nats", "", "use the NATS server at `URL` instead of an embedded one (file storage)")
	noWorker := fs.Bool("no-worker", false, "with -nats: start no in-process worker; workers serving the bench catalog must exist (driver bench -serve)")
	serve := fs.Bool("serve", false, "with -nats: only serve the bench catalog until interrupted, for another driver bench -no-worker")
	only := fs.String("only", "", "run only benchmarks whose name contains `NAME` (case-insensitive; the substrate rows they compare with always run)")
	fs.DurationVar(&p.Duration, "duration", p.Duration, "measured time per benchmark, after a tenth of it as warm-up")
	jsonOut := fs.String("json", "", "also write the results as JSON to `FILE`")
	fs.IntVar(&p.Concurrency, "concurrency", p.Concurrency, "task slots of the in-process worker")
	fs.IntVar(&p.Prefetch, "prefetch", p.Prefetch, "prefetch per task name of the in-process worker")
	fs.IntVar(&p.Window, "window", p.Window, "substrate pipelined: messages in flight")
	count := fs.Int("count", 1, "run the suite `N` times and report each benchmark's median run (a busy machine is noisy)")
	paired := fs.Bool("paired", false, "run the matching substrate benchmark right before each jetray one and take the ratio to that run (for a machine whose load changes)")
	tiny := fs.Bool("tiny", false, "a few hundred milliseconds in all, small batches: proves the suite runs")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of jetray's benchmarks (the whole process: server, worker and driver; not the substrate rows) to `FILE`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("bench: unexpected argument %q", pos[0])}
	}
	if *tiny {
		d, w := p.Duration, p.Window
		p = p.tiny()
		if flagSet(fs, "duration") {
			p.Duration = d
		}
		if flagSet(fs, "window") {
			p.Window = w
		}
	}
	switch {
	case *count < 1:
		return usageError{"bench: -count must be at least 1"}
	case p.Duration <= 0:
		return usageError{"bench: -duration must be positive"}
	case p.Concurrency < 1 || p.Prefetch < 1 || p.Window < 1:
		return usageError{"bench: -concurrency, -prefetch and -window must be at least 1"}
	case *noWorker && *natsURL == "":
		return usageError{"bench: -no-worker needs -nats URL"}
	case *serve && (*natsURL == "" || *noWorker):
		return usageError{"bench: -serve needs -nats URL and no -no-worker"}
	}
	if *serve {
		return serveBench(ctx, *natsURL, p, stdout)
	}
	cases, err := selectCases(*only)
	if err != nil {
		return err
	}

	env, err := startBenchEnv(ctx, *natsURL, !*noWorker, p)
	if err != nil {
		return err
	}
	m := machineInfo()
	fmt.Fprintf(stdout, "jetray bench: %s; %s\n", m, env.where)
	fmt.Fprintf(stdout, "%d benchmarks, %s each after %s warm-up", len(cases), p.Duration, p.Duration/10)
	if *count > 1 {
		fmt.Fprintf(stdout, ", %d runs of the suite (the table shows each benchmark's median run)", *count)
	}
	if *paired {
		fmt.Fprint(stdout, ", each paired with a substrate run just before it")
	}
	fmt.Fprintln(stdout)

	// The profile covers jetray's benchmarks only, not the substrate's, which run first
	// (unless -paired).
	var prof *os.File
	var startProfile func() error
	if *cpuProfile != "" {
		startProfile = func() error {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				_ = f.Close()
				return fmt.Errorf("bench: cpu profile: %w", err)
			}
			prof = f
			return nil
		}
	}
	runs := len(cases)
	if *paired {
		runs = 0
		for _, c := range cases {
			if substrateKindOf(c.kind) >= 0 {
				runs += 2
			} else if !isSubstrate(c.kind) {
				runs++
			}
		}
	}
	rows, runErr := runCases(ctx, env, cases, runOptions{count: *count, paired: *paired, beforeJetray: startProfile},
		newProgress(stdout, runs**count))
	if prof != nil {
		pprof.StopCPUProfile()
		runErr = errors.Join(runErr, prof.Close())
	}
	runErr = errors.Join(runErr, env.close())
	if len(rows) > 0 {
		fmt.Fprintln(stdout)
		writeTable(stdout, rows)
		if *jsonOut != "" {
			if err := writeJSON(*jsonOut, m, p, rows); err != nil {
				runErr = errors.Join(runErr, err)
			}
		}
	}
	return runErr
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// serveBench runs an in-process worker serving the bench catalog until ctx ends.
func serveBench(ctx context.Context, url string, p benchParams, stdout io.Writer) error {
	c, err := connect(ctx, url, connectTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	w, err := newBenchWorker(c, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "serving the bench catalog (%s) on %s with %d task slots until interrupted\n",
		strings.Join(catalogNames(), ", "), url, p.Concurrency)
	return w.Run(ctx)
}

// newBenchWorker returns a worker serving the bench catalog with p's slots and prefetch.
func newBenchWorker(c *framework.Client, p benchParams) (*framework.Worker, error) {
	w := framework.NewWorker(c, framework.WithConcurrency(p.Concurrency), framework.WithPrefetch(p.Prefetch),
		framework.WithWorkerName("bench-worker-"+c.ID()[:6]), framework.WithDrainTimeout(10*time.Second))
	if err := w.Register(benchCatalog()...); err != nil {
		return nil, err
	}
	return w, nil
}

func catalogNames() []string {
	var names []string
	for _, d := range benchCatalog() {
		names = append(names, d.Name())
	}
	return names
}
