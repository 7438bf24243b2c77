package main

import (
	"context"

	"github.com/jetray/jetray/framework"
)

// actorDefinitions returns the actor classes the demo's in-process worker serves, next to
// the demo task catalog.
func actorDefinitions() []framework.Definition {
	return nil
}

// runActorDemo is the demo's actor step, run after the task steps with the same client and
// printer (t.step, t.result, t.note).
//
// actor demo: see examples/asyncactor
func runActorDemo(ctx context.Context, c *framework.Client, t *tour) error {
	return nil
}
