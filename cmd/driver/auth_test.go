package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/testsupport"
)

// TestCommandsWithRoles runs driver commands with credentials from their flags against the
// roles of testdata/nats/roles.conf (docs/security.md): calls and kill as drivers, status as
// the admin. stdout is checked for a prefix.
func TestCommandsWithRoles(t *testing.T) {
	srv := testsupport.EmbeddedFromFile(t, "../../testdata/nats/roles.conf")
	url := srv.ClientURL()
	admin := []string{"-nats", url, "-user", "admin", "-password", "admin-pass"}
	drv1 := []string{"-nats", url, "-user", "drv1", "-password", "drv1-pass", "-client-id", "drv1"}
	drv2 := []string{"-nats", url, "-user", "drv2", "-password", "drv2-pass", "-client-id", "drv2"}
	if _, errOut, code := runDriver(t, append([]string{"status"}, admin...)...); code != 0 { // creates the streams
		t.Fatalf("status as admin: exit %d: %s", code, errOut)
	}
	wc := testsupport.ConnectAs(t, url, framework.Auth{User: "worker", Password: "worker-pass", InboxPrefix: "_INBOX.worker"})
	w := framework.NewWorker(wc, framework.WithWorkerName("role-worker"), framework.WithDrainTimeout(5*time.Second))
	if err := w.Register(demo.Catalog()...); err != nil {
		t.Fatal(err)
	}
	frameworktest.StartWorker(t, w)

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"call as drv1", append([]string{"call", "add", `{"a":2,"b":3}`}, drv1...), 0, "5\n", ""},
		// Another driver: a second process with client ID drv1 would reuse drv1's call IDs.
		{"actor call as drv2", append([]string{"call", "-actor", "roles", "-create", `{"start":1}`, "Counter.incr", `{"by":2}`}, drv2...), 0, "3\n", ""},
		{"kill as drv2", append([]string{"kill", "-actor", "roles"}, drv2...), 0, "killed Counter actor", ""},
		{"wrong password", []string{"call", "-nats", url, "-user", "drv1", "-password", "wrong", "add", `{"a":1,"b":1}`}, 1, "", "Authorization Violation"},
		{"no credentials", []string{"status", "-nats", url}, 1, "", "Authorization Violation"},
		{"cert without key", []string{"call", "-tlscert", "client.pem", "add"}, 2, "", "call: jetray: auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runDriver(t, tc.args...)
			if code != tc.code || !strings.HasPrefix(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("driver %q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
					tc.args, code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}
