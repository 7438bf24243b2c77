package main

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

func TestDeadListAndReplay(t *testing.T) {
	var healthy atomic.Bool
	flaky := framework.NewTask("dead_cli_flaky", func(_ context.Context, n int) (int, error) {
		if !healthy.Load() {
			return 0, errors.New("backend down")
		}
		return n + 1, nil
	}, framework.RetryErrors(), framework.MaxRetries(0))
	env := frameworktest.NewEnv(t, nil, flaky)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := flaky.Remote(ctx, env.Client, 41).Await(ctx); err == nil {
		t.Fatal("want a failure")
	}
	url := env.Server.ClientURL()
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"dead", "-nats", url}, &out, &errb); err != nil {
		t.Fatalf("dead: %v (%s)", err, errb.String())
	}
	if !strings.Contains(out.String(), "dead_cli_flaky") || !strings.Contains(out.String(), "backend down") ||
		!strings.Contains(out.String(), "1 dead letter") {
		t.Fatalf("dead output:\n%s", out.String())
	}
	dead, err := framework.DeadLetters(ctx, env.Client, 0)
	if err != nil || len(dead) != 1 {
		t.Fatal(dead, err)
	}
	healthy.Store(true)
	out.Reset()
	if err := run(ctx, []string{"dead", "-nats", url, "-replay", strconv.FormatUint(dead[0].Seq, 10)}, &out, &errb); err != nil {
		t.Fatalf("replay: %v (%s)", err, errb.String())
	}
	if strings.TrimSpace(out.String()) != "42" {
		t.Fatalf("replay printed %q", out.String())
	}
}
