package actors_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// A Counter actor keeps its count between calls. Calls from one client to a plain actor
// (max_concurrency 1) run one at a time in the order sent, so the method needs no lock.
func Example() {
	type counter struct{ n int }
	Counter := actors.Define("Counter", func(_ context.Context, start int) (*counter, error) {
		return &counter{n: start}, nil
	})
	Incr := actors.Method(Counter, "incr", func(c *counter, _ context.Context, by int) (int, error) {
		c.n += by
		return c.n, nil
	})

	// Everything in this process: an embedded NATS server, a client and a worker serving the
	// class. In production the server runs on its own and workers are separate processes.
	srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := framework.Connect(ctx, srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	w := framework.NewWorker(c)
	if err := w.Register(Counter); err != nil { // registers the constructor and incr
		log.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() { stop(); <-done }()

	h := Counter.Remote(ctx, c, 10) // Counter.remote(10): returns at once
	fs := []*futures.Future[int]{Incr.Remote(ctx, h, 1), Incr.Remote(ctx, h, 1), Incr.Remote(ctx, h, 1)}
	vals, err := futures.Gather(ctx, fs...) // ray.get([...])
	fmt.Println(vals, err)

	v, err := Incr.Remote(ctx, h, 0).Await(ctx)
	fmt.Println(v, err)

	if err := actors.Kill(ctx, h); err != nil {
		log.Fatal(err)
	}
	_, err = Incr.Remote(ctx, h, 1).Await(ctx)
	fmt.Println("after Kill:", errors.Is(err, actors.ErrActorDied))
	// Output:
	// [11 12 13] <nil>
	// 13 <nil>
	// after Kill: true
}

// A Durable actor keeps its state in JetStream: a restarted instance (here after Kill with
// AllowRestart; after a crash or a hand-over alike) restores it instead of running its
// constructor again. Its exported fields are the state.
func ExampleDurable() {
	type wallet struct{ Coins int }
	built := 0
	Wallet := actors.Define("Wallet", func(_ context.Context, coins int) (*wallet, error) {
		built++
		return &wallet{Coins: coins}, nil
	}, actors.Durable(), actors.MaxRestarts(-1))
	Earn := actors.Method(Wallet, "earn", func(w *wallet, _ context.Context, n int) (int, error) {
		w.Coins += n
		return w.Coins, nil
	})

	srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := framework.Connect(ctx, srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	w := framework.NewWorker(c)
	if err := w.Register(Wallet); err != nil {
		log.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() { stop(); <-done }()

	h := Wallet.Remote(ctx, c, 10)
	fmt.Println(Earn.Remote(ctx, h, 5).Await(ctx))
	if err := actors.Kill(ctx, h, actors.AllowRestart()); err != nil { // a new instance
		log.Fatal(err)
	}
	fmt.Println(Earn.Remote(ctx, h, 1).Await(ctx))
	fmt.Println("constructor runs:", built)
	// Output:
	// 15 <nil>
	// 16 <nil>
	// constructor runs: 1
}
