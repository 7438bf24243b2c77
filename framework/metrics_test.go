package framework_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWorkerMetrics(t *testing.T) {
	var flaky atomic.Int32
	okTask := framework.NewTask("m_ok", func(ctx context.Context, n int) (int, error) { return n, nil })
	badTask := framework.NewTask("m_bad", func(ctx context.Context, _ int) (int, error) { return 0, errors.New("no") })
	retried := framework.NewTask("m_retried", func(ctx context.Context, _ int) (int, error) {
		if flaky.Add(1) < 3 {
			return 0, errors.New("not yet")
		}
		return 1, nil
	}, framework.RetryErrors(), framework.MaxRetries(5), framework.Backoff(time.Millisecond, 5*time.Millisecond))

	m := framework.NewMetrics()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithMetrics(m)}, okTask, badTask, retried)
	c := env.Client
	reg.MustRegister(c.Collector())
	ctx := testCtx(t)

	for i := range 3 {
		if _, err := okTask.Remote(ctx, c, i).Await(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := badTask.Remote(ctx, c, 0).Await(ctx); err == nil {
		t.Fatal("m_bad succeeded")
	}
	if _, err := retried.Remote(ctx, c, 0).Await(ctx); err != nil {
		t.Fatal(err)
	}

	want := `
# HELP jetray_tasks_started_total Calls that started running, by task or Class.method name.
# TYPE jetray_tasks_started_total counter
jetray_tasks_started_total{name="m_bad"} 1
jetray_tasks_started_total{name="m_ok"} 3
jetray_tasks_started_total{name="m_retried"} 3
# HELP jetray_tasks_succeeded_total Calls that returned a result.
# TYPE jetray_tasks_succeeded_total counter
jetray_tasks_succeeded_total{name="m_bad"} 0
jetray_tasks_succeeded_total{name="m_ok"} 3
jetray_tasks_succeeded_total{name="m_retried"} 1
# HELP jetray_tasks_failed_total Calls answered with an error, by error kind.
# TYPE jetray_tasks_failed_total counter
jetray_tasks_failed_total{kind="error",name="m_bad"} 1
# HELP jetray_tasks_retried_total Failed calls scheduled for another attempt.
# TYPE jetray_tasks_retried_total counter
jetray_tasks_retried_total{name="m_retried"} 2
# HELP jetray_redeliveries_total Deliveries of a call beyond its first (attempt > 1).
# TYPE jetray_redeliveries_total counter
jetray_redeliveries_total{name="m_retried"} 2
# HELP jetray_calls_in_flight Calls running now.
# TYPE jetray_calls_in_flight gauge
jetray_calls_in_flight 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"jetray_tasks_started_total", "jetray_tasks_succeeded_total", "jetray_tasks_failed_total",
		"jetray_tasks_retried_total", "jetray_redeliveries_total", "jetray_calls_in_flight"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m, "jetray_task_duration_seconds"); n != 3 {
		t.Errorf("duration histograms = %d, want 3 (one a name)", n)
	}
	// Submit latency is observed when the publish ack arrives, which may trail the result.
	var submits uint64
	if !testsupport.Poll(10*time.Second, func() bool {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "jetray_client_submit_seconds" {
				submits = mf.GetMetric()[0].GetHistogram().GetSampleCount()
			}
		}
		return submits == 5
	}) {
		t.Fatalf("jetray_client_submit_seconds count = %d, want 5", submits)
	}
	pending := `
# HELP jetray_client_pending_futures Calls submitted whose result has not arrived.
# TYPE jetray_client_pending_futures gauge
jetray_client_pending_futures 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(pending), "jetray_client_pending_futures"); err != nil {
		t.Fatal(err)
	}
}
