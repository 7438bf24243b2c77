package main

import (
	"strings"
	"testing"

	"github.com/jetray/jetray/examples/demo"
)

// row returns the fields of the first line of table whose first fields are prefix.
func row(table string, prefix ...string) []string {
	for line := range strings.Lines(table) {
		f := strings.Fields(line)
		if len(f) >= len(prefix) && strings.Join(f[:len(prefix)], " ") == strings.Join(prefix, " ") {
			return f
		}
	}
	return nil
}

func TestStatus(t *testing.T) {
	env := demoEnv(t)
	ctx := testCtx(t)
	for i := range 3 {
		if _, err := demo.Add.Remote(ctx, env.Client, demo.AddInput{A: i, B: i}).Await(ctx); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := runDriver(t, "status", "-nats", env.Server.ClientURL())
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, errOut)
	}
	tests := []struct {
		name   string
		prefix []string
		want   []string // expected fields after the prefix; "" matches anything
	}{
		{"streams header", []string{"STREAM", "RETENTION"}, []string{"STORAGE", "MESSAGES", "BYTES", "CONSUMERS", "SUBJECTS"}},
		// MESSAGES and BYTES: no call is left, but the task keeper's message may be there for
		// up to framework.KeepTTL; the consumer rows below show the calls drained.
		{"tasks stream", []string{"JETRAY_TASKS"}, []string{"WorkQueue", "File", "", "", "10", "jetray.task.>"}},
		{"results stream", []string{"JETRAY_RESULTS"}, []string{"Limits", "File", "3", "", "", "jetray.result.>"}},
		{"registry stream", []string{"KV_jetray_registry"}, []string{"Limits"}},
		{"consumers header", []string{"STREAM", "CONSUMER"}, []string{"PENDING", "ACK_PENDING", "REDELIVERED", "WAITING", "FILTER"}},
		{"add consumer", []string{"JETRAY_TASKS", "task-add"}, []string{"0", "0", "0", "", "jetray.task.add"}},
		{"registry header", []string{"NAME", "KIND"}, []string{"WORKER", "REGISTERED"}},
		{"add registered", []string{"add"}, []string{"task", "test-worker", ""}},
		{"panic registered", []string{"panic"}, []string{"task", "test-worker", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := row(out, tt.prefix...)
			if len(f) < len(tt.prefix)+len(tt.want) {
				t.Fatalf("no row %q with %d more fields in:\n%s", tt.prefix, len(tt.want), out)
			}
			for i, w := range tt.want {
				if got := f[len(tt.prefix)+i]; w != "" && got != w {
					t.Errorf("row %q field %d = %q, want %q", tt.prefix, len(tt.prefix)+i, got, w)
				}
			}
		})
	}
	// The environment's client has a results consumer listed; the status command's own is not.
	if n := strings.Count(out, "jetray.result."+env.Client.ID()+".>"); n != 1 {
		t.Errorf("test client's results consumer listed %d times:\n%s", n, out)
	}
}
