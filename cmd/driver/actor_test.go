package main

import (
	"strings"
	"testing"
)

// actorRow returns the fields of the last row of the status actors table for the actor named
// name (the latest, since rows are sorted by creation).
func actorRow(table, name string) []string {
	var found []string
	inActors := false
	for line := range strings.Lines(table) {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "ACTOR_ID" {
			inActors = true
			continue
		}
		if inActors && len(f) >= 6 && f[2] == name {
			found = f
		}
	}
	return found
}

// The steps run in order on one deployment: each sees what the ones before did.
func TestCallActorAndKill(t *testing.T) {
	env := demoEnv(t)
	url := env.Server.ClientURL()
	steps := []struct {
		name      string
		args      []string
		code      int
		stdout    string
		stderrHas string
	}{
		{"unknown actor", []string{"call", "-actor", "c1", "Counter.incr", `{"by":1}`}, 1, "",
			`no live actor named "c1" (create it with -create JSON): jetray: actor not found`},
		{"create and call", []string{"call", "-actor", "c1", "-create", `{"start":5}`, "Counter.incr", `{"by":2}`}, 0, "7\n", ""},
		{"create again gets the same actor", []string{"call", "Counter.incr", `{"by":1}`, "-actor", "c1", "-create", `{"start":100}`}, 0, "8\n", ""},
		{"call by name", []string{"call", "-actor", "c1", "Counter.get"}, 0, "8\n", ""},
		{"wrong class", []string{"call", "-actor", "c1", "AsyncActor.run_task"}, 1, "", `actor "c1" is a Counter, not a AsyncActor`},
		{"wrong class on create", []string{"call", "-actor", "c1", "-create", "{}", "AsyncActor.run_task"}, 1, "", `actor "c1" is a Counter, not a AsyncActor`},
		{"unknown method", []string{"call", "-actor", "c1", "Counter.nope"}, 1, "", `no method "nope"`},
		{"bad method input", []string{"call", "-actor", "c1", "Counter.incr", `{"by":"x"}`}, 1, "", "failed (decode)"},
		{"constructor input does not decode", []string{"call", "-actor", "c2", "-create", `{"start":"x"}`, "Counter.get"}, 1, "",
			`create Counter actor "c2"`},
		{"class nobody serves", []string{"call", "-actor", "c3", "-create", "{}", "Nope.m"}, 1, "", "no worker serves actor class Nope"},
		{"kill", []string{"kill", "-actor", "c1"}, 0, `killed Counter actor "c1"`, ""},
		{"call after kill", []string{"call", "-actor", "c1", "Counter.get"}, 1, "", `no live actor named "c1"`},
		{"kill again", []string{"kill", "-actor", "c1", "-class", "Counter"}, 1, "", `no live actor named "c1"`},
		{"kill unknown", []string{"kill", "-actor", "nobody"}, 1, "", `no live actor named "nobody"`},
		{"recreate", []string{"call", "-actor", "c1", "-create", `{"start":40}`, "Counter.incr", `{"by":2}`}, 0, "42\n", ""},
		{"kill with class", []string{"kill", "-class", "Counter", "-actor", "c1"}, 0, `killed Counter actor "c1"`, ""},
		{"create c4", []string{"call", "-actor", "c4", "-create", "{}", "Counter.get"}, 0, "0\n", ""},
		{"kill with the wrong class fails", []string{"kill", "-class", "AsyncActor", "-actor", "c4"}, 1, "", "is a Counter, not a AsyncActor"},
	}
	for _, st := range steps {
		args := append(st.args[:1:1], append([]string{"-nats", url}, st.args[1:]...)...)
		out, errOut, code := runDriver(t, args...)
		if code != st.code || !strings.HasPrefix(out, st.stdout) || (st.stdout == "" && out != "") ||
			!strings.Contains(errOut, st.stderrHas) {
			t.Fatalf("%s: driver %q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
				st.name, args, code, out, errOut, st.code, st.stdout, st.stderrHas)
		}
	}

	out, errOut, code := runDriver(t, "status", "-nats", url)
	if code != 0 {
		t.Fatalf("status: exit %d, stderr %q", code, errOut)
	}
	tests := []struct {
		name, actor string
		want        []string // CLASS NAME STATE WORKER MAX_CONCURRENCY, after ACTOR_ID
	}{
		{"killed", "c1", []string{"Counter", "c1", "DEAD", "test-worker", "1"}},
		{"alive", "c4", []string{"Counter", "c4", "ALIVE", "test-worker", "1"}},
		{"constructor failed", "c2", []string{"Counter", "c2", "FAILED", "test-worker", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := actorRow(out, tt.actor)
			if len(f) < 6 || strings.Join(f[1:6], " ") != strings.Join(tt.want, " ") {
				t.Fatalf("actor row %q = %q, want %q after the ID, in:\n%s", tt.actor, f, tt.want, out)
			}
		})
	}
	if row(out, "ACTOR_ID", "CLASS", "NAME", "STATE", "WORKER", "MAX_CONCURRENCY", "ERROR") == nil {
		t.Errorf("no actors table header in:\n%s", out)
	}
}
