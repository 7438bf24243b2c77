package seed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// Calls is how many run_task calls each scenario sends, as in the seed.
const Calls = 50

// Scenario is what one scenario measured.
type Scenario struct {
	// MaxConcurrency is the actor's max_concurrency.
	MaxConcurrency int
	// Calls is how many run_task calls were sent.
	Calls int
	// Elapsed runs from the first call sent to the last result received; the actor's creation
	// is not included.
	Elapsed time.Duration
	// Stats is the actor's own count of its calls.
	Stats Stats
}

// Result is what Run measured.
type Result struct {
	// Default is AsyncActor.remote(): max_concurrency 1000, all 50 calls at once, about 1 s.
	Default Scenario
	// Limited is AsyncActor.options(max_concurrency=10).remote(): 10 at a time, about 5 s.
	Limited Scenario
}

// Run plays the seed's two scenarios with client c and prints to out: each scenario's
// heading, the actor's "started" and "ended" lines, and the measured time and peak
// concurrency. It serves the class on a worker of its own, started on c and stopped before
// Run returns, so the actor's lines reach out; no other worker of the deployment should serve
// "AsyncActor". It takes about 7 s. Errors: the worker cannot start or stop cleanly, an actor
// cannot be created, a call fails, or ctx ends.
func Run(ctx context.Context, c *framework.Client, out io.Writer) (res Result, err error) {
	cls := NewClass(out)
	w := framework.NewWorker(c, framework.WithWorkerName("asyncactor-seed"), framework.WithDrainTimeout(5*time.Second))
	if err := w.Register(cls.AsyncActor); err != nil {
		return res, err
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() {
		stop()
		if werr := <-done; werr != nil && !errors.Is(werr, context.Canceled) {
			err = errors.Join(err, fmt.Errorf("asyncactor worker: %w", werr))
		}
	}()

	if res.Default, err = cls.Scenario(ctx, c); err != nil {
		return res, err
	}
	res.Limited, err = cls.Scenario(ctx, c, actors.MaxConcurrency(10))
	return res, err
}

// Scenario creates one AsyncActor with opts (none for the seed's first scenario,
// actors.MaxConcurrency(10) for its second), waits until it is placed, sends Calls calls of
// run_task at once, waits for all of them and kills the actor. It prints a heading and a
// summary to the class's writer; the actor prints its lines there too. A worker serving
// cls.AsyncActor must be running. Errors: the actor cannot be created, a call fails, or ctx
// ends.
func (cls *Class) Scenario(ctx context.Context, c *framework.Client, opts ...actors.ClassOption) (Scenario, error) {
	h := cls.AsyncActor.Options(opts...).Remote(ctx, c, struct{}{})
	sc := Scenario{MaxConcurrency: h.MaxConcurrency(), Calls: Calls}
	if len(opts) == 0 {
		cls.out.line("actor = AsyncActor.remote()  # max_concurrency %d", sc.MaxConcurrency)
	} else {
		cls.out.line("actor = AsyncActor.options(max_concurrency=%d).remote()", sc.MaxConcurrency)
	}
	if err := h.Ready(ctx); err != nil {
		return sc, fmt.Errorf("create AsyncActor: %w", err)
	}
	cls.out.line("ray.get([actor.run_task.remote() for _ in range(%d)])", Calls)
	start := time.Now()
	fs := make([]*futures.Future[struct{}], Calls)
	for i := range fs {
		fs[i] = cls.RunTask.Remote(ctx, h, struct{}{})
	}
	_, err := futures.Gather(ctx, fs...)
	sc.Elapsed = time.Since(start)
	if err == nil {
		sc.Stats, err = cls.Stats.Remote(ctx, h, struct{}{}).Await(ctx)
	}
	if kerr := actors.Kill(context.WithoutCancel(ctx), h); kerr != nil {
		err = errors.Join(err, fmt.Errorf("kill AsyncActor: %w", kerr))
	}
	if err != nil {
		return sc, err
	}
	cls.out.line("%d calls took %.2fs; at most %d ran at once; %d had started when the first ended",
		Calls, sc.Elapsed.Seconds(), sc.Stats.Peak, sc.Stats.StartedBeforeFirstEnd)
	return sc, nil
}
