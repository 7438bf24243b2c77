package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jetray/jetray/framework"
)

// rawTask is a task known only by name: JSON in, JSON out. Its function is never run here;
// Remote only needs the name and the types to encode the input and decode the result.
func rawTask(name string) *framework.Task[json.RawMessage, json.RawMessage] {
	return framework.NewTask[json.RawMessage, json.RawMessage](name, nil)
}

// runCall is "driver call NAME [JSON]": it submits one call with the raw JSON input (default
// null), waits for the result and prints it to stdout as JSON. A task error goes to stderr,
// with the stack when the task panicked, and makes the command fail.
func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("call", "call [-nats URL] [-timeout 30s] NAME [JSON]", stderr)
	natsURL := fs.String("nats", defaultNATS, "NATS server `URL`")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the result (the call keeps running after it)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return usageError{"call: want NAME and at most one JSON argument"}
	}
	name, input := pos[0], "null"
	if len(pos) == 2 {
		input = pos[1]
	}
	if err := framework.ValidName(name); err != nil {
		return usageError{fmt.Sprintf("call: %v", err)}
	}
	if !json.Valid([]byte(input)) {
		return usageError{fmt.Sprintf("call: input %q is not valid JSON (quote strings: '\"text\"')", input)}
	}

	cctx, cancel := context.WithTimeout(ctx, min(*timeout, connectTimeout))
	defer cancel()
	c, err := framework.Connect(cctx, *natsURL, framework.WithName("jetray-driver"))
	if err != nil {
		return err
	}
	defer c.Close()

	ctx, cancel = context.WithTimeout(ctx, *timeout)
	defer cancel()
	f := rawTask(name).Remote(ctx, c, json.RawMessage(input))
	out, err := f.Await(ctx)
	if err != nil {
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
				"stays in %s until its TTL: %w", name, f.ID(), *timeout, framework.ResultsStream, err)
		}
		return fmt.Errorf("call %s: %w", name, err)
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}
