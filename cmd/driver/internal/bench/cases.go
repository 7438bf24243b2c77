package bench

import (
	"context"
	"fmt"
	"strings"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// rowKind says what a benchmark is compared with.
type rowKind int

const (
	kindSync           rowKind = iota // one call at a time: vs the substrate one at a time
	kindAsync                         // pipelined calls: vs the substrate pipelined
	kindRounds                        // wait rounds: no substrate figure
	kindSubstrateSync                 // the substrate, one at a time
	kindSubstrateAsync                // the substrate, pipelined
	kindKeptSync                      // the floor of sync rows: the substrate one at a time with a kept message
	kindDurableAsync                  // the floor of async rows: the substrate pipelined with durable replies
)

// benchCase is one row of the table.
type benchCase struct {
	name  string
	kind  rowKind
	ray   float64               // Ray 2.22's published figure (ops/s), 0 for none
	shape func(p Params) string // how it runs, for the JSON output
	run   func(context.Context, *env) (measure, error)
}

const (
	substrateSyncName  = "substrate: one at a time"
	substrateAsyncName = "substrate: pipelined"
	keptName           = "substrate: kept message"
	durableName        = "substrate: durable reply"
)

// benchPrefetch is the window of the plain actor of the prefetch row: enough to keep a call
// waiting while the one before it stores its result.
const benchPrefetch = 32

var prefetchRowName = fmt.Sprintf("1:1 actor calls async (prefetch %d)", benchPrefetch)

// cases lists the benchmarks in the order they run and print: the substrate first, then its
// floors (floors.go), then ray_perf.py's, in the order of Ray's table.
func cases() []benchCase {
	noop := struct{}{}
	return []benchCase{
		{substrateSyncName, kindSubstrateSync, 0, func(Params) string {
			return "publish to a work-queue stream (file), Consume with explicit ack, reply on core NATS, ack; one at a time"
		}, substrateOneAtATime},
		{substrateAsyncName, kindSubstrateAsync, 0, func(p Params) string {
			return fmt.Sprintf("the same with async publish, %d in flight", p.Window)
		}, substratePipelined},
		{keptName, kindKeptSync, 0, func(p Params) string {
			return fmt.Sprintf("the substrate one at a time on a work-queue stream that also keeps a message on a subject no consumer takes "+
				"(published again with Nats-Rollup: sub every %d calls, so it stays in the block being written)", keepEvery)
		}, substrateKept},
		{durableName, kindDurableAsync, 0, func(p Params) string {
			return fmt.Sprintf("the substrate pipelined, %d in flight, with each reply stored in a limits stream (file; async publish, "+
				"the call acked once its reply is stored) and read back through an ordered consumer", p.Window)
		}, substrateDurable},

		{"single client tasks sync", kindSync, 971, func(Params) string {
			return "Remote then Await, one at a time"
		}, func(ctx context.Context, e *env) (measure, error) {
			return timeSync(ctx, e.p.Duration, func(ctx context.Context) error {
				_, err := noopTask.Remote(ctx, e.driver, noop).Await(ctx)
				return err
			})
		}},
		{"single client tasks async", kindAsync, 8194, func(p Params) string {
			return fmt.Sprintf("submit %d, Gather", p.Batch)
		}, func(ctx context.Context, e *env) (measure, error) {
			return timeParallel(ctx, e.p.Duration, 1, func(ctx context.Context, _ int) (int, error) {
				return taskBatch(ctx, e.driver, e.p.Batch)
			}, nil)
		}},
		{"multi client tasks async", kindAsync, 21744, func(p Params) string {
			return fmt.Sprintf("%d clients (own connections), each: submit %d, Gather", p.Clients, p.Batch)
		}, func(ctx context.Context, e *env) (measure, error) {
			cs, err := e.clients(ctx, e.p.Clients)
			if err != nil {
				return measure{}, err
			}
			return timeParallel(ctx, e.p.Duration, len(cs), func(ctx context.Context, i int) (int, error) {
				return taskBatch(ctx, cs[i], e.p.Batch)
			}, nil)
		}},

		{"1:1 actor calls sync", kindSync, 2096, func(Params) string {
			return "one plain actor; Remote then Await, one at a time"
		}, actorSync(plainActor, plainNoop)},
		{"1:1 actor calls async", kindAsync, 9063, func(p Params) string {
			return fmt.Sprintf("one plain actor; submit %d, Gather", p.Batch)
		}, actorAsync(plainActor, plainNoop, 1, 1)},
		{prefetchRowName, kindAsync, 9063, func(p Params) string {
			return fmt.Sprintf("one plain actor with actors.Prefetch(%d) (still one call at a time, in order); submit %d, Gather",
				benchPrefetch, p.Batch)
		}, actorAsync(plainActor, plainNoop, 1, 1, actors.Prefetch(benchPrefetch))},
		{"1:1 actor calls concurrent", kindAsync, 5480, func(p Params) string {
			return fmt.Sprintf("one actor with MaxConcurrency %d; %d callers, each: submit %d, Gather",
				p.MaxConc, p.ConcCallers, max(1, p.Batch/p.ConcCallers))
		}, func(ctx context.Context, e *env) (measure, error) {
			_, hs, err := newActors(ctx, e, plainActor, 1, actors.MaxConcurrency(e.p.MaxConc))
			if err != nil {
				return measure{}, err
			}
			per := max(1, e.p.Batch/e.p.ConcCallers)
			return timeParallel(ctx, e.p.Duration, e.p.ConcCallers, func(ctx context.Context, _ int) (int, error) {
				return actorBatch(ctx, plainNoop, hs, per)
			}, nil)
		}},
		{"1:n actor calls async", kindAsync, 8606, func(p Params) string {
			return fmt.Sprintf("%d plain actors; submit %d round-robin, Gather", p.Actors, p.Batch)
		}, actorAsync(plainActor, plainNoop, 0, 1)},
		{"n:n actor calls async", kindAsync, 27688, func(p Params) string {
			return fmt.Sprintf("%d callers (own clients), %d plain actors; each: submit %d round-robin, Gather", p.Callers, p.Actors, p.Batch)
		}, actorAsync(plainActor, plainNoop, 0, 0)},

		{"1:1 async-actor calls sync", kindSync, 1326, func(Params) string {
			return "one async actor (MaxConcurrency 1000); Remote then Await, one at a time"
		}, actorSync(asyncActor, asyncNoop)},
		{"1:1 async-actor calls async", kindAsync, 3314, func(p Params) string {
			return fmt.Sprintf("one async actor; submit %d, Gather", p.Batch)
		}, actorAsync(asyncActor, asyncNoop, 1, 1)},
		{"n:n async-actor calls async", kindAsync, 23093, func(p Params) string {
			return fmt.Sprintf("%d callers (own clients), %d async actors; each: submit %d round-robin, Gather", p.Callers, p.Actors, p.Batch)
		}, actorAsync(asyncActor, asyncNoop, 0, 0)},

		{"put calls", kindSync, 5196, func(Params) string {
			return "framework.Put of a small value, one at a time (stored in JETRAY_RESULTS)"
		}, func(ctx context.Context, e *env) (measure, error) {
			return timeSync(ctx, e.p.Duration, func(ctx context.Context) error {
				return framework.Put(ctx, e.driver, 0).Err()
			})
		}},
		{"get calls", kindSync, 10270, func(Params) string {
			return "Client.Resolve of a Put value by ID, one at a time"
		}, func(ctx context.Context, e *env) (measure, error) {
			f := framework.Put(ctx, e.driver, 0)
			if err := f.Err(); err != nil {
				return measure{}, err
			}
			return timeSync(ctx, e.p.Duration, func(ctx context.Context) error {
				var v int
				return e.driver.Resolve(ctx, f.ID(), &v)
			})
		}},
		{"wait on 1,000 futures one at a time", kindRounds, 5.0, func(p Params) string {
			return fmt.Sprintf("rounds/s: submit %d, then futures.Wait(ctx, pending, 1) until none is left", p.WaitN)
		}, func(ctx context.Context, e *env) (measure, error) {
			return timeParallel(ctx, e.p.Duration, 1, func(ctx context.Context, _ int) (int, error) {
				pending := make([]*futures.Future[string], e.p.WaitN)
				for i := range pending {
					pending[i] = noopTask.Remote(ctx, e.driver, noop)
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

// selectCases returns the benchmarks whose names contain only (case-insensitive), plus the
// substrate and floor rows they are compared with.
func selectCases(only string) ([]benchCase, error) {
	all := cases()
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
		return nil, fmt.Errorf("bench: %w %q; there are:\n%s", ErrNoMatch, only, strings.Join(names, "\n"))
	}
	var out []benchCase
	for i, c := range all {
		if match[i] || ((c.kind == kindSubstrateSync || c.kind == kindKeptSync) && needSync) ||
			((c.kind == kindSubstrateAsync || c.kind == kindDurableAsync) && needAsync) {
			out = append(out, c)
		}
	}
	return out, nil
}
