package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/testsupport"
)

// TestRunWithWorkerRole runs the worker under the worker role of testdata/nats/roles.conf
// (docs/security.md), with credentials from its flags, and calls it as driver drv1.
func TestRunWithWorkerRole(t *testing.T) {
	url := testsupport.EmbeddedFromFile(t, "../../testdata/nats/roles.conf").ClientURL()
	connectAs := func(a framework.Auth) *framework.Client { return testsupport.ConnectAs(t, url, a) }
	connectAs(framework.Auth{User: "admin", Password: "admin-pass"}) // creates the streams

	stderr, stop := startRun(t, "-nats", url, "-log-format", "json", "-user", "worker", "-password", "worker-pass",
		"-inbox-prefix", "_INBOX.worker")
	logLine(t, stderr, "worker running")
	c := connectAs(framework.Auth{User: "drv1", Password: "drv1-pass", ClientID: "drv1"})
	ctx := testsupport.Context(t, 20*time.Second)
	if v, err := demo.Add.Remote(ctx, c, demo.AddInput{A: 2, B: 3}).Await(ctx); err != nil || v != 5 {
		t.Fatalf("add = %v, %v", v, err)
	}
	stopRun(t, stop)
	if strings.Contains(stderr.String(), "NATS error") {
		t.Fatalf("permission errors in the worker's log:\n%s", stderr)
	}

	// Wrong credentials: a startup error; a flag mistake: a usage error.
	err := run(ctx, []string{"-nats", url, "-connect-timeout", "2s", "-user", "worker", "-password", "wrong"}, &testsupport.Buffer{}, &testsupport.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("wrong password: %v", err)
	}
	err = run(ctx, []string{"-tlscert", "client.pem"}, &testsupport.Buffer{}, &testsupport.Buffer{})
	if _, ok := err.(usageError); !ok {
		t.Fatalf("-tlscert without -tlskey: %v (%T), want a usage error", err, err)
	}
}
