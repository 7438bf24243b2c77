package framework

import (
	"context"
	"time"

	"github.com/jetray/jetray/internal/lease"
	"github.com/jetray/jetray/internal/seam"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// init opens the framework's seams to the runtimes of this module (package actors) through
// internal/seam; users see none of them.
func init() {
	seam.RegisterKind = func(kind string, sentinel error) { registerKind(Kind(kind), sentinel) }
	seam.Serve = func(w *Worker, m jetstream.Msg, name string, h Handler, lost error) {
		w.serve(m, name, h, lost)
	}
	seam.OnRun = func(w *Worker, run func(context.Context) error) { w.onRun(run) }
	seam.WorkerExtension = func(w *Worker, key any, init func() any) any { return w.extension(key, init) }
	seam.Handle = func(w *Worker, name, kind string, h Handler) error { return w.handle(name, kind, h) }
	seam.Lease = func(w *Worker) *lease.Lease { return w.ls }
	seam.DrainTimeout = func(w *Worker) time.Duration { return w.cfg.drainTimeout }
	seam.ClientExtension = func(c *Client, key any, init func() (any, error)) (any, error) {
		return c.extension(key, init)
	}
	seam.OnClose = func(c *Client, fn func()) { c.onClose(fn) }
	seam.PublishFailure = func(c *Client, ctx context.Context, te *TaskError) error {
		return c.publishFailure(ctx, te)
	}
	seam.ConnectedFor = func(c *Client) time.Duration { return c.connectedFor() }
	seam.ResultStored = func(c *Client, ctx context.Context, id string) (bool, error) {
		return c.resultStored(ctx, id)
	}
	seam.SetRoute = func(req *Request, r seam.Route) { req.route = r }
	seam.Names = func(c *Client) wire.Names { return c.names }
	seam.ActorState = func(w *Worker, class, from, to string) { w.cfg.metrics.actorState(class, from, to) }
	seam.KeepResources = func(ctx context.Context) func() { return keepResources(ctx) }
	seam.ClientsGone = func(c *Client, ctx context.Context, ids []string) map[string]bool {
		return c.clientsGone(ctx, ids)
	}
	seam.TreeOwner = treeOwner
	seam.WaitLive = func(c *Client, ctx context.Context) { c.waitLive(ctx) }
	seam.StateBucket = func(c *Client, ctx context.Context) (jetstream.KeyValue, error) { return c.stateBucket(ctx) }
	seam.FailureOf = failureOf
}
