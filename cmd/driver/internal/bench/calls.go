package bench

import (
	"context"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// How the rows call jetray: batches of tasks, and actor calls one at a time or in batches.

// taskBatch submits n no-op tasks from c, then gathers them.
func taskBatch(ctx context.Context, c *framework.Client, n int) (int, error) {
	fs := make([]*futures.Future[string], n)
	for i := range fs {
		fs[i] = noopTask.Remote(ctx, c, struct{}{})
	}
	_, err := futures.Gather(ctx, fs...)
	return n, err
}

// actorBatch submits n calls of m round-robin over hs, then gathers them.
func actorBatch(ctx context.Context, m *actors.MethodDef[noopActor, struct{}, string], hs []*actors.Handle[noopActor], n int) (int, error) {
	fs := make([]*futures.Future[string], n)
	for i := range fs {
		fs[i] = m.Remote(ctx, hs[i%len(hs)], struct{}{})
	}
	_, err := futures.Gather(ctx, fs...)
	return n, err
}

// actorSync calls m on one new actor of cls, one call at a time.
func actorSync(cls *actors.Class[noopActor, struct{}], m *actors.MethodDef[noopActor, struct{}, string]) func(context.Context, *env) (measure, error) {
	return func(ctx context.Context, e *env) (measure, error) {
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

// actorAsync runs batches of calls of m over new actors of cls with opts: nActors actors (0:
// p.Actors) and callers callers (0: p.Callers, each on its own client; 1: the driver).
func actorAsync(cls *actors.Class[noopActor, struct{}], m *actors.MethodDef[noopActor, struct{}, string], nActors, callers int,
	opts ...actors.ClassOption) func(context.Context, *env) (measure, error) {
	return func(ctx context.Context, e *env) (measure, error) {
		if nActors == 0 {
			nActors = e.p.Actors
		}
		names, hs, err := newActors(ctx, e, cls, nActors, opts...)
		if err != nil {
			return measure{}, err
		}
		perCaller := [][]*actors.Handle[noopActor]{hs}
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
