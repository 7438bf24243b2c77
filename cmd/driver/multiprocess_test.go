package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/jetray/jetray/internal/wire"
)

// TestMain removes the binaries the multi-process tests built.
func TestMain(m *testing.M) { testsupport.Main(m) }

// deployment is a real nats-server with two worker processes, mp-w1 and mp-w2, serving the
// demo catalog, and a client of it.
type deployment struct {
	driver  string // the driver binary
	url     string
	c       *framework.Client
	workers []*testsupport.Proc
}

// startDeployment starts a deployment and waits until both workers run. Tests using it are
// skipped with -short.
func startDeployment(t *testing.T) *deployment {
	t.Helper()
	driver := testsupport.Driver(t)
	url := testsupport.StartNATS(t, testsupport.NATSConfig{}).URL
	c := testsupport.Connect(t, url)
	var workers []*testsupport.Proc
	for _, name := range []string{"mp-w1", "mp-w2"} {
		workers = append(workers, testsupport.StartWorker(t, url, name, "-concurrency", "2", "-drain", "10s"))
	}
	return &deployment{driver: driver, url: url, c: c, workers: workers}
}

// stopWorkers sends SIGTERM to every worker and checks each exits 0 after a clean stop.
func (d *deployment) stopWorkers(t *testing.T) {
	t.Helper()
	for _, w := range d.workers {
		if w.Exited() {
			t.Fatalf("%s exited early: %v", w.Name, w.Err())
		}
	}
	for _, w := range d.workers {
		if err, _ := w.Term(t, 30*time.Second); err != nil {
			t.Errorf("%s: exit after SIGTERM: %v", w.Name, err)
		}
		if !strings.Contains(w.Stderr.String(), `"message":"worker stopped"`) {
			t.Errorf("%s: no worker stopped log line", w.Name)
		}
	}
}

// TestMultiProcess runs a real nats-server, two worker processes and the driver binary, the
// way a deployment does.
func TestMultiProcess(t *testing.T) {
	d := startDeployment(t)
	driver, url, c, ctx := d.driver, d.url, d.c, testCtx(t)

	const n = 200
	fs := make([]*futures.Future[int], n)
	for i := range fs {
		fs[i] = demo.Add.Remote(ctx, c, demo.AddInput{A: i, B: 2 * i})
	}
	sums, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sums {
		if s != 3*i {
			t.Fatalf("add(%d, %d) = %d", i, 2*i, s)
		}
	}
	// Each stored result names the worker that produced it.
	results, err := c.JetStream().Stream(ctx, framework.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	byWorker := map[string]int{}
	for _, f := range fs {
		msg, err := results.GetLastMsgForSubject(ctx, framework.ResultSubject(f.ID()))
		if err != nil {
			t.Fatalf("result of %s: %v", f.ID(), err)
		}
		byWorker[msg.Header.Get(wire.HeaderWorker)]++
	}
	if byWorker["mp-w1"] == 0 || byWorker["mp-w2"] == 0 || byWorker["mp-w1"]+byWorker["mp-w2"] != n {
		t.Errorf("results by worker = %v; want both workers, %d in all", byWorker, n)
	}
	t.Logf("results by worker: %v", byWorker)

	for _, tc := range []struct {
		name string
		args []string
		ok   func(stdout, stderr string, code int) bool
	}{
		{"call add", []string{"call", "-nats", url, "add", `{"a":2,"b":3}`}, func(out, _ string, code int) bool {
			return code == 0 && out == "5\n"
		}},
		{"call fail", []string{"call", "-nats", url, "fail", `{"message":"x"}`}, func(out, errOut string, code int) bool {
			return code == 1 && out == "" && strings.Contains(errOut, "failed: x")
		}},
		{"status", []string{"status", "-nats", url}, func(out, _ string, code int) bool {
			return code == 0 && strings.Contains(out, "task-add") && row(out, "add", "task") != nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, errOut, code := testsupport.Run(t, driver, tc.args...); !tc.ok(out, errOut, code) {
				t.Errorf("driver %q: exit %d, stderr %q, stdout:\n%s", tc.args, code, errOut, out)
			}
		})
	}

	d.stopWorkers(t)
}
