// Command chaosworker is the worker process of the chaos run (package chaostest): it serves
// chaos_task, chaos_ref and the actor classes ChaosCounter and ChaosAsync with a few task
// slots until SIGTERM or SIGINT, then stops gracefully (Worker.Run drains and hands over).
//
//	chaosworker -nats nats://127.0.0.1:4222 -name w0
//
// Logs go to stderr as JSON lines; the driver waits for the "worker running" line.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jetray/jetray/chaostest"
	"github.com/jetray/jetray/framework"
	"github.com/rs/zerolog"
)

func main() {
	url := flag.String("nats", "nats://127.0.0.1:4222", "NATS server `URL`")
	name := flag.String("name", "chaosworker", "worker name")
	slots := flag.Int("slots", chaostest.Slots, "task slots")
	drain := flag.Duration("drain", 10*time.Second, "how long running calls may finish on SIGTERM")
	level := flag.String("log-level", "info", "log level")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *url, *name, *slots, *drain, *level)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaosworker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url, name string, slots int, drain time.Duration, level string) error {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return err
	}
	log := zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Str("proc", name).Logger()
	chaostest.WorkerName = name

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := framework.Connect(cctx, url, framework.WithLogger(log), framework.WithName("chaosworker-"+name))
	if err != nil {
		return err
	}
	defer c.Close()
	w := framework.NewWorker(c,
		framework.WithConcurrency(slots),
		framework.WithWorkerName(name),
		framework.WithDrainTimeout(drain),
	)
	if err := w.Register(chaostest.ChaosTask, chaostest.ChaosRef, chaostest.ChaosCounter, chaostest.ChaosAsync, chaostest.ChaosDurable); err != nil {
		return err
	}
	err = w.Run(ctx)
	log.Info().Err(err).Msg("chaosworker stopped")
	return err
}
