package main

import (
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		wantOut    string
		wantStderr string
	}{
		{"no args", nil, 0, "driver demo", ""},
		{"help", []string{"help"}, 0, "driver status", ""},
		{"help call", []string{"help", "call"}, 0, "-timeout", ""},
		{"call -h", []string{"call", "-h"}, 0, "", "-timeout"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"unknown flag", []string{"status", "-bogus"}, 2, "", "bogus"},
		{"call without name", []string{"call"}, 2, "", "want NAME"},
		{"call with extra args", []string{"call", "add", "1", "2"}, 2, "", "want NAME"},
		{"call bad name", []string{"call", "a.b"}, 2, "", "invalid name"},
		{"call bad json", []string{"call", "add", "{"}, 2, "", "not valid JSON"},
		{"call bad name with dot", []string{"call", "Counter.incr"}, 2, "", "give -actor NAME"},
		{"call -actor without method", []string{"call", "-actor", "c1", "Counter"}, 2, "", "NAME is Class.method"},
		{"call -actor bad name", []string{"call", "-actor", "c.1", "Counter.incr"}, 2, "", "invalid name"},
		{"call -create without -actor", []string{"call", "-create", "{}", "add"}, 2, "", "-create needs -actor"},
		{"call -create bad json", []string{"call", "-actor", "c1", "-create", "{", "Counter.get"}, 2, "", "-create"},
		{"kill without actor", []string{"kill"}, 2, "", "want -actor NAME"},
		{"kill extra", []string{"kill", "-actor", "c1", "x"}, 2, "", "unexpected argument"},
		{"kill bad class", []string{"kill", "-actor", "c1", "-class", "a.b"}, 2, "", "invalid name"},
		{"help kill", []string{"help", "kill"}, 0, "-class", ""},
		{"status extra", []string{"status", "x"}, 2, "", "unexpected argument"},
		{"demo extra", []string{"demo", "x"}, 2, "", "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runDriver(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantStderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					code, out, errOut, tt.code, tt.wantOut, tt.wantStderr)
			}
		})
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		pos     []string
		timeout string
	}{
		{"flags first", []string{"-t", "1s", "a", "b"}, []string{"a", "b"}, "1s"},
		{"flags last", []string{"a", "b", "-t", "2s"}, []string{"a", "b"}, "2s"},
		{"flags between", []string{"a", "-t=3s", "b"}, []string{"a", "b"}, "3s"},
		{"dash dash", []string{"a", "--", "-5"}, []string{"a", "-5"}, "0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			d := fs.Duration("t", 0, "")
			pos, err := parseArgs(fs, tt.args)
			if err != nil || strings.Join(pos, " ") != strings.Join(tt.pos, " ") || d.String() != tt.timeout {
				t.Fatalf("parseArgs(%q) = %q, %v, -t %s", tt.args, pos, err, d)
			}
		})
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	if _, err := parseArgs(fs, []string{"-nope"}); !errors.As(err, new(usageError)) {
		t.Fatalf("unknown flag: err = %v, want a usageError", err)
	}
}
