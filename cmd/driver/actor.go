package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
// waits until it is placed; a created actor is detached, so it outlives the command. Errors:
// no live actor of that name (without create), the actor is of another class, the class is
// not served, or the constructor failed.
func actorHandle(ctx context.Context, c *framework.Client, class, name, create string) (*actors.Handle[rawActor], error) {
	cls := rawClass(class)
	if create == "" {
		h, err := actors.Get(ctx, c, cls, name)
		if errors.Is(err, actors.ErrNotFound) {
			return nil, fmt.Errorf("no live actor named %q (create it with -create JSON): %w", name, err)
		}
		return h, err
	}
	// Detached: the actor outlives this process, which exits right after the call.
	h := cls.Options(actors.Name(name), actors.GetIfExists(), actors.Detached()).Remote(ctx, c, json.RawMessage(create))
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
