// Package framework is jetray's runtime: it connects to NATS JetStream, defines typed remote
// tasks, submits them and resolves their futures, and runs workers that execute them.
//
// A task is a Go function with a stable wire name:
//
//	var Add = framework.NewTask("add", func(ctx context.Context, in AddIn) (int, error) {
//		return in.A + in.B, nil
//	})
//
// A driver connects and calls it; the call returns a [futures.Future] at once:
//
//	c, err := framework.Connect(ctx, url)
//	sum, err := Add.Remote(ctx, c, AddIn{A: 1, B: 2}).Await(ctx)
//
// A worker process registers the definitions it serves and runs until its context ends:
//
//	w := framework.NewWorker(c, framework.WithConcurrency(16))
//	if err := w.Register(Add); err != nil { ... }
//	err = w.Run(ctx)
//
// Mapping from Ray: ray.remote is [NewTask], f.remote() is [Task.Remote], ray.get is
// [futures.Future.Await] or [futures.Gather], ray.wait is [futures.Wait], timeouts are contexts.
//
// On the wire (see docs/architecture.md): task messages go to the work-queue stream JETRAY_TASKS
// on subject jetray.task.<name>, one durable consumer per name shared by every worker that
// registered it; results go to the limits stream JETRAY_RESULTS on jetray.result.<task id>, read
// back by one ordered consumer per client. Values are JSON by default (see [Codec]).
package framework
