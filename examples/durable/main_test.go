package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRun runs the example and checks what it prints: the account's state survives the
// hand-over and the Kill with AllowRestart (its constructor ran once), the auditor (not
// durable) starts again at 0, and its reports ran side by side in group "io".
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	built.Store(0)
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	want := []string{
		`post 100 \(salary\): balance 100`,
		`post -30 \(rent\): balance 70`,
		`post -500 \(yacht\): refused, overdrawn`,
		`post 15 \(refund\): balance 85`,
		`after the hand-over: ada has 85 in 3 postings \(restored true, constructor ran 1 time\)`,
		`after the hand-over: the auditor \(not durable\) has 0`,
		`post -5 \(coffee\): balance 80`,
		`post 20 \(gift\): balance 100`,
		// Four reports were sent at once; how many overlapped depends on the machine's load.
		`final: balance 100, audited 15, reports at once [2-4], constructor ran 1 time`,
	}
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(got) != len(want) {
		t.Fatalf("printed %d lines, want %d:\n%s", len(got), len(want), out.String())
	}
	for i, w := range want {
		if !regexp.MustCompile("^" + w + "$").MatchString(got[i]) {
			t.Errorf("line %d: %q, want %q", i+1, got[i], w)
		}
	}
}
