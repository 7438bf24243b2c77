package framework_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

// QuotaError is a user error type registered under a code: its value crosses the wire.
type QuotaError struct {
	Resource string
	Limit    int
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("quota of %s exceeded (%d)", e.Resource, e.Limit)
}

// NotFound is registered as a value type.
type NotFound struct{ Key string }

func (e NotFound) Error() string { return "not found: " + e.Key }

func init() {
	framework.RegisterError[*QuotaError]("quota")
	framework.RegisterError[NotFound]("not_found")
	framework.RegisterError[*QuotaError]("quota") // the same pair again: no effect
}

// TestUserErrorTypesCrossTheWire: a registered error type returned by a task (wrapped) comes
// back to the caller as that type with its fields, two task boundaries deep, with its code; a
// value type too; and WithCode marks an unregistered error with a code.
func TestUserErrorTypesCrossTheWire(t *testing.T) {
	leaf := framework.NewTask("uerr_leaf", func(_ context.Context, n int) (int, error) {
		switch n {
		case 1:
			return 0, fmt.Errorf("charging: %w", &QuotaError{Resource: "gpu", Limit: 4})
		case 2:
			return 0, NotFound{Key: "user/7"}
		case 3:
			return 0, framework.WithCode("rate_limited", errors.New("slow down"))
		}
		return 0, errors.New("plain")
	})
	mid := framework.NewTask("uerr_mid", func(ctx context.Context, n int) (int, error) {
		v, err := leaf.Remote(ctx, framework.ClientFromContext(ctx), n).Await(ctx)
		if err != nil {
			return 0, fmt.Errorf("mid: %w", err)
		}
		return v, nil
	})
	top := framework.NewTask("uerr_top", func(ctx context.Context, n int) (int, error) {
		return mid.Remote(ctx, framework.ClientFromContext(ctx), n).Await(ctx)
	})
	env := frameworktest.NewEnv(t, nil, leaf, mid, top)
	ctx := testCtx(t)
	for _, task := range []*framework.Task[int, int]{leaf, top} {
		_, err := task.Remote(ctx, env.Client, 1).Await(ctx)
		var qe *QuotaError
		if !errors.As(err, &qe) || qe.Resource != "gpu" || qe.Limit != 4 {
			t.Fatalf("%s: errors.As(%v, *QuotaError) = %+v", task.Name(), err, qe)
		}
		var te *framework.TaskError
		if !errors.As(err, &te) || te.Code != "quota" || te.Kind != framework.KindError || !framework.HasCode(err, "quota") {
			t.Fatalf("%s: TaskError %+v, want code quota and kind error", task.Name(), te)
		}

		_, err = task.Remote(ctx, env.Client, 2).Await(ctx)
		var nf NotFound
		if !errors.As(err, &nf) || nf.Key != "user/7" || !framework.HasCode(err, "not_found") {
			t.Fatalf("%s: errors.As(%v, NotFound) = %+v", task.Name(), err, nf)
		}

		_, err = task.Remote(ctx, env.Client, 3).Await(ctx)
		if !framework.HasCode(err, "rate_limited") || framework.HasCode(err, "quota") {
			t.Fatalf("%s: %v: want code rate_limited only", task.Name(), err)
		}

		_, err = task.Remote(ctx, env.Client, 4).Await(ctx)
		if errors.As(err, &te) && te.Code != "" {
			t.Fatalf("%s: a plain error got code %q", task.Name(), te.Code)
		}
	}
}

// TestRetryErrorsByCode: RetryErrors(codes...) retries only the errors carrying those codes.
func TestRetryErrorsByCode(t *testing.T) {
	var selected, other atomic.Int32
	flaky := framework.NewTask("uerr_flaky", func(_ context.Context, _ int) (int, error) {
		if selected.Add(1) < 3 {
			return 0, framework.WithCode("rate_limited", errors.New("slow down"))
		}
		return 7, nil
	}, framework.RetryErrors("rate_limited", "not a code!"), framework.Backoff(time.Millisecond, 5*time.Millisecond))
	notSelected := framework.NewTask("uerr_not_selected", func(_ context.Context, _ int) (int, error) {
		other.Add(1)
		return 0, &QuotaError{Resource: "disk", Limit: 1}
	}, framework.RetryErrors("rate_limited"), framework.Backoff(time.Millisecond, 5*time.Millisecond))
	env := frameworktest.NewEnv(t, nil, flaky, notSelected)
	ctx := testCtx(t)
	if v, err := flaky.Remote(ctx, env.Client, 0).Await(ctx); err != nil || v != 7 || selected.Load() != 3 {
		t.Fatalf("flaky = %d, %v after %d runs; want 7 after 3", v, err, selected.Load())
	}
	_, err := notSelected.Remote(ctx, env.Client, 0).Await(ctx)
	var qe *QuotaError
	if !errors.As(err, &qe) || other.Load() != 1 {
		t.Fatalf("not selected: %v after %d runs; want a QuotaError after 1 run", err, other.Load())
	}
}

func TestRegisterErrorConflicts(t *testing.T) {
	for name, f := range map[string]func(){
		"code taken":      func() { framework.RegisterError[NotFound]("quota") },
		"type registered": func() { framework.RegisterError[*QuotaError]("quota2") },
		"invalid code":    func() { framework.RegisterError[*QuotaError]("1bad") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}
