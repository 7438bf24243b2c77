package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
)

// TestMultiProcessActors places Counter actors on two worker processes and calls them from
// this client, from the driver binary and from tasks running on the workers.
func TestMultiProcessActors(t *testing.T) {
	d := startDeployment(t)
	c, ctx := d.c, testCtx(t)

	// Eight named counters, mp-c0 starting at 0, mp-c1 at 100, and so on. A worker takes each
	// creation call; if one took all of them, unnamed ones follow until both hold some.
	const named, maxActors = 8, 40
	var handles []*actors.Handle[demo.Counter]
	for i := range named {
		h := demo.CounterClass.Options(actors.Name(fmt.Sprintf("mp-c%d", i))).Remote(ctx, c, demo.CounterInput{Start: 100 * i})
		handles = append(handles, h)
	}
	var placed map[string]int
	for {
		for _, h := range handles {
			if err := h.Ready(ctx); err != nil {
				t.Fatalf("actor %s: %v", h.ID(), err)
			}
		}
		placed = placements(t, d, handles)
		if placed["mp-w1"] > 0 && placed["mp-w2"] > 0 {
			break
		}
		if len(handles) >= maxActors {
			t.Fatalf("%d actors all placed on one worker: %v", len(handles), placed)
		}
		handles = append(handles, demo.CounterClass.Remote(ctx, c, demo.CounterInput{Start: 100 * len(handles)}))
	}
	t.Logf("%d actors by worker: %v", len(handles), placed)

	// From the driver binary, by name: mp-cI gets +I.
	for i := range named {
		name := fmt.Sprintf("mp-c%d", i)
		out, errOut, code := testsupport.Run(t, d.driver, "call", "-nats", d.url, "-actor", name, "Counter.incr", fmt.Sprintf(`{"by":%d}`, i))
		if want := strconv.Itoa(101*i) + "\n"; code != 0 || out != want {
			t.Fatalf("driver call -actor %s Counter.incr: exit %d, stdout %q, stderr %q; want %q", name, code, out, errOut, want)
		}
	}
	// From tasks on the workers, with handles in their input: every actor gets +1000.
	fs := make([]*futures.Future[int], len(handles))
	for i, h := range handles {
		fs[i] = demo.CounterAdd.Remote(ctx, c, demo.CounterAddInput{Counter: h, By: 1000})
	}
	if _, err := futures.Gather(ctx, fs...); err != nil {
		t.Fatal(err)
	}
	// From this client: the values add up.
	for i, h := range handles {
		want := 100*i + 1000
		if i < named {
			want += i
		}
		if v, err := demo.CounterGet.Remote(ctx, h, nil).Await(ctx); err != nil || v != want {
			t.Errorf("actor %d (%s) = %d, %v; want %d", i, h.ID(), v, err, want)
		}
	}

	// Get-or-create from the driver, then status lists it on its worker, then kill.
	out, errOut, code := testsupport.Run(t, d.driver, "call", "-nats", d.url, "-actor", "mp-new", "-create", `{"start":41}`, "Counter.incr", `{"by":1}`)
	if code != 0 || out != "42\n" {
		t.Fatalf("driver call -create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = testsupport.Run(t, d.driver, "status", "-nats", d.url)
	if f := actorRow(out, "mp-new"); code != 0 || len(f) < 6 || f[3] != "ALIVE" || !strings.HasPrefix(f[4], "mp-w") {
		t.Fatalf("driver status: exit %d, stderr %q, mp-new row %q in:\n%s", code, errOut, f, out)
	}
	for i := range named {
		if f := actorRow(out, fmt.Sprintf("mp-c%d", i)); len(f) < 6 || f[3] != "ALIVE" {
			t.Errorf("driver status: mp-c%d row %q", i, f)
		}
	}
	out, errOut, code = testsupport.Run(t, d.driver, "kill", "-nats", d.url, "-actor", "mp-new")
	if code != 0 || !strings.HasPrefix(out, `killed Counter actor "mp-new"`) {
		t.Fatalf("driver kill: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = testsupport.Run(t, d.driver, "call", "-nats", d.url, "-actor", "mp-new", "Counter.get")
	if code != 1 || out != "" || !strings.Contains(errOut, `no live actor named "mp-new"`) {
		t.Fatalf("driver call after kill: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Stopping the workers stops their actors.
	d.stopWorkers(t)
	if _, err := demo.CounterGet.Remote(ctx, handles[0], nil).Await(ctx); !errors.Is(err, actors.ErrDied) {
		t.Errorf("call after the workers stopped: err = %v, want ErrDied", err)
	}
	recs, err := actors.List(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.State != actors.StateDead {
			t.Errorf("after the workers stopped, actor %s (%s) is %s (%s)", r.ID, r.Name, r.State, r.Error)
		}
	}
}

// placements returns how many of handles each worker holds, from the actor records.
func placements(t *testing.T, d *deployment, handles []*actors.Handle[demo.Counter]) map[string]int {
	t.Helper()
	recs, err := actors.List(testCtx(t), d.c)
	if err != nil {
		t.Fatal(err)
	}
	where := map[string]string{}
	for _, r := range recs {
		where[r.ID] = r.Worker
	}
	out := map[string]int{}
	for _, h := range handles {
		w, ok := where[h.ID()]
		if !ok || w == "" {
			t.Fatalf("actor %s has no record or no worker after Ready: %v", h.ID(), where)
		}
		out[w]++
	}
	return out
}
