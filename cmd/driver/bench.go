package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jetray/jetray/cmd/driver/internal/bench"
)

const benchSynopsis = "bench [-nats URL [-no-worker]] [-only NAME] [-duration 2s] [-count N] [-paired] [-json FILE] [-concurrency 16] [-replicas N] [-tiny] [-cpuprofile FILE]\n" +
	"       driver bench -serve -nats URL [-concurrency 16]"

// runBench is "driver bench": Ray's microbenchmarks (python/ray/_private/ray_perf.py) on
// jetray, beside the bare JetStream path they are built on, measured in one run on one server
// by package bench. It prints a table of calls/s, latency percentiles, CPU time per call, the
// ratios to the substrate and Ray's published figures; -json also writes the rows to a file.
// With -serve it only serves the bench catalog, for another driver's bench -no-worker.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", benchSynopsis, stderr)
	cfg := bench.Config{Params: bench.DefaultParams()}
	p := &cfg.Params
	fs.StringVar(&cfg.URL, "nats", "", "use the NATS server at `URL` instead of an embedded one (file storage)")
	noWorker := fs.Bool("no-worker", false, "with -nats: start no in-process worker; workers serving the bench catalog must exist (driver bench -serve)")
	serve := fs.Bool("serve", false, "with -nats: only serve the bench catalog until interrupted, for another driver bench -no-worker")
	fs.StringVar(&cfg.Only, "only", "", "run only benchmarks whose name contains `NAME` (case-insensitive; the substrate rows they compare with always run)")
	fs.DurationVar(&p.Duration, "duration", p.Duration, "measured time per benchmark, after a tenth of it as warm-up")
	fs.StringVar(&cfg.JSON, "json", "", "also write the results as JSON to `FILE`")
	fs.IntVar(&p.Concurrency, "concurrency", p.Concurrency, "task slots of the in-process worker")
	fs.IntVar(&p.Prefetch, "prefetch", p.Prefetch, "prefetch per task name of the in-process worker")
	fs.IntVar(&p.Window, "window", p.Window, "substrate pipelined: messages in flight")
	fs.IntVar(&p.Replicas, "replicas", 0, "with -nats: replicas of every stream jetray and the substrate create (`N`, 0: 1); 3 on a 3-node cluster")
	fs.IntVar(&cfg.Count, "count", 1, "run the suite `N` times and report each benchmark's median run (a busy machine is noisy)")
	fs.BoolVar(&cfg.Paired, "paired", false, "run the matching substrate benchmark right before each jetray one and take the ratio to that run (for a machine whose load changes)")
	tiny := fs.Bool("tiny", false, "a few hundred milliseconds in all, small batches: proves the suite runs")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of jetray's benchmarks (the whole process: server, worker and driver; not the substrate rows) to `FILE`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("bench: unexpected argument %q", pos[0])}
	}
	if *tiny {
		d, w := p.Duration, p.Window
		*p = p.Tiny()
		if flagSet(fs, "duration") {
			p.Duration = d
		}
		if flagSet(fs, "window") {
			p.Window = w
		}
	}
	switch {
	case cfg.Count < 1:
		return usageError{"bench: -count must be at least 1"}
	case p.Duration <= 0:
		return usageError{"bench: -duration must be positive"}
	case p.Concurrency < 1 || p.Prefetch < 1 || p.Window < 1:
		return usageError{"bench: -concurrency, -prefetch and -window must be at least 1"}
	case p.Replicas < 0 || p.Replicas > 5:
		return usageError{"bench: -replicas must be between 0 and 5"}
	case p.Replicas > 1 && cfg.URL == "":
		return usageError{"bench: -replicas needs -nats URL (the embedded server is one node)"}
	case *noWorker && cfg.URL == "":
		return usageError{"bench: -no-worker needs -nats URL"}
	case *serve && (cfg.URL == "" || *noWorker):
		return usageError{"bench: -serve needs -nats URL and no -no-worker"}
	}
	if *serve {
		return serveBench(ctx, cfg.URL, *p, stdout)
	}
	cfg.Worker = !*noWorker
	err = bench.Run(ctx, cfg, stdout)
	if errors.Is(err, bench.ErrNoMatch) {
		return usageError{err.Error()}
	}
	return err
}

// serveBench runs an in-process worker serving the bench catalog until ctx ends.
func serveBench(ctx context.Context, url string, p bench.Params, stdout io.Writer) error {
	c, err := connect(ctx, url, connectTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	w, err := bench.NewWorker(c, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "serving the bench catalog (%s) on %s with %d task slots until interrupted\n",
		strings.Join(bench.CatalogNames(), ", "), url, p.Concurrency)
	return w.Run(ctx)
}
