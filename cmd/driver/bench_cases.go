package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// benchKind says what a benchmark is compared with.
type benchKind int

const (
	kindSync           benchKind = iota // one call at a time: vs the substrate one at a time
	kindAsync                           // pipelined calls: vs the substrate pipelined
	kindRounds                          // wait rounds: no substrate figure
	kindSubstrateSync                   // the substrate, one at a time
	kindSubstrateAsync                  // the substrate, pipelined
)

// benchCase is one row of the table.
type benchCase struct {
	name  string
	kind  benchKind
	ray   float64                    // Ray 2.22's published figure (ops/s), 0 for none
	shape func(p benchParams) string // how it runs, for the JSON output
	run   func(context.Context, *benchEnv) (measure, error)
}

const (
	substrateSyncName  = "substrate: one at a time"
	substrateAsyncName = "substrate: pipelined"
)

// benchCases lists the benchmarks in the order they run and print: the substrate first, then
// ray_perf.py's, in the order of Ray's table.
func benchCases() []benchCase {
	noop := struct{}{}
	return []benchCase{
		{substrateSyncName, kindSubstrateSync, 0, func(benchParams) string {
			return "publish to a work-queue stream (file), Consume with explicit ack, reply on core NATS, ack; one at a time"
		}, substrateOneAtATime},
		{substrateAsyncName, kindSubstrateAsync, 0, func(p benchParams) string {
			return fmt.Sprintf("the same with async publish, %d in flight", p.Window)
		}, substratePipelined},

		{"single client tasks sync", kindSync, 971, func(benchParams) string {
			return "Remote then Await, one at a time"
		}, func(ctx context.Context, e *benchEnv) (measure, error) {
			return timeSync(ctx, e.p.Duration, func(ctx context.Context) error {
				_, err := benchNoop.Remote(ctx, e.driver, noop).Await(ctx)
				return err
			})
		}},
		{"single client tasks async", kindAsync, 8194, func(p benchParams) string {
			return fmt.Sprintf("submit %d, Gather", p.Batch)
		}, func(ctx context.Context, e *benchEnv) (measure, error) {
			return timeParallel(ctx, e.p.Duration, 1, func(ctx context.Context, _ int) (int, error) {
				return taskBatch(ctx, e.driver, e.p.Batch)
			}, nil)
		}},
		{"multi client tasks async", kindAsync, 21744, func(p benchParams) string {
			return fmt.Sprintf("%d clients (own connections), each: submit %d, Gather", p.Clients, p.Batch)
		}, func(ctx context.Context, e *benchEnv) (measure, error) {
			cs, err := e.clients(ctx, e.p.Clients)
			if err != nil {
				return measure{}, err
			}
			return timeParallel(ctx, e.p.Duration, len(cs), func(ctx context.Context, i int) (int, error) {
				return taskBatch(ctx, cs[i], e.p.Batch)
			}, nil)
		}},

		{"1:1 actor calls sync", kindSync, 2096, func(benchParams) string {
			return "one plain actor; Remote then Await, one at a time"
		}, actorSync(benchPlain, benchPlainNoop)},
		{"1:1 actor calls async", kindAsync, 9063, func(p benchParams) string {
			return fmt.Sprintf("one plain actor; submit %d, Gather", p.Batch)
		}, actorAsync(benchPlain, benchPlainNoop, 1, 1)},
		{"1:1 actor calls concurrent", kindAsync, 5480, func(p benchParams) string {
			return fmt.Sprintf("one actor with MaxConcurrency %d; %d callers, each: submit %d, Gather",
				p.MaxConc, p.ConcCallers, max(1, p.Batch/p.ConcCallers))
		}, func(ctx context.Context, e *benchEnv) (measure, error) {
			_, hs, err := newActors(ctx, e, benchPlain, 1, actors.MaxConcurrency(e.p.MaxConc))
			if err != nil {
				return measure{}, err
			}
			per := max(1, e.p.Batch/e.p.ConcCallers)
			return timeParallel(ctx, e.p.Duration, e.p.ConcCallers, func(ctx context.Context, _ int) (int, error) {
				return actorBatch(ctx, benchPlainNoop, hs, per)
			}, nil)
		}},
		{"1:n actor calls async", kindAsync, 8606, func(p benchParams) string {
			return fmt.Sprintf("%d plain actors; submit %d round-robin, Gather", p.Actors, p.Batch)
		}, actorAsync(benchPlain, benchPlainNoop, 0, 1)},
		{"n:n actor calls async", kindAsync, 27688, func(p benchParams) string {
			return fmt.Sprintf("%d callers (own clients), %d plain actors; each: submit %d round-robin, Gather", p.Callers, p.Actors, p.Batch)
		}, actorAsync(benchPlain, benchPlainNoop, 0, 0)},

		{"1:1 async-actor calls sync", kindSync, 1326, func(benchParams) string {
			return "one async actor (MaxConcurrency 1000); Remote then Await, one at a time"
		}, actorSync(benchAsync, benchAsyncNoop)},
		{"1:1 async-actor calls async", kindAsync, 3314, func(p benchParams) string {
			return fmt.Sprintf("one async actor; submit %d, Gather", p.Batch)
		}, actorAsync(benchAsync, benchAsyncNoop, 1, 1)},
		{"n:n async-actor calls async", kindAsync, 23093, func(p benchParams) string {
			return fmt.Sprintf("%d callers (own clients), %d async actors; each: submit %d round-robin, Gather", p.Callers, p.Actors, p.Batch)
		}, actorAsync(benchAsync, benchAsyncNoop, 0, 0)},

		{"put calls", kindSync, 5196, func(benchParams) string {
			return "framework.Put of a small value, one at a time (stored in JETRAY_RESULTS)"
		}, func(ctx context.Context, e *benchEnv) (measure, error) {
			return timeSync(ctx, e.p.Duration, func(ctx context.Context) error {
				return framework.Put(ctx, e.driver, 0).Err()
			})
		}},
		{"get calls", kindSync, 10270, func(benchParams) string {
			return "Client.Resolve of a Put value by ID, one at a time"
		}, func(ctx context.Context, e *benchEnv) (measure, error) {
			f := framework.Put(ctx, e.driver, 0)
			if err := f.Err(); err != nil {
				return measure{}, err
			}
			return timeSync(ctx, e.p.Duration, func(ctx context.Context) error {
				var v int
				return e.driver.Resolve(ctx, f.ID(), &v)
			})
		}},
		{"wait on 1,000 futures one at a time", kindRounds, 5.0, func(p benchParams) string {
			return fmt.Sprintf("rounds/s: submit %d, then futures.Wait(ctx, pending, 1) until none is left", p.WaitN)
		}, func(ctx context.Context, e *benchEnv) (measure, error) {
			return timeParallel(ctx, e.p.Duration, 1, func(ctx context.Context, _ int) (int, error) {
				pending := make([]*futures.Future[string], e.p.WaitN)
				for i := range pending {
					pending[i] = benchNoop.Remote(ctx, e.driver, noop)
				}
				for len(pending) > 0 {
					ready, rest, err := futures.Wait(ctx, pending, 1)
					if err != nil {
						return 0, err
					}
					if err := ready[0].Err(); err != nil {
						return 0, err
					}
					pending = rest
				}
				return 1, nil
			}, nil)
		}},
	}
}

// taskBatch submits n no-op tasks from c, then gathers them.
func taskBatch(ctx context.Context, c *framework.Client, n int) (int, error) {
	fs := make([]*futures.Future[string], n)
	for i := range fs {
		fs[i] = benchNoop.Remote(ctx, c, struct{}{})
	}
	_, err := futures.Gather(ctx, fs...)
	return n, err
}

// actorBatch submits n calls of m round-robin over hs, then gathers them.
func actorBatch(ctx context.Context, m *actors.MethodDef[benchActor, struct{}, string], hs []*actors.Handle[benchActor], n int) (int, error) {
	fs := make([]*futures.Future[string], n)
	for i := range fs {
		fs[i] = m.Remote(ctx, hs[i%len(hs)], struct{}{})
	}
	_, err := futures.Gather(ctx, fs...)
	return n, err
}

// actorSync calls m on one new actor of cls, one call at a time.
func actorSync(cls *actors.Class[benchActor, struct{}], m *actors.MethodDef[benchActor, struct{}, string]) func(context.Context, *benchEnv) (measure, error) {
	return func(ctx context.Context, e *benchEnv) (measure, error) {
		_, hs, err := newActors(ctx, e, cls, 1)
		if err != nil {
			return measure{}, err
		}
		return timeSync(ctx, e.p.Duration, func(ctx context.Context) error {
			_, err := m.Remote(ctx, hs[0], struct{}{}).Await(ctx)
			return err
		})
	}
}

// actorAsync runs batches of calls of m over new actors of cls: nActors actors (0: p.Actors)
// and callers callers (0: p.Callers, each on its own client; 1: the driver).
func actorAsync(cls *actors.Class[benchActor, struct{}], m *actors.MethodDef[benchActor, struct{}, string], nActors, callers int) func(context.Context, *benchEnv) (measure, error) {
	return func(ctx context.Context, e *benchEnv) (measure, error) {
		if nActors == 0 {
			nActors = e.p.Actors
		}
		names, hs, err := newActors(ctx, e, cls, nActors)
		if err != nil {
			return measure{}, err
		}
		perCaller := [][]*actors.Handle[benchActor]{hs}
		if callers == 0 {
			cs, err := e.clients(ctx, e.p.Callers)
			if err != nil {
				return measure{}, err
			}
			perCaller = perCaller[:0]
			for _, c := range cs {
				hc, err := handlesFor(ctx, c, cls, names)
				if err != nil {
					return measure{}, err
				}
				perCaller = append(perCaller, hc)
			}
		}
		return timeParallel(ctx, e.p.Duration, len(perCaller), func(ctx context.Context, i int) (int, error) {
			return actorBatch(ctx, m, perCaller[i], e.p.Batch)
		}, nil)
	}
}

// selectCases returns the benchmarks whose names contain only (case-insensitive), plus the
// substrate rows they are compared with.
func selectCases(only string) ([]benchCase, error) {
	all := benchCases()
	if only == "" {
		return all, nil
	}
	want := strings.ToLower(only)
	var needSync, needAsync bool
	match := make([]bool, len(all))
	found := false
	for i, c := range all {
		if strings.Contains(strings.ToLower(c.name), want) {
			match[i], found = true, true
			needSync = needSync || c.kind == kindSync
			needAsync = needAsync || c.kind == kindAsync
		}
	}
	if !found {
		names := make([]string, len(all))
		for i, c := range all {
			names[i] = "  " + c.name
		}
		return nil, usageError{fmt.Sprintf("bench: no benchmark matches %q; there are:\n%s", only, strings.Join(names, "\n"))}
	}
	var out []benchCase
	for i, c := range all {
		if match[i] || (c.kind == kindSubstrateSync && needSync) || (c.kind == kindSubstrateAsync && needAsync) {
			out = append(out, c)
		}
	}
	return out, nil
}
