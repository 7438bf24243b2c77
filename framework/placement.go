// Placement on the client side: the task options that send a call to particular workers
// (labels, resources) or ahead of others (priority), and the announcement of a route before
// its first call, so that workers start pulling from it. The worker side is routes.go and
// resources.go.

package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// PriorityLevel is a task call's priority: Low, Normal (the default) or High.
type PriorityLevel int8

// Priorities of task calls.
const (
	Low    = PriorityLevel(wire.PriorityLow)
	Normal = PriorityLevel(wire.PriorityNormal)
	High   = PriorityLevel(wire.PriorityHigh)
)

// String returns "low", "normal" or "high".
func (p PriorityLevel) String() string { return wire.Priority(p).String() }

// callRoute is the part of a task's options that decides where its calls wait: the priority
// and the placement. Options replace its maps, never change them, so copies made by
// Task.Options share them safely.
type callRoute struct {
	prio  wire.Priority
	place wire.Placement
	token string // place.Token(), kept up to date by the options
	err   error  // the first invalid option: the call fails with it
}

// routed reports whether calls leave the default route (R.task.<name>).
func (r *callRoute) routed() bool {
	return r.prio != wire.PriorityNormal || r.token != "" || r.err != nil
}

func (r *callRoute) setErr(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Priority sets the priority of the call: Low, Normal (default) or High. Each worker runs its
// queued calls strictly by priority: a task slot that frees up takes a High call if one is
// waiting on the worker, then a Normal one, then a Low one, so a backlog of Low calls delays a
// High call by at most the calls already running when it arrives (docs/architecture.md,
// "Priorities"). A Low call can wait as long as higher calls keep coming. Each priority other
// than Normal is a queue (a consumer) of its own per task name, made on first use. A value
// that is not one of the three fails the call with ErrInvalidName.
func Priority(p PriorityLevel) TaskOption {
	return func(c *taskConfig) {
		if !wire.Priority(p).Valid() {
			c.route.setErr(fmt.Errorf("%w: priority %d (use Low, Normal or High)", ErrInvalidName, p))
			return
		}
		c.route.prio = wire.Priority(p)
	}
}

// LabelSelector makes the call run only on workers whose labels (WithLabels) include every
// key with exactly the given value, such as {"gpu": "a100", "region": "eu"}; it adds to the
// selector set by earlier options (a key given again takes the new value). Keys are 1 to 63
// of A-Z a-z 0-9 _ - . /, values 0 to 63 of A-Z a-z 0-9 _ - . (ErrInvalidName otherwise). A
// selector that no worker serving the task has ever matched fails the call with ErrInfeasible.
func LabelSelector(labels map[string]string) TaskOption {
	return func(c *taskConfig) {
		c.route.place.Labels = wire.WithLabels(c.route.place.Labels, labels)
		c.route.update()
	}
}

// Resources makes the call hold amounts of resources on its worker while it runs (Ray's
// resources): a worker runs such calls only while their sum stays within its capacity
// (WithResources), and only workers with at least that capacity take them. Names are 1 to 63
// of A-Z a-z 0-9 _ - . /; amounts are at least 0, in thousandths at most (0.5 GPU is fine); an
// amount of 0 removes the need. It adds to the needs set by earlier options. A need larger
// than every capacity registered for the task fails the call with ErrInfeasible. Resources
// are held from when the worker takes the call until its handler returns, including while it
// waits for a task slot or awaits other calls.
func Resources(amounts map[string]float64) TaskOption {
	return func(c *taskConfig) {
		c.route.place.Resources = wire.WithResources(c.route.place.Resources, amounts)
		c.route.update()
	}
}

// NumCPUs is Resources({"cpu": n}) (Ray's num_cpus). Calls that do not ask for cpu use none:
// task slots (WithConcurrency) bound them instead.
func NumCPUs(n float64) TaskOption { return Resources(map[string]float64{wire.ResourceCPU: n}) }

// NumGPUs is Resources({"gpu": n}) (Ray's num_gpus).
func NumGPUs(n float64) TaskOption { return Resources(map[string]float64{wire.ResourceGPU: n}) }

// Memory is Resources({"memory": bytes}) (Ray's memory): bytes of the worker's "memory"
// capacity held while the call runs. jetray does not measure memory; it only counts.
func Memory(bytes int64) TaskOption {
	return Resources(map[string]float64{wire.ResourceMemory: float64(bytes)})
}

// update validates the placement and recomputes its token.
func (r *callRoute) update() {
	if err := r.place.Validate(); err != nil {
		r.setErr(err)
		return
	}
	r.token = r.place.Token()
}

// routeSubject returns the subject of a call of name on route r, announcing the route first
// if this client has not yet: it checks that some worker serving name could ever run the
// placement (ErrInfeasible after the unknown-name grace otherwise) and creates the route's key in the
// registry, which workers watch. Both happen once per client and route.
func (c *Client) routeSubject(ctx context.Context, name string, r *callRoute) (string, error) {
	if r.err != nil {
		return "", r.err
	}
	tr := wire.TaskRoute{Labels: r.token, Priority: r.prio}
	key := wire.RouteKey(name, tr)
	if _, ok := c.routes.Load(key); !ok {
		if err := c.announceRoute(ctx, name, tr, key, r.place); err != nil {
			return "", err
		}
		c.routes.Store(key, struct{}{})
	}
	return c.names.TaskSubject(name, tr), nil
}

// announceRoute checks the placement against the registry and creates the route's key.
func (c *Client) announceRoute(ctx context.Context, name string, tr wire.TaskRoute, key string, place wire.Placement) error {
	if !place.IsZero() {
		if err := c.checkFeasible(ctx, name, place); err != nil {
			return err
		}
	}
	entry := wire.RouteEntry{Name: name, Labels: tr.Labels, Priority: tr.Priority.String(), Placement: place,
		At: time.Now().UTC()}
	if entry.Labels == "" {
		entry.Labels = wire.NoLabels
	}
	val, _ := json.Marshal(entry)
	actx, cancel := c.apiContext(ctx)
	defer cancel()
	if _, err := c.registry.Create(actx, key, val); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("jetray: announce route %s: %w", key, err)
	}
	return nil
}

// checkFeasible fails with ErrInfeasible, naming what is missing, when no shape of the
// workers that registered name satisfies place, after looking again for the unknown-name grace
// (WithUnknownNameGrace): workers deployed with the driver may register a moment later.
func (c *Client) checkFeasible(ctx context.Context, name string, place wire.Placement) error {
	deadline := time.Now().Add(c.cfg.unknownGrace)
	for {
		actx, cancel := c.apiContext(ctx)
		e, err := c.registry.Get(actx, wire.RegistryKey(name))
		cancel()
		var shapes []wire.WorkerShape
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("jetray: registry lookup %q: %w", name, err)
		default:
			var re wire.RegistryEntry
			if json.Unmarshal(e.Value(), &re) == nil {
				shapes = re.Shapes
			}
		}
		why := place.Unsatisfied(shapes)
		if why == "" {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w: %s needs %s; no worker that registered it has ever had that", ErrInfeasible, name, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(namePollInterval):
		}
	}
}
