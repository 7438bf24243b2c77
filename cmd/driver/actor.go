package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
)

// rawActor stands for an actor type the driver has no Go type for.
type rawActor struct{}

// rawClass is an actor class known only by name: JSON constructor input. Its constructor is
// never run here; Remote and Get only need the name.
func rawClass(name string) *actors.Class[rawActor, json.RawMessage] {
	return actors.Define[rawActor, json.RawMessage](name, nil)
}

// rawMethod is a method known only by name: JSON in, JSON out.
func rawMethod(c *actors.Class[rawActor, json.RawMessage], name string) *actors.MethodDef[rawActor, json.RawMessage, json.RawMessage] {
	return actors.Method[rawActor, json.RawMessage, json.RawMessage, json.RawMessage](c, name, nil)
}

// actorHandle returns a handle to the live actor of class named name. With a non-empty
// create it gets or creates it (ray's get_if_exists) with create as constructor input and
// waits until it is placed. Errors: no live actor of that name (without create), the actor is
// of another class, the class is not served, or the constructor failed.
func actorHandle(ctx context.Context, c *framework.Client, class, name, create string) (*actors.Handle[rawActor], error) {
	cls := rawClass(class)
	if create == "" {
		h, err := actors.Get(ctx, c, cls, name)
		if errors.Is(err, actors.ErrActorNotFound) {
			return nil, fmt.Errorf("no live actor named %q (create it with -create JSON): %w", name, err)
		}
		return h, err
	}
	h := cls.Options(actors.Name(name), actors.GetIfExists()).Remote(ctx, c, json.RawMessage(create))
	if h.Class() != class {
		return nil, fmt.Errorf("actor %q is a %s, not a %s", name, h.Class(), class)
	}
	if err := h.Ready(ctx); err != nil {
		if errors.Is(err, framework.ErrUnknownTask) {
			return nil, fmt.Errorf("create %s actor %q: no worker serves actor class %s: %w", class, name, class, err)
		}
		return nil, fmt.Errorf("create %s actor %q: %w", class, name, err)
	}
	return h, nil
}

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

// classOf returns the class of the live actor named name. Errors: actors.ErrActorNotFound.
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
	return "", fmt.Errorf("no live actor named %q: %w", name, actors.ErrActorNotFound)
}
