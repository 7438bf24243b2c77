// Command pipeline runs a small data pipeline on jetray in one process (an embedded NATS
// server, a client and a worker; see package stages):
//
//	go run ./examples/pipeline
//
// It puts a dataset with framework.Put, cleans it with a task chained by RemoteFrom, fans out
// shard tasks that receive the cleaned dataset as a future inside their input, waits for all
// shards but the straggler, cancels it and runs a backup, and streams a scan's progress.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/jetray/jetray/examples/pipeline/stages"
	"github.com/jetray/jetray/framework"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
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
	c, err := framework.Connect(ctx, srv.ClientURL(), framework.WithName("pipeline"))
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	_, err = stages.Run(ctx, c, os.Stdout, stages.Config{})
	return err
}
