package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/testsupport"
)

// stateEnv is a demo environment where 3 add calls finished, one fail call failed, and one
// Counter actor is alive; it returns the environment and the actor's ID, once every call's
// final state is recorded.
func stateEnv(t *testing.T) (*frameworktest.Env, string) {
	t.Helper()
	env := demoEnv(t)
	ctx := testCtx(t)
	for i := range 3 {
		if _, err := demo.Add.Remote(ctx, env.Client, demo.AddInput{A: i, B: i}).Await(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := demo.Fail.Remote(ctx, env.Client, demo.FailInput{Message: "on purpose"}).Await(ctx); err == nil {
		t.Fatal("fail succeeded")
	}
	h := demo.CounterClass.Remote(ctx, env.Client, demo.CounterInput{Start: 1})
	if _, err := demo.CounterIncr.Remote(ctx, h, demo.IncrInput{By: 1}).Await(ctx); err != nil {
		t.Fatal(err)
	}
	waitRecorded(t, env.Client, 5) // 4 task calls and the incr call
	return env, h.ID()
}

// waitRecorded polls JETRAY_EVENTS until n calls are FINISHED or FAILED.
func waitRecorded(t *testing.T, c *framework.Client, n int) {
	t.Helper()
	ctx := testCtx(t)
	testsupport.WaitFor(t, 2*time.Minute, fmt.Sprintf("%d calls recorded", n), func() bool {
		evs, err := framework.TaskEvents(ctx, c, 0)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, e := range evs {
			if e.State == framework.TaskFinished || e.State == framework.TaskFailed {
				done++
			}
		}
		return done >= n
	})
}

func TestListAndSummary(t *testing.T) {
	env, actorID := stateEnv(t)
	url := env.Server.ClientURL()
	tests := []struct {
		name   string
		args   []string
		prefix []string
		want   []string // fields after the prefix; "" matches anything
		absent []string // a row with this prefix must not be there
	}{
		{"tasks header", []string{"list", "tasks"}, []string{"TASK_ID", "NAME"}, []string{"STATE", "ATTEMPTS", "WORKER", "ERROR_TYPE", "DURATION", "ERROR"}, nil},
		{"failed task", []string{"list", "tasks", "-state", "failed"}, nil, nil, nil},
		{"add filtered out", []string{"list", "tasks", "-state", "FAILED"}, nil, nil, []string{"add"}},
		{"actors", []string{"list", "actors"}, []string{actorID, "Counter", "-", "ALIVE"}, []string{"test-worker", "0", "-"}, nil},
		{"dead actors only", []string{"list", "actors", "-state", "DEAD"}, nil, nil, []string{actorID}},
		{"workers", []string{"list", "workers"}, []string{"test-worker", "ALIVE", env.Client.ID()}, []string{""}, nil},
		{"workers by other name", []string{"list", "workers", "-name", "nobody"}, nil, nil, []string{"test-worker"}},
		{"summary add", []string{"summary"}, []string{"add"}, []string{"3", "0", "0", "3", "0"}, nil},
		{"summary fail", []string{"summary"}, []string{"fail"}, []string{"1", "0", "0", "0", "1"}, nil},
		{"summary actor call", []string{"summary"}, []string{"Counter.incr"}, []string{"1", "0", "0", "1", "0"}, nil},
		{"summary actors", []string{"summary"}, []string{"Counter"}, []string{"1", "0", "1", "0", "0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runDriver(t, append(tt.args, "-nats", url)...)
			if code != 0 {
				t.Fatalf("exit %d; stderr %s", code, errOut)
			}
			if tt.prefix != nil {
				f := row(out, tt.prefix...)
				if len(f) < len(tt.prefix)+len(tt.want) {
					t.Fatalf("no row %q with %d more fields in:\n%s", tt.prefix, len(tt.want), out)
				}
				for i, w := range tt.want {
					if got := f[len(tt.prefix)+i]; w != "" && got != w {
						t.Errorf("row %q field %d = %q, want %q in:\n%s", tt.prefix, len(tt.prefix)+i, got, w, out)
					}
				}
			}
			for _, a := range tt.absent {
				if row(out, a) != nil {
					t.Errorf("row %q listed:\n%s", a, out)
				}
			}
		})
	}
	// The failed call's row, by its fields rather than its ID.
	out, _, _ := runDriver(t, "list", "tasks", "-name", "fail", "-nats", url)
	found := false
	for _, f := range rowsAfterHeader(out) {
		if len(f) >= 7 && f[1] == "fail" && f[2] == "FAILED" && f[3] == "1" && f[4] == "test-worker" && f[5] == string(framework.KindError) {
			found = true
		}
	}
	if !found {
		t.Errorf("no FAILED fail row with error type %s:\n%s", framework.KindError, out)
	}
}

func rowsAfterHeader(table string) [][]string {
	var out [][]string
	for line := range strings.Lines(table) {
		out = append(out, strings.Fields(line))
	}
	if len(out) > 0 {
		out = out[1:]
	}
	return out
}

func TestListUsage(t *testing.T) {
	_, _, code := runDriver(t, "list", "jobs")
	if code != 2 {
		t.Errorf("list jobs: exit %d, want 2", code)
	}
}

// TestDashboardAPI checks the JSON endpoints the page reads.
func TestDashboardAPI(t *testing.T) {
	env, actorID := stateEnv(t)
	base := startDashboard(t, env.Client)
	ctx := testCtx(t)
	var recs []actors.Record
	getJSON(ctx, t, base+"/api/actors", &recs)
	if len(recs) != 1 || recs[0].ID != actorID || recs[0].State != actors.StateAlive {
		t.Errorf("/api/actors = %+v", recs)
	}
	var failures struct {
		Tasks []framework.TaskEvent `json:"tasks"`
		Dead  []json.RawMessage     `json:"dead"`
	}
	getJSON(ctx, t, base+"/api/failures", &failures)
	if len(failures.Tasks) != 1 || failures.Tasks[0].Name != "fail" || failures.Tasks[0].ErrorKind != framework.KindError {
		t.Errorf("/api/failures = %+v", failures)
	}
	var workers []framework.WorkerInfo
	getJSON(ctx, t, base+"/api/workers", &workers)
	if len(workers) != 1 || workers[0].Name != "test-worker" {
		t.Errorf("/api/workers = %+v", workers)
	}
	var queues []queueRow
	getJSON(ctx, t, base+"/api/queues", &queues)
	if len(queues) == 0 {
		t.Errorf("/api/queues is empty")
	}
	var tp struct {
		Points []point `json:"points"`
	}
	// The first sample comes a second after the start.
	testsupport.WaitFor(t, 2*time.Minute, "throughput sample", func() bool {
		getJSON(ctx, t, base+"/api/throughput", &tp)
		return len(tp.Points) > 0
	})
}
