package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/examples/asyncactor/seed"
	"github.com/jetray/jetray/framework"
)

// Counter is the state of a Counter actor: a number that incr adds to. A Counter actor has
// max_concurrency 1, so its calls run one at a time and need no lock.
type Counter struct{ n int }

// MarshalState and UnmarshalState make the counter's state its value, as JSON, so that a
// Counter created with actors.Durable keeps it across restarts and hand-overs
// (actors.StateCodec): CounterClass.Options(actors.Durable(), actors.MaxRestarts(-1)).
func (c *Counter) MarshalState() ([]byte, error) { return json.Marshal(c.n) }

// UnmarshalState restores the value MarshalState wrote.
func (c *Counter) UnmarshalState(data []byte) error { return json.Unmarshal(data, &c.n) }

// CounterInput is the constructor input of a Counter actor.
type CounterInput struct {
	// Start is the counter's initial value.
	Start int `json:"start"`
}

// IncrInput is the input of CounterIncr.
type IncrInput struct {
	// By is added to the counter; it may be negative.
	By int `json:"by"`
}

// CounterAddInput is the input of CounterAdd.
type CounterAddInput struct {
	// Counter is the actor to add to.
	Counter *actors.Handle[Counter] `json:"counter"`
	// By is added to the counter.
	By int `json:"by"`
}

// CounterClass is the actor class "Counter": CounterClass.Remote(ctx, c, CounterInput{Start: 0}).
var CounterClass = actors.Define("Counter", func(_ context.Context, in CounterInput) (*Counter, error) {
	return &Counter{n: in.Start}, nil
})

// CounterIncr is the method "incr" of Counter: it adds in.By and returns the new value.
var CounterIncr = actors.Method(CounterClass, "incr", func(c *Counter, _ context.Context, in IncrInput) (int, error) {
	c.n += in.By
	return c.n, nil
})

// CounterGet is the method "get" of Counter: it returns the value. Its input is ignored.
var CounterGet = actors.Method(CounterClass, "get", func(c *Counter, _ context.Context, _ json.RawMessage) (int, error) {
	return c.n, nil
})

// CounterAdd is the task "counter_add": it calls incr on the actor in in.Counter from inside
// the task, with the task's ctx (and so the worker's client), and returns the new value. A
// missing handle is a permanent error; a dead actor fails it with actors.ErrActorDied.
var CounterAdd = framework.NewTask("counter_add", func(ctx context.Context, in CounterAddInput) (int, error) {
	if in.Counter == nil {
		return 0, framework.Permanent(errors.New(`counter_add: no "counter" handle in the input`))
	}
	v, err := CounterIncr.Remote(ctx, in.Counter, IncrInput{By: in.By}).Await(ctx)
	if err != nil {
		return 0, fmt.Errorf("counter_add: incr %s: %w", in.Counter.ID(), err)
	}
	return v, nil
})

// AsyncActor is Ray's async actor example (package examples/asyncactor/seed), the class
// "AsyncActor" with methods "run_task" and "stats", for callers:
// AsyncActor.RunTask.Remote(ctx, h, struct{}{}) or AsyncActor.Scenario(ctx, c). The actors of
// this value print nowhere; a worker that should show their "started" and "ended" lines serves
// CatalogWithOutput(os.Stdout) instead of Catalog().
var AsyncActor = seed.NewClass(io.Discard)
