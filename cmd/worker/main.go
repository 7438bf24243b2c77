// Command worker serves the demo catalog (package examples/demo) from a jetray deployment on
// NATS JetStream: its tasks and its actor classes, Counter and AsyncActor. Actors are placed on
// whichever worker takes their creation call and live there until killed or until that worker
// stops (they then die: calls fail with actors.ErrActorDied).
//
// Usage:
//
//	worker [-nats URL] [-concurrency N] [-name NAME] [-drain 30s] [-replicas N]
//	       [-log-level info] [-log-format console|json] [-embedded HOST:PORT]
//	       [-metrics HOST:PORT]
//	       [-token T | -user U -password P | -nkey FILE | -creds FILE]
//	       [-tlsca FILE] [-tlscert FILE -tlskey FILE] [-inbox-prefix P]
//
// The credential and TLS flags cover every kind of NATS authentication (docs/security.md);
// the token and password may come from $NATS_TOKEN and $NATS_PASSWORD instead. Under the
// worker role of docs/security.md, give -inbox-prefix _INBOX.worker.
//
// With -embedded, the worker also starts a NATS server with JetStream in its own process,
// listening on HOST:PORT, and serves from it; -nats is then ignored. Drivers connect to
// nats://HOST:PORT.
//
// With -metrics, the worker serves Prometheus metrics at http://HOST:PORT/metrics (the list is
// in docs/operations.md).
//
// Logs go to stderr; the "started" and "ended" lines of the AsyncActor actors it hosts go to
// stdout.
//
// SIGINT or SIGTERM stops the worker: it takes no new calls, lets running ones finish (up to
// -drain), stores their results, and exits 0. It exits 1 on a startup error or when calls
// were still running at the drain deadline (they go back to the broker for another worker),
// and 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
