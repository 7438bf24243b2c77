// Command asyncactor runs Ray's async actor example (see package seed) in one process: an
// embedded NATS server, a client, and a worker serving the actor class.
//
//	go run ./examples/asyncactor
//
// The first scenario's 50 calls all start before any ends and take about 1 s; the second,
// with max_concurrency 10, takes about 5 s and never runs more than 10 at once.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/jetray/jetray/examples/asyncactor/seed"
	"github.com/jetray/jetray/framework"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "asyncactor:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	defer cancelTimeout()

	srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	c, err := framework.Connect(ctx, srv.ClientURL(), framework.WithName("asyncactor"))
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	res, err := seed.Run(ctx, c, os.Stdout)
	if err != nil {
		return err
	}
	fmt.Printf("\nmax_concurrency %4d: %d calls in %.2fs, peak %d running at once\n",
		res.Default.MaxConcurrency, res.Default.Calls, res.Default.Elapsed.Seconds(), res.Default.Stats.Peak)
	fmt.Printf("max_concurrency %4d: %d calls in %.2fs, peak %d running at once\n",
		res.Limited.MaxConcurrency, res.Limited.Calls, res.Limited.Elapsed.Seconds(), res.Limited.Stats.Peak)
	return nil
}
