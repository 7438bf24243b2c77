package framework_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

// A task submits another task with the client from its ctx, awaits it, and the child's
// Call.Parent is the parent's ID.
func TestNestedTask(t *testing.T) {
	type seen struct{ id, parent string }
	outerSaw := make(chan seen, 1)
	innerSaw := make(chan seen, 1)
	double := framework.NewTask("nested_double", func(ctx context.Context, n int) (int, error) {
		call := framework.CallFromContext(ctx)
		innerSaw <- seen{call.ID, call.Parent}
		return 2 * n, nil
	})
	outer := framework.NewTask("nested_outer", func(ctx context.Context, n int) (string, error) {
		c := framework.ClientFromContext(ctx)
		if c == nil {
			return "", errors.New("no client in the task's ctx")
		}
		call := framework.CallFromContext(ctx)
		outerSaw <- seen{call.ID, call.Parent}
		d, err := double.Remote(ctx, c, n).Await(ctx)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d+%d=%d", n, d, n+d), nil
	})
	// Two runners at least: the outer call holds one while it awaits the inner one.
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithConcurrency(4)}, outer, double)
	ctx := testCtx(t)

	f := outer.Remote(ctx, env.Client, 5)
	got, err := f.Await(ctx)
	if err != nil || got != "5+10=15" {
		t.Fatalf("outer = %q, %v; want \"5+10=15\", nil", got, err)
	}
	o := recv(t, outerSaw, time.Second, "the outer call")
	in := recv(t, innerSaw, time.Second, "the inner call")
	if o.id != f.ID() || o.parent != "" {
		t.Errorf("outer call id %q parent %q; want id %q and no parent", o.id, o.parent, f.ID())
	}
	if in.parent != f.ID() {
		t.Errorf("inner call parent = %q, want the outer call's ID %q", in.parent, f.ID())
	}
	if in.id == f.ID() || framework.ClientIDOf(in.id) != env.Client.ID() {
		t.Errorf("inner call id = %q; want a fresh ID of the worker's client %q", in.id, env.Client.ID())
	}
}

func TestContextAccessorsOutsideTask(t *testing.T) {
	if c := framework.ClientFromContext(context.Background()); c != nil {
		t.Errorf("ClientFromContext outside a task = %v, want nil", c)
	}
	if call := framework.CallFromContext(context.Background()); call != nil {
		t.Errorf("CallFromContext outside a task = %v, want nil", call)
	}
	call := &framework.Call{ID: "abc.1"}
	ctx := framework.WithCallContext(context.Background(), nil, call)
	if got := framework.CallFromContext(ctx); got != call {
		t.Errorf("CallFromContext(WithCallContext) = %v, want %v", got, call)
	}
}
