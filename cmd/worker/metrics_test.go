package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jetray/jetray/examples/demo"
)

func TestRunServesMetrics(t *testing.T) {
	w := serve(t, "-metrics", "127.0.0.1:0")
	addr, _ := logLine(t, w.stderr, "metrics listening")["addr"].(string)
	ctx, c := w.ctx, w.c
	if v, err := demo.Add.Remote(ctx, c, demo.AddInput{A: 2, B: 3}).Await(ctx); err != nil || v != 5 {
		t.Fatalf("add = %v, %v", v, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	for _, want := range []string{
		`jetray_tasks_started_total{name="add"} 1`,
		`jetray_tasks_succeeded_total{name="add"} 1`,
		`jetray_task_duration_seconds_count{name="add"} 1`,
		`jetray_calls_in_flight 0`,
		`jetray_client_pending_futures 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
	stopRun(t, w.stop)
}
