package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// rawTask is a task known only by name: JSON in, JSON out. Its function is never run here;
// Remote only needs the name and the types to encode the input and decode the result.
func rawTask(name string) *framework.Task[json.RawMessage, json.RawMessage] {
	return framework.NewTask[json.RawMessage, json.RawMessage](name, nil)
}

const callSynopsis = "call [-nats URL] [-timeout 30s] [-actor NAME [-create JSON]] NAME [JSON]"

// runCall is "driver call NAME [JSON]": it submits one call with the raw JSON input (default
// null), waits for the result and prints it to stdout as JSON. A task error goes to stderr,
// with the stack when the task panicked, and makes the command fail. With -actor, NAME is
// Class.method and the call goes to the named actor (see callActor).
func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("call", callSynopsis, stderr)
	natsURL := fs.String("nats", defaultNATS, "NATS server `URL`")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the result (the call keeps running after it)")
	actor := fs.String("actor", "", "call method NAME (Class.method) of the actor named `ACTOR`")
	create := fs.String("create", "", "with -actor: first create the actor with this constructor `JSON` unless it exists (detached: it outlives this command)")
	auth := framework.AuthFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	connOpts, err := authOptions("call", auth)
	if err != nil {
		return err
	}
	connOpts = append(connOpts, logOption(fs, stderr))
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return usageError{"call: want NAME and at most one JSON argument"}
	}
	name, input := pos[0], "null"
	if len(pos) == 2 {
		input = pos[1]
	}
	var class, method string
	if *actor != "" {
		var ok bool
		class, method, ok = strings.Cut(name, ".")
		if !ok {
			return usageError{fmt.Sprintf("call: with -actor, NAME is Class.method, not %q", name)}
		}
		for _, n := range []string{class, method, *actor} {
			if err := framework.ValidName(n); err != nil {
				return usageError{fmt.Sprintf("call: %v", err)}
			}
		}
	} else {
		if *create != "" {
			return usageError{"call: -create needs -actor NAME"}
		}
		if err := framework.ValidName(name); err != nil {
			hint := ""
			if strings.Contains(name, ".") {
				hint = " (to call an actor method, give -actor NAME)"
			}
			return usageError{fmt.Sprintf("call: %v%s", err, hint)}
		}
	}
	if !json.Valid([]byte(input)) {
		return usageError{fmt.Sprintf("call: input %q is not valid JSON (quote strings: '\"text\"')", input)}
	}
	if *create != "" && !json.Valid([]byte(*create)) {
		return usageError{fmt.Sprintf("call: -create %q is not valid JSON", *create)}
	}

	c, err := connect(ctx, *natsURL, min(*timeout, connectTimeout), connOpts...)
	if err != nil {
		return err
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var f *futures.Future[json.RawMessage]
	if *actor != "" {
		h, err := actorHandle(ctx, c, class, *actor, *create)
		if err != nil {
			return err
		}
		f = rawMethod(rawClass(class), method).Remote(ctx, h, json.RawMessage(input))
	} else {
		f = rawTask(name).Remote(ctx, c, json.RawMessage(input))
	}
	out, err := f.Await(ctx)
	if err != nil {
		return callFailed(ctx, c, stderr, name, f.ID(), *timeout, err)
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

// callFailed reports the failure of call name (ID id): a task error goes to stderr with the
// stack of a panic, a missed deadline says the call may still run.
func callFailed(ctx context.Context, c *framework.Client, stderr io.Writer, name, id string, timeout time.Duration, err error) error {
	var te *framework.TaskError
	switch {
	case errors.As(err, &te):
		fmt.Fprintln(stderr, "driver:", err)
		if te.Panic && te.Stack != "" {
			fmt.Fprintf(stderr, "\nstack of the panic on worker %s:\n%s\n", te.Worker, te.Stack)
		}
		return reportedError{err}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return fmt.Errorf("call %s (%s): no result within %s; the call may still run and its result "+
			"stays in %s until its TTL: %w", name, id, timeout, c.Names().ResultsStream, err)
	}
	return fmt.Errorf("call %s: %w", name, err)
}
