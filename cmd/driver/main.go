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
//	driver list   tasks|actors|workers [-state S] [-name N] [-nats URL]
//	driver summary [-nats URL]
//	driver dashboard [-addr 127.0.0.1:8265] [-nats URL]
//	driver dead   [-replay SEQ] [-limit N] [-nats URL]
//	driver bench  [-nats URL [-no-worker]] [-only NAME] [-duration 2s] [-json FILE] [-tiny]
//	driver help   [COMMAND]
//
// With -actor, call sends Class.method to the actor named ACTOR (ray.get_actor); with -create
// it first gets or creates that actor with the JSON constructor input. kill kills a named
// actor (ray.kill). bench runs Ray's microbenchmarks beside the bare JetStream path and prints
// calls/s, latencies, the ratio to JetStream and Ray's published figures.
//
// -nats defaults to nats://127.0.0.1:4222; for demo and bench, the default is an embedded server.
// Results go to stdout, errors to stderr. The exit status is 0 on success, 1 on a failure
// (including a task that returned an error) and 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
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
  driver list   tasks|actors|workers [-state S] [-name N] [-nats URL]
                                                       task, actor or worker states (ray list)
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

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// reportedError is a failure already written to stderr: exit status 1, nothing more printed.
type reportedError struct{ err error }

func (e reportedError) Error() string { return e.err.Error() }
func (e reportedError) Unwrap() error { return e.err }

// exitCode reports err on stderr (unless already reported) and returns the exit status.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	var re reportedError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "driver:", err)
		return 2
	case errors.As(err, &re):
		return 1
	default:
		fmt.Fprintln(stderr, "driver:", err)
		return 1
	}
}

// newFlagSet returns a flag set for a subcommand that writes its help to w.
func newFlagSet(name, synopsis string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	addLogFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: driver %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags placed before, between or after the positional arguments, which it
// returns. "--" ends flag parsing for the argument after it.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// connectTimeout bounds how long a command keeps trying to reach NATS.
const connectTimeout = 10 * time.Second
