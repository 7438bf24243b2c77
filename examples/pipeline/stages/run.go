package stages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// Config sizes the pipeline. The zero value runs the default pipeline.
type Config struct {
	// Readings is the size of the dataset. Default 6,000 (about 22 KB of JSON). Above about
	// 200,000 the dataset and the cleaned result no longer fit one message and go through
	// the jetray_objects object store.
	Readings int
	// Shards is how many shard tasks the cleaned dataset is cut into, at least 2. Default 8.
	// Shard Shards*2/3 is the straggler.
	Shards int
	// Slots is the task slots of the pipeline's worker. Default 4: fewer than the shards, so
	// shards wait for slots and, while they await the dataset, lend theirs.
	Slots int
	// Work is the simulated work of each shard. Default 100 ms. The straggler's is 10 minutes,
	// ended early by its cancellation.
	Work time.Duration
	// Above is the threshold of the scan. Default 900.
	Above int
	// Steps is how many progress values the scan yields. Default 10.
	Steps int
	// StepWork is the simulated work of each scan step. Default 30 ms.
	StepWork time.Duration
}

func (cfg Config) withDefaults() (Config, error) {
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	set(&cfg.Readings, 6000)
	set(&cfg.Shards, 8)
	set(&cfg.Slots, 4)
	set(&cfg.Above, 900)
	set(&cfg.Steps, 10)
	if cfg.Work == 0 {
		cfg.Work = 100 * time.Millisecond
	}
	if cfg.StepWork == 0 {
		cfg.StepWork = 30 * time.Millisecond
	}
	if cfg.Readings < 1 || cfg.Shards < 2 || cfg.Slots < 1 || cfg.Steps < 1 {
		return cfg, fmt.Errorf("pipeline: bad config %+v: want readings >= 1, shards >= 2, slots >= 1, steps >= 1", cfg)
	}
	return cfg, nil
}

// stragglerWork is how long the straggler would work if it were not cancelled.
const stragglerWork = 10 * time.Minute

// Result is what Run observed.
type Result struct {
	PutID    string // ID of the Put future holding the dataset
	CleanID  string // ID of the clean call
	Readings int    // size of the dataset put
	Kept     int    // readings left after Clean
	// Shards holds each shard's summary by index; the straggler's comes from its backup.
	Shards []ShardSum
	Total  Summary // sum of Shards
	// Straggler is the index of the slow shard that was cancelled.
	Straggler int
	// Cancelled is the error the straggler's future failed with after Cancel: this client's
	// own futures fail at once, with an error wrapping framework.ErrCancelled.
	Cancelled error
	// Outcome is the result the worker stored for the straggler, read back by its ID: a
	// TaskError of kind framework.KindCancelled.
	Outcome *framework.TaskError
	// Progress holds the scan's stream values in the order received.
	Progress []Progress
	// Elapsed is the time from the Put to the end of the scan.
	Elapsed time.Duration
}

// Run plays the pipeline with client c and prints what happens, with timings, to out. It
// serves Clean, SumShard and Scan on a worker of its own (cfg.Slots task slots), started on c
// and stopped before Run returns; no other worker of the deployment should serve those names.
// It takes about a second with the default Config. Errors: a bad Config, the worker cannot
// start or stop cleanly, a stage fails, the straggler is not reported cancelled, or ctx ends.
func Run(ctx context.Context, c *framework.Client, out io.Writer, cfg Config) (res Result, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return res, err
	}
	w := framework.NewWorker(c, framework.WithWorkerName("pipeline"), framework.WithConcurrency(cfg.Slots),
		framework.WithDrainTimeout(5*time.Second))
	if err := w.Register(Clean, SumShard, Scan); err != nil {
		return res, err
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() {
		stop()
		if werr := <-done; werr != nil && !errors.Is(werr, context.Canceled) {
			err = errors.Join(err, fmt.Errorf("pipeline worker: %w", werr))
		}
	}()

	p := &printer{out: out, start: time.Now()}
	n := cfg.Shards
	res.Straggler = n * 2 / 3
	res.Shards = make([]ShardSum, n)
	p.line("pipeline: %d readings, %d shards, a worker with %d task slots", cfg.Readings, n, cfg.Slots)

	// 1. Put the dataset once; every stage refers to it by ID.
	readings := Readings(cfg.Readings)
	res.Readings = len(readings)
	raw := framework.Put(ctx, c, readings)
	if err := raw.Err(); err != nil {
		return res, err
	}
	res.PutID = raw.ID()
	p.line("put: %d readings stored as %s", len(readings), raw.ID())

	// 2. Chain a task to the Put future. RemoteFrom holds the call on this client until its
	// dependency resolves (a Put future already has), then submits it with the value.
	clean := Clean.RemoteFrom(ctx, c, raw)
	res.CleanID = clean.ID()
	p.line("clean: %s submitted with Clean.RemoteFrom(put)", clean.ID())

	// 3. Fan out: each shard task gets the clean future inside its input, as a reference. The
	// shards are queued before clean has run; each awaits it on the worker.
	shards := make([]*futures.Future[ShardSum], n)
	shardOf := make(map[string]int, n)
	for i := range shards {
		in := ShardIn{Data: clean, Shard: i, Shards: n, WorkMS: int(cfg.Work / time.Millisecond)}
		if i == res.Straggler {
			in.WorkMS = int(stragglerWork / time.Millisecond)
		}
		shards[i] = SumShard.Remote(ctx, c, in)
		shardOf[shards[i].ID()] = i
	}
	p.line("fan-out: %d shard tasks, each given {data: %s, shard: i}; they await it on the worker, lending their slots meanwhile",
		n, clean.ID())
	p.line("fan-out: shard %d is a straggler (%s of work, the others %s)", res.Straggler, stragglerWork, cfg.Work)

	kept, err := clean.Await(ctx)
	if err != nil {
		return res, fmt.Errorf("clean: %w", err)
	}
	res.Kept = len(kept)
	p.line("clean: kept %d of %d readings (%d faults dropped)", len(kept), len(readings), len(readings)-len(kept))

	// 4. Wait for all shards but one, without reading their values.
	ready, rest, err := futures.Wait(ctx, shards, n-1)
	if err != nil {
		return res, fmt.Errorf("wait for %d of %d shards: %w", n-1, n, err)
	}
	for _, f := range ready {
		s, err := f.Await(ctx)
		if err != nil {
			return res, fmt.Errorf("shard %d: %w", shardOf[f.ID()], err)
		}
		res.Shards[s.Shard] = s
	}
	p.line("wait: %d of %d shards done; still running: %s", len(ready), n, shardNames(rest, shardOf))

	// 5. Cancel the rest, and run a backup of each cancelled shard (MapReduce's backup tasks).
	for _, f := range rest {
		i := shardOf[f.ID()]
		if err := framework.Cancel(ctx, c, f); err != nil {
			return res, err
		}
		_, res.Cancelled = f.Await(ctx)
		p.line("cancel shard %d: its future failed at once: %v (errors.Is ErrCancelled: %t)",
			i, res.Cancelled, errors.Is(res.Cancelled, framework.ErrCancelled))
		if !errors.Is(res.Cancelled, framework.ErrCancelled) {
			return res, fmt.Errorf("shard %d: after Cancel: %v, want ErrCancelled", i, res.Cancelled)
		}
		backup := SumShard.Remote(ctx, c, ShardIn{Data: clean, Shard: i, Shards: n, WorkMS: int(cfg.Work / time.Millisecond)})
		p.line("backup: shard %d submitted again as %s", i, backup.ID())

		// The worker stores its own outcome for the cancelled call; read it by ID, as any
		// process could.
		var discard ShardSum
		werr := c.Resolve(ctx, f.ID(), &discard)
		if !errors.As(werr, &res.Outcome) || !errors.Is(werr, framework.ErrCancelled) {
			return res, fmt.Errorf("shard %d: stored result %v, want a cancelled TaskError", i, werr)
		}
		p.line("cancel shard %d: worker %s stored kind %q: %s", i, res.Outcome.Worker, res.Outcome.Kind, res.Outcome.Message)

		s, err := backup.Await(ctx)
		if err != nil {
			return res, fmt.Errorf("backup of shard %d: %w", i, err)
		}
		res.Shards[i] = s
		p.line("backup: shard %d done", i)
	}
	for _, s := range res.Shards {
		p.line("  shard %d: %5d readings, sum %8d, max %d", s.Shard, s.Count, s.Sum, s.Max)
		res.Total = res.Total.Add(s.Summary)
	}
	p.line("total: %d readings, sum %d, mean %.1f, max %d", res.Total.Count, res.Total.Sum,
		float64(res.Total.Sum)/float64(max(res.Total.Count, 1)), res.Total.Max)

	// 6. A streaming task: its progress values arrive while it still runs.
	s := Scan.Remote(ctx, c, ScanIn{Data: clean, Above: cfg.Above, Steps: cfg.Steps, StepMS: int(cfg.StepWork / time.Millisecond)})
	p.line("scan: %s counts readings above %d, streaming progress", s.ID(), cfg.Above)
	for pr, err := range s.All(ctx) {
		if err != nil {
			return res, fmt.Errorf("scan: %w", err)
		}
		res.Progress = append(res.Progress, pr)
		p.line("scan %3d%%: %5d scanned, %4d above %d", pr.Percent, pr.Scanned, pr.Matches, cfg.Above)
	}
	res.Elapsed = time.Since(p.start)
	p.line("done in %s", res.Elapsed.Round(time.Millisecond))
	return res, nil
}

func shardNames(fs []*futures.Future[ShardSum], shardOf map[string]int) string {
	s := ""
	for k, f := range fs {
		if k > 0 {
			s += ", "
		}
		s += fmt.Sprintf("shard %d", shardOf[f.ID()])
	}
	return s
}

// printer writes lines prefixed with the time since start.
type printer struct {
	out   io.Writer
	start time.Time
}

func (p *printer) line(format string, args ...any) {
	fmt.Fprintf(p.out, "[%7s] %s\n", time.Since(p.start).Round(time.Millisecond), fmt.Sprintf(format, args...))
}
