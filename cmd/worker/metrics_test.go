package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/testsupport"
)

func TestRunServesMetrics(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	stderr, stop := startRun(t, "-nats", srv.ClientURL(), "-log-format", "json", "-metrics", "127.0.0.1:0")
	addr, _ := logLine(t, stderr, "metrics listening")["addr"].(string)
	logLine(t, stderr, "worker running")

	c := testsupport.Connect(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
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
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}
