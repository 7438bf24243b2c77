// Routes: the intake of calls that are not on the default route (a priority other than
// normal, or a placement). Clients announce a route in the registry before its first call
// (placement.go); every running worker watches those announcements and, for each route of a
// name it serves whose placement it satisfies (labels and total capacity), pulls from the
// route's own durable consumer. Owner: Worker.Run starts the watch after the default
// consumers; stopIntake stops it and the route pullers with the rest of the intake.

package framework

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// routeFetchWait bounds one pull of a route whose calls need resources; a variable for tests.
var routeFetchWait = 10 * time.Second

// routeState is the worker's view of the routes announced in the registry.
type routeState struct {
	known map[string]wire.RouteEntry // by RouteKey, every valid announcement seen
	on    map[string]bool            // consumer names this worker pulls from (or is starting)
}

// startRouteWatch starts following the route announcements until the intake stops. The watch
// is joined at the end of Run (watchWG), not by stopIntake: stopping a KV watch deletes its
// consumer, a request that waits out its timeout when the broker does not answer, and the
// drain need not wait for that. It starts no puller once the intake is stopping.
func (w *Worker) startRouteWatch() {
	w.watchWG.Go(w.watchRoutes)
}

// watchRoutes replays the route announcements, then follows new ones, starting the routes
// this worker can serve. A watch that cannot start (a broker away, a role without the right
// to read the registry) is tried again with backoff; meanwhile the worker serves the default
// routes only.
func (w *Worker) watchRoutes() {
	ctx := w.routeCtx
	for delay := time.Second; ; delay = min(delay*2, 30*time.Second) {
		watch, err := w.c.registry.Watch(ctx, wire.RouteKeys, jetstream.IgnoreDeletes())
		if err == nil {
			w.followRoutes(ctx, watch)
			_ = watch.Stop()
			return
		}
		w.log.Warn().Err(err).Msg("cannot watch task routes; calls with a priority or placement wait")
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

func (w *Worker) followRoutes(ctx context.Context, watch jetstream.KeyWatcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-watch.Updates():
			if !ok {
				return
			}
			if e == nil { // the end of the replay
				continue
			}
			var re wire.RouteEntry
			if err := json.Unmarshal(e.Value(), &re); err != nil {
				w.log.Debug().Err(err).Str("key", e.Key()).Msg("bad route announcement")
				continue
			}
			r, err := re.Route()
			if err != nil || wire.RouteKey(re.Name, r) != e.Key() {
				w.log.Debug().Err(err).Str("key", e.Key()).Msg("bad route announcement")
				continue
			}
			w.mu.Lock()
			w.routes.known[e.Key()] = re
			h := w.handlers[re.Name]
			w.mu.Unlock()
			if h != nil {
				w.startRoute(re, r, h)
			}
		}
	}
}

// startKnownRoutes starts the announced routes of name, just registered while running.
func (w *Worker) startKnownRoutes(name string, h Handler) {
	w.mu.Lock()
	var todo []wire.RouteEntry
	for _, re := range w.routes.known {
		if re.Name == name {
			todo = append(todo, re)
		}
	}
	w.mu.Unlock()
	for _, re := range todo {
		if r, err := re.Route(); err == nil {
			w.startRoute(re, r, h)
		}
	}
}

// startRoute starts pulling from route r of name if this worker may run its calls: it carries
// the selector's labels and has at least the needed capacity of every resource. Only such
// workers ever bind the route's consumer, so its calls land nowhere else.
func (w *Worker) startRoute(re wire.RouteEntry, r wire.TaskRoute, h Handler) {
	if !re.Placement.SatisfiedBy(w.cfg.labels, w.cfg.resources) {
		return
	}
	durable := w.c.names.TaskConsumer(re.Name, r)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running || w.stopping || w.routes.on[durable] {
		return
	}
	w.routes.on[durable] = true
	// Under mu: stopIntake sets stopping under mu before it waits for routeWG, so no puller
	// starts after that wait.
	w.routeWG.Go(func() { w.serveRoute(re, r, durable, h) })
}

// serveRoute opens the route's consumer (retrying until the intake stops) and pulls from it:
// like a default consumer (pull.go) when its calls need no resources; otherwise one call
// at a time, and only while the worker has room for one more (pullRoute).
func (w *Worker) serveRoute(re wire.RouteEntry, r wire.TaskRoute, durable string, h Handler) {
	ctx := w.routeCtx
	var cons jetstream.Consumer
	for delay := time.Second; ; delay = min(delay*2, 30*time.Second) {
		var err error
		if cons, err = w.taskConsumer(ctx, re.Name, r); err == nil {
			break
		}
		w.log.Warn().Err(err).Str("task", re.Name).Str("consumer", durable).Msg("route consumer")
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	q := w.queueOf(r.Priority)
	need := needOf(re.Placement)
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return
	}
	w.taskCons[durable] = cons
	w.setAckWait(durable, cons.CachedInfo().Config.AckWait)
	w.mu.Unlock()
	w.log.Info().Str("task", re.Name).Str("consumer", durable).Str("placement", re.Placement.String()).
		Str("priority", r.Priority.String()).Msg("serving route")
	if need != nil {
		w.pullRoute(ctx, cons, re.Name, h, need, r.Priority, q)
		return
	}
	p, err := w.startPuller(re.Name, durable, h, q)
	if err != nil {
		w.log.Warn().Err(err).Str("consumer", durable).Msg("pull route")
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		p.stop()
		return
	}
	w.consumers[durable] = p // stopIntake stops it with the others
}

// pullRoute takes the calls of a route that need resources, one at a time: it waits until the
// worker has room for one more, pulls one call (waiting up to routeFetchWait), acquires its
// resources (by priority, among the worker's routes) while holding it, and queues it. So a
// worker never takes a call it has no capacity for in sight, and other workers with room take
// the rest. It returns when ctx ends; a call taken but not queued by then is handed back.
func (w *Worker) pullRoute(ctx context.Context, cons jetstream.Consumer, name string, h Handler, need resNeed,
	prio wire.Priority, q chan *delivery,
) {
	stop := ctx.Done()
	for delay := 100 * time.Millisecond; ; {
		if !w.pool.waitRoom(stop, need) {
			return
		}
		fctx, cancel := context.WithTimeout(ctx, routeFetchWait)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err == nil {
			for m := range batch.Messages() {
				d := &delivery{msg: m, h: h, name: name}
				w.hold(d)
				g, ok := w.pool.acquire(stop, need, prio)
				if !ok {
					w.handBackUnstartedAsync(d)
					continue
				}
				d.grant = g
				w.enqueue(d, q)
			}
			err = batch.Error()
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil || errorsIsTimeout(err) {
			delay = 100 * time.Millisecond
			continue
		}
		w.log.Debug().Err(err).Str("task", name).Msg("route pull")
		select {
		case <-stop:
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// queueOf returns the run queue of priority p.
func (w *Worker) queueOf(p wire.Priority) chan *delivery {
	switch p {
	case wire.PriorityHigh:
		return w.queueHigh
	case wire.PriorityLow:
		return w.queueLow
	}
	return w.queue
}

// errorsIsTimeout reports a pull that ended without a call: its wait ran out.
func errorsIsTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages)
}
