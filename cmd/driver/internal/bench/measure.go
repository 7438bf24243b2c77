package bench

import (
	"context"
	"slices"
	"sync"
	"time"
)

// measure is what one benchmark run counted.
type measure struct {
	ops     int             // calls (or rounds) completed in the measured time
	elapsed time.Duration   // the measured time, including the last round's overrun
	lat     []time.Duration // per-call latencies, for the one-at-a-time benchmarks
	slowest time.Duration   // the slowest call or round
	cpu     time.Duration   // process CPU time (user+sys: server, worker and driver) in the measured time
}

func (m measure) rate() float64 {
	if m.elapsed <= 0 {
		return 0
	}
	return float64(m.ops) / m.elapsed.Seconds()
}

// cpuPerOp returns the process CPU time per operation in microseconds, 0 if unknown.
func (m measure) cpuPerOp() float64 {
	if m.ops == 0 || m.cpu <= 0 {
		return 0
	}
	return us(m.cpu) / float64(m.ops)
}

// percentile returns the q-quantile (0 < q < 1) of the latencies, 0 without any.
func (m measure) percentile(q float64) time.Duration {
	if len(m.lat) == 0 {
		return 0
	}
	s := slices.Clone(m.lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// timeSync runs call one at a time, first for a tenth of d as warm-up, then for d, recording
// each call's latency and the process CPU time of the measured part.
func timeSync(ctx context.Context, d time.Duration, call func(context.Context) error) (measure, error) {
	for start := time.Now(); time.Since(start) < d/10; {
		if err := call(ctx); err != nil {
			return measure{}, err
		}
	}
	lat := make([]time.Duration, 0, 1024)
	cpu0 := cpuTime()
	start := time.Now()
	for t0 := start; t0.Sub(start) < d; {
		if err := call(ctx); err != nil {
			return measure{}, err
		}
		t1 := time.Now()
		lat = append(lat, t1.Sub(t0))
		t0 = t1
	}
	elapsed := time.Since(start)
	return measure{ops: len(lat), elapsed: elapsed, lat: lat, slowest: slices.Max(lat), cpu: cpuTime() - cpu0}, nil
}

// timeParallel runs callers goroutines, each repeating round (which returns how many
// operations it completed) until d has passed, first for a tenth of d as warm-up. finish, if
// not nil, runs after the callers stop, inside the measured time (to drain what is in flight).
// The measure includes the process CPU time of the measured part.
func timeParallel(ctx context.Context, d time.Duration, callers int,
	round func(ctx context.Context, caller int) (int, error), finish func(context.Context) error) (measure, error) {
	if _, err := parallelFor(ctx, d/10, callers, round, finish); err != nil {
		return measure{}, err
	}
	return parallelFor(ctx, d, callers, round, finish)
}

// parallelFor runs callers goroutines repeating round until d has passed, then finish.
func parallelFor(ctx context.Context, d time.Duration, callers int,
	round func(ctx context.Context, caller int) (int, error), finish func(context.Context) error) (measure, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	counts := make([]int, callers)
	slowest := make([]time.Duration, callers)
	cpu0 := cpuTime()
	start := time.Now()
	for i := range callers {
		wg.Go(func() {
			for t0 := time.Now(); t0.Sub(start) < d && ctx.Err() == nil; {
				n, err := round(ctx, i)
				if err != nil {
					cancel(err)
					return
				}
				t1 := time.Now()
				counts[i] += n
				slowest[i] = max(slowest[i], t1.Sub(t0))
				t0 = t1
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return measure{}, err
	}
	if finish != nil {
		if err := finish(ctx); err != nil {
			return measure{}, err
		}
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	total := 0
	for _, n := range counts {
		total += n
	}
	return measure{ops: total, elapsed: elapsed, slowest: slices.Max(slowest), cpu: cpu}, nil
}
