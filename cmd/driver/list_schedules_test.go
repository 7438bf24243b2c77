package main

import (
	"testing"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
)

// `driver list schedules` shows each periodic schedule: name, task, next run, zone, when it
// was declared, input and spec; -name keeps the rows of one schedule or task.
func TestListSchedules(t *testing.T) {
	env := demoEnv(t)
	ctx := testCtx(t)
	if err := demo.Add.Schedule(ctx, env.Client, "nightly-add", framework.Cron("0 0 2 * * *").In("Europe/Berlin"), demo.AddInput{A: 1, B: 2}); err != nil {
		t.Fatal(err)
	}
	if err := demo.Add.Schedule(ctx, env.Client, "hourly-add", framework.Every(time.Hour), demo.AddInput{A: 3, B: 4}); err != nil {
		t.Fatal(err)
	}
	ss, err := framework.Schedules(ctx, env.Client)
	if err != nil || len(ss) != 2 {
		t.Fatalf("Schedules = %+v, %v", ss, err)
	}
	url := env.Server.ClientURL()
	out, errOut, code := runDriver(t, "list", "schedules", "-nats", url)
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, errOut)
	}
	if h := row(out, "NAME", "TASK", "NEXT_RUN", "ZONE", "DECLARED", "INPUT", "SPEC"); h == nil {
		t.Fatalf("no header in:\n%s", out)
	}
	for _, s := range ss {
		f := row(out, s.Name, "add", s.Next.UTC().Format(time.RFC3339))
		if f == nil {
			t.Fatalf("no row for %s (next run %v) in:\n%s", s.Name, s.Next, out)
		}
		wantZone := "-"
		if s.Zone != "" {
			wantZone = s.Zone
		}
		if f[3] != wantZone || f[4] != s.Declared.UTC().Format(time.RFC3339) || f[5] != string(s.Input) {
			t.Errorf("row %v for %+v", f, s)
		}
	}
	if f := row(out, "nightly-add"); f == nil || f[len(f)-6] != "0" || f[len(f)-1] != "*" {
		t.Errorf("nightly-add's spec is not its last six fields: %v", f)
	}
	out, _, _ = runDriver(t, "list", "schedules", "-name", "hourly-add", "-nats", url)
	if row(out, "nightly-add") != nil || row(out, "hourly-add") == nil {
		t.Errorf("-name hourly-add:\n%s", out)
	}
}
