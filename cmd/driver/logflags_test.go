package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestLogFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"bad format", []string{"status", "-log-format", "xml"}},
		{"bad level", []string{"call", "-log-level", "loud", "add"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if !errors.As(err, new(usageError)) {
				t.Fatalf("err = %v, want a usage error", err)
			}
		})
	}

	fs := newFlagSet("status", "status", &bytes.Buffer{})
	if err := fs.Parse([]string{"-log-level", "debug", "-log-format", "json"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_ = logOption(fs, &out) // the logger goes to Connect; check the flags it reads instead
	lvl := fs.Lookup("log-level").Value.String()
	format := fs.Lookup("log-format").Value.String()
	if lvl != "debug" || format != "json" {
		t.Fatalf("flags = %s %s", lvl, format)
	}
	var m map[string]any
	if line := strings.TrimSpace(out.String()); line != "" && json.Unmarshal([]byte(line), &m) != nil {
		t.Fatalf("not JSON: %q", line)
	}
}
