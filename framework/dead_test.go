package framework_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

func TestDeadLettersAndReplay(t *testing.T) {
	var healthy atomic.Bool
	flaky := framework.NewTask("dead_flaky", func(_ context.Context, n int) (int, error) {
		if !healthy.Load() {
			return 0, errors.New("backend down")
		}
		return n * 10, nil
	}, framework.RetryErrors(), framework.MaxRetries(1), framework.Backoff(time.Millisecond, 5*time.Millisecond))
	c := frameworktest.New(t, flaky)
	ctx := testCtx(t)

	_, err := flaky.Remote(ctx, c, 4).Await(ctx)
	var te *framework.TaskError
	if !errors.As(err, &te) || !errors.Is(err, framework.ErrRetriesExhausted) || te.Attempts != 2 || te.Message != "backend down" {
		t.Fatalf("exhausted: %#v", err)
	}
	if !strings.Contains(err.Error(), "2 attempt") {
		t.Fatalf("error text lacks the attempt count: %v", err)
	}
	dead, err := framework.DeadLetters(ctx, c, 0)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters = %v, %v", dead, err)
	}
	d := dead[0]
	if d.Name != "dead_flaky" || d.Attempts != 2 || !strings.Contains(d.Reason, "backend down") || string(d.Data) != "4" {
		t.Fatalf("dead letter = %+v", d)
	}
	healthy.Store(true)
	f, err := framework.ReplayDeadLetter(ctx, c, d.Seq)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := f.Await(ctx)
	var v int
	if err != nil || json.Unmarshal(raw, &v) != nil || v != 40 {
		t.Fatalf("replay = %s, %v", raw, err)
	}
	if dead, _ := framework.DeadLetters(ctx, c, 0); len(dead) != 0 {
		t.Fatalf("dead letter kept after replay: %+v", dead)
	}
}
