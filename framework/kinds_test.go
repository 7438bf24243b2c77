package framework_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

// TestKindsSurviveTaskBoundaries checks that a failure kind with a sentinel keeps its
// identity when a task fails because a call it awaited failed with it, two boundaries deep,
// and that it is not retried as a plain error would be.
func TestKindsSurviveTaskBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sentinel error
		kind     framework.Kind
	}{
		{"cancelled", framework.ErrCancelled, framework.KindCancelled},
		{"worker lost", framework.ErrWorkerLost, framework.KindLost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := framework.NewTask("kinds_leaf_"+string(tc.kind), func(context.Context, int) (int, error) {
				return 0, fmt.Errorf("leaf: %w", tc.sentinel)
			}, framework.RetryErrors())
			mid := framework.NewTask("kinds_mid_"+string(tc.kind), func(ctx context.Context, n int) (int, error) {
				return leaf.Remote(ctx, framework.ClientFromContext(ctx), n).Await(ctx)
			}, framework.RetryErrors())
			top := framework.NewTask("kinds_top_"+string(tc.kind), func(ctx context.Context, n int) (int, error) {
				return mid.Remote(ctx, framework.ClientFromContext(ctx), n).Await(ctx)
			}, framework.RetryErrors())
			env := frameworktest.NewEnv(t, nil, leaf, mid, top)
			ctx := testCtx(t)
			_, err := top.Remote(ctx, env.Client, 1).Await(ctx)
			var te *framework.TaskError
			if !errors.As(err, &te) || te.Kind != tc.kind {
				t.Fatalf("err = %v, want a TaskError of kind %q", err, tc.kind)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tc.sentinel)
			}
			if te.Attempts > 1 {
				t.Fatalf("attempts = %d: a failure of kind %q must not be retried", te.Attempts, tc.kind)
			}
		})
	}
}
