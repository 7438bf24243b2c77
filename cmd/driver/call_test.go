package main

import (
	"strings"
	"testing"
)

func TestCall(t *testing.T) {
	env := demoEnv(t)
	url := env.Server.ClientURL()
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderrHas  string
		stderrLack string
	}{
		{"add", []string{"add", `{"a":2,"b":3}`}, 0, "5\n", "", ""},
		{"flags after args", []string{"add", `{"a":-1,"b":1}`, "-timeout", "20s"}, 0, "0\n", "", ""},
		{"default input null", []string{"some_task"}, 0, "1\n", "", ""},
		{"echo keeps JSON", []string{"echo", `{"k":[1,"two",null]}`}, 0, `{"k":[1,"two",null]}` + "\n", "", ""},
		{"echo null", []string{"echo"}, 0, "null\n", "", ""},
		{"noop", []string{"noop"}, 0, "{}\n", "", ""},
		{"fail", []string{"fail", `{"message":"x"}`}, 1, "", "failed: x", "stack"},
		{"panic shows stack", []string{"panic"}, 1, "", "stack of the panic on worker test-worker", ""},
		{"decode error", []string{"add", `"not an object"`}, 1, "", "failed (decode)", ""},
		{"unknown task", []string{"no_such_task"}, 1, "", "unknown task", ""},
		{"timeout", []string{"-timeout", "200ms", "sleep", `{"ms":5000}`}, 1, "", "no result within 200ms", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"call", "-nats", url}, tt.args...)
			out, errOut, code := runDriver(t, args...)
			if code != tt.code || out != tt.stdout || !strings.Contains(errOut, tt.stderrHas) ||
				(tt.stderrLack != "" && strings.Contains(errOut, tt.stderrLack)) {
				t.Fatalf("driver %q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
					args, code, out, errOut, tt.code, tt.stdout, tt.stderrHas)
			}
		})
	}
}

func TestCallNoServer(t *testing.T) {
	_, errOut, code := runDriver(t, "call", "-nats", "nats://127.0.0.1:1", "-timeout", "300ms", "add")
	if code != 1 || !strings.Contains(errOut, "connect") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
