package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// A task: a Go function with a stable wire name (Ray: @ray.remote).
type AddIn struct{ A, B int }

var Add = framework.NewTask("add", func(ctx context.Context, in AddIn) (int, error) {
	return in.A + in.B, nil
})

// An actor class: a constructor and methods with stable wire names (Ray: @ray.remote class).
// A plain actor runs one call at a time, so its methods need no lock.
type counter struct{ n int }

var (
	Counter = actors.Define("Counter", func(ctx context.Context, start int) (*counter, error) {
		return &counter{n: start}, nil
	})
	Incr = actors.Method(Counter, "incr", func(c *counter, ctx context.Context, by int) (int, error) {
		c.n += by
		return c.n, nil
	})
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A NATS server with JetStream in this process; in production, Connect to your cluster.
	srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	c, err := framework.Connect(ctx, srv.ClientURL()) // Ray: ray.init(address)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A worker serves registered tasks until its ctx ends (usually a separate process).
	w := framework.NewWorker(c, framework.WithConcurrency(8))
	if err := w.Register(Add, Counter); err != nil { // Counter brings its methods
		log.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(wctx) }()
	defer func() { stop(); <-ran }() // Run drains running calls, then returns

	// Remote returns a future at once (Ray: add.remote(1, 2)); Await is ray.get.
	sum, err := Add.Remote(ctx, c, AddIn{1, 2}).Await(ctx)
	fmt.Println(sum, err) // 3 <nil>

	// Gather is ray.get on a list; Wait is ray.wait.
	fs := []*futures.Future[int]{
		Add.Remote(ctx, c, AddIn{1, 1}),
		Add.Remote(ctx, c, AddIn{2, 2}),
		Add.Remote(ctx, c, AddIn{3, 3}),
	}
	ready, notReady, err := futures.Wait(ctx, fs, 1)
	fmt.Println(len(ready), len(notReady), err) // 1 2 <nil>
	sums, err := futures.Gather(ctx, fs...)
	fmt.Println(sums, err) // [2 4 6] <nil>

	// Timeouts are contexts: the call keeps running if the wait gives up.
	tctx, tcancel := context.WithTimeout(ctx, time.Second)
	defer tcancel()
	sum, err = Add.Remote(tctx, c, AddIn{4, 5}).Await(tctx)
	fmt.Println(sum, err) // 9 <nil>

	// An actor lives on one worker and keeps its state (Ray: counter = Counter.remote(10)).
	h := Counter.Remote(ctx, c, 10)
	n, err := Incr.Remote(ctx, h, 1).Await(ctx) // Ray: ray.get(counter.incr.remote(1))
	fmt.Println(n, err)                         // 11 <nil>
	n, err = Incr.Remote(ctx, h, 2).Await(ctx)
	fmt.Println(n, err) // 13 <nil>

	_ = actors.Kill(ctx, h) // Ray: ray.kill(counter); later calls fail with actors.ErrActorDied
}
