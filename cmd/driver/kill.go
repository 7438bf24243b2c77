package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
)

// runKill is "driver kill -actor NAME [-class CLASS]": it kills the named actor (ray.kill).
func runKill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("kill", "kill [-nats URL] [-class CLASS] -actor NAME", stderr)
	natsURL := fs.String("nats", defaultNATS, "NATS server `URL`")
	name := fs.String("actor", "", "the `NAME` of the actor to kill (required)")
	class := fs.String("class", "", "the actor's `CLASS`; checked when given")
	auth := framework.AuthFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	connOpts, err := authOptions("kill", auth)
	if err != nil {
		return err
	}
	connOpts = append(connOpts, logOption(fs, stderr))
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("kill: unexpected argument %q", pos[0])}
	}
	if *name == "" {
		fs.Usage()
		return usageError{"kill: want -actor NAME"}
	}
	for _, n := range []string{*name, *class} {
		if n == "" {
			continue
		}
		if err := framework.ValidName(n); err != nil {
			return usageError{fmt.Sprintf("kill: %v", err)}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := connect(ctx, *natsURL, connectTimeout, connOpts...)
	if err != nil {
		return err
	}
	defer c.Close()
	if *class == "" {
		if *class, err = classOf(ctx, c, *name); err != nil {
			return err
		}
	}
	h, err := actorHandle(ctx, c, *class, *name, "")
	if err != nil {
		return err
	}
	if err := actors.Kill(ctx, h); err != nil {
		return fmt.Errorf("kill %s actor %q: %w", *class, *name, err)
	}
	_, err = fmt.Fprintf(stdout, "killed %s actor %q (%s)\n", *class, *name, h.ID())
	return err
}

// classOf returns the class of the live actor named name. Errors: actors.ErrNotFound.
func classOf(ctx context.Context, c *framework.Client, name string) (string, error) {
	recs, err := actors.List(ctx, c)
	if err != nil {
		return "", err
	}
	for _, r := range recs {
		if r.Name == name && r.State != actors.StateDead && r.State != actors.StateFailed {
			return r.Class, nil
		}
	}
	return "", fmt.Errorf("no live actor named %q: %w", name, actors.ErrNotFound)
}
