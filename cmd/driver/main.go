// Command driver calls jetray tasks and actor methods by name, shows what a deployment holds,
// and runs a self-contained demo of the API.
//
// Usage:
//
//	driver demo   [-nats URL]
//	driver call   [-nats URL] [-timeout 30s] NAME [JSON]
//	driver call   [-nats URL] [-timeout 30s] -actor ACTOR [-create JSON] Class.method [JSON]
//	driver kill   [-nats URL] [-class CLASS] -actor ACTOR
//	driver status [-nats URL]
//	driver list   tasks|actors|workers|schedules [-state S] [-name N] [-nats URL]
//	driver summary [-nats URL]
//	driver dashboard [-addr 127.0.0.1:8265] [-nats URL]
//	driver dead   [-replay SEQ] [-limit N] [-nats URL]
//	driver bench  [-nats URL [-no-worker]] [-only NAME] [-duration 2s] [-json FILE] [-tiny]
//	driver help   [COMMAND]
//
// With -actor, call sends Class.method to the actor named ACTOR (ray.get_actor); with -create
// it first gets or creates that actor with the JSON constructor input. kill kills a named
// actor (ray.kill). bench runs Ray's microbenchmarks beside the bare JetStream path and prints
// calls/s, latencies, process CPU time per call, the ratios to JetStream and Ray's published
// figures.
//
// -nats defaults to nats://127.0.0.1:4222; for demo and bench, the default is an embedded server.
// Results go to stdout, errors to stderr. The exit status is 0 on success, 1 on a failure
// (including a task that returned an error) and 2 on a usage error.
//
// Layout: main.go dispatches on the command name; each command is a file of its own (demo.go
// with demo_*.go, call.go with actor.go, kill.go, status.go, list.go, summary.go, dashboard.go,
// dead.go, bench.go). What they share: flags.go and logflags.go (flag sets, arguments, log
// flags), errors.go (usage errors and the exit status), connect.go and auth.go (connecting).
// The benchmark suite behind bench is package internal/bench.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const defaultNATS = "nats://127.0.0.1:4222"

const usageText = `driver: call jetray tasks and actors, and inspect a deployment.

Usage:
  driver demo   [-nats URL]                            run the API tour on an embedded server
  driver call   [-nats URL] [-timeout 30s] NAME [JSON]  call task NAME with JSON input (default null)
  driver call   -actor ACTOR [-create JSON] Class.method [JSON]
                                                       call a method of the actor named ACTOR; with
                                                       -create, get or create it first
  driver kill   [-nats URL] [-class CLASS] -actor ACTOR  kill the actor named ACTOR
  driver status [-nats URL]                            show streams, consumers, registered names, actors
  driver list   tasks|actors|workers|schedules [-state S] [-name N] [-nats URL]
                                                       task, actor or worker states (ray list),
                                                       periodic schedules and their next runs
  driver summary [-nats URL]                           tasks and actors counted by name and state
  driver dashboard [-addr 127.0.0.1:8265] [-nats URL]  web page: workers, actors, queues, failures
  driver dead   [-replay SEQ] [-nats URL]               dead letters, and replaying one
  driver bench  [-only NAME] [-duration 2s] [-json FILE] [-nats URL [-no-worker]]
                                                       Ray's microbenchmarks beside bare JetStream
  driver help   [COMMAND]                              show this text, or a command's flags

-nats defaults to ` + defaultNATS + ` (demo, bench: an embedded server).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// run dispatches to the subcommand named by args[0].
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usageText)
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "call":
		return runCall(ctx, rest, stdout, stderr)
	case "kill":
		return runKill(ctx, rest, stdout, stderr)
	case "status":
		return runStatus(ctx, rest, stdout, stderr)
	case "list":
		return runList(ctx, rest, stdout, stderr)
	case "summary":
		return runSummary(ctx, rest, stdout, stderr)
	case "dashboard":
		return runDashboard(ctx, rest, stdout, stderr)
	case "dead":
		return runDead(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" {
			return run(ctx, []string{rest[0], "-h"}, stdout, stdout)
		}
		fmt.Fprint(stdout, usageText)
		return nil
	}
	fmt.Fprint(stderr, usageText)
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}
