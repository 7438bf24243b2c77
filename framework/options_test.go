package framework_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

func TestTimeout(t *testing.T) {
	blocker := framework.NewTask("timeout_block", func(ctx context.Context, _ struct{}) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	quick := framework.NewTask("timeout_quick", func(ctx context.Context, n int) (int, error) {
		if _, ok := ctx.Deadline(); !ok {
			return 0, errors.New("no deadline in the task's ctx")
		}
		return n, nil
	})
	c := frameworktest.New(t, blocker, quick)
	ctx := testCtx(t)

	start := time.Now()
	_, err := blocker.Options(framework.Timeout(100*time.Millisecond)).Remote(ctx, c, struct{}{}).Await(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want errors.Is context.DeadlineExceeded", err)
	}
	var te *framework.TaskError
	if !errors.As(err, &te) || te.Kind != framework.KindTimeout || te.Attempts != 1 || te.Task != "timeout_block" {
		t.Fatalf("err = %#v, want a TaskError of kind %q after 1 attempt", err, framework.KindTimeout)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("timed out after %v, before the 100ms timeout", d)
	}

	v, err := quick.Options(framework.Timeout(10*time.Second)).Remote(ctx, c, 7).Await(ctx)
	if err != nil || v != 7 {
		t.Fatalf("call within its timeout = %v, %v; want 7, nil", v, err)
	}
}

func TestRetries(t *testing.T) {
	var mu sync.Mutex
	runs := map[string]int{} // call ID -> attempts run
	record := func(ctx context.Context) int {
		call := framework.CallFromContext(ctx)
		mu.Lock()
		defer mu.Unlock()
		runs[call.ID]++
		return call.Attempt
	}
	runsOf := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return runs[id]
	}
	// flaky fails its first failFirst attempts and returns the attempt that succeeded.
	flaky := framework.NewTask("retry_flaky", func(ctx context.Context, failFirst int) (int, error) {
		attempt := record(ctx)
		if attempt <= failFirst {
			return 0, fmt.Errorf("attempt %d failed", attempt)
		}
		return attempt, nil
	})
	permanent := framework.NewTask("retry_permanent", func(ctx context.Context, _ struct{}) (int, error) {
		record(ctx)
		return 0, framework.Permanent(errors.New("bad input"))
	})
	c := frameworktest.New(t, flaky, permanent)
	ctx := testCtx(t)
	backoff := framework.Backoff(10*time.Millisecond, 50*time.Millisecond)

	t.Run("succeeds on the third attempt", func(t *testing.T) {
		f := flaky.Options(framework.RetryErrors(), framework.MaxRetries(2), backoff).Remote(ctx, c, 2)
		v, err := f.Await(ctx)
		if err != nil || v != 3 {
			t.Fatalf("= %v, %v; want attempt 3, nil", v, err)
		}
		if n := runsOf(f.ID()); n != 3 {
			t.Errorf("ran %d times, want 3", n)
		}
	})
	t.Run("retries exhausted", func(t *testing.T) {
		f := flaky.Options(framework.RetryErrors(), framework.MaxRetries(1), backoff).Remote(ctx, c, 10)
		_, err := f.Await(ctx)
		if !errors.Is(err, framework.ErrRetriesExhausted) {
			t.Fatalf("err = %v, want errors.Is ErrRetriesExhausted", err)
		}
		var te *framework.TaskError
		if !errors.As(err, &te) || te.Attempts != 2 || !te.Exhausted || te.Kind != framework.KindError ||
			!strings.Contains(te.Message, "attempt 2 failed") {
			t.Fatalf("err = %#v, want the second attempt's error after 2 attempts", err)
		}
		if n := runsOf(f.ID()); n != 2 {
			t.Errorf("ran %d times, want 2", n)
		}
	})
	t.Run("permanent error not retried", func(t *testing.T) {
		f := permanent.Options(framework.RetryErrors(), framework.MaxRetries(2), backoff).Remote(ctx, c, struct{}{})
		_, err := f.Await(ctx)
		var te *framework.TaskError
		if !errors.As(err, &te) || te.Message != "bad input" || te.Attempts != 1 || te.Exhausted {
			t.Fatalf("err = %#v, want the first attempt's error, not exhausted", err)
		}
		if errors.Is(err, framework.ErrRetriesExhausted) {
			t.Errorf("a permanent error reported as retries exhausted: %v", err)
		}
		if n := runsOf(f.ID()); n != 1 {
			t.Errorf("ran %d times, want 1", n)
		}
	})
	t.Run("errors not retried without RetryErrors", func(t *testing.T) {
		f := flaky.Options(framework.MaxRetries(2)).Remote(ctx, c, 1)
		_, err := f.Await(ctx)
		var te *framework.TaskError
		if !errors.As(err, &te) || te.Attempts != 1 || te.Exhausted || errors.Is(err, framework.ErrRetriesExhausted) {
			t.Fatalf("err = %#v, want a plain failure of attempt 1", err)
		}
		if n := runsOf(f.ID()); n != 1 {
			t.Errorf("ran %d times, want 1", n)
		}
	})
}

func TestPermanent(t *testing.T) {
	if framework.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	base := errors.New("base")
	p := framework.Permanent(fmt.Errorf("wrapped: %w", base))
	if !errors.Is(p, base) || p.Error() != "wrapped: base" {
		t.Errorf("Permanent hides its cause: %v", p)
	}
}
