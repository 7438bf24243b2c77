package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/nats-io/nats-server/v2/server"
)

// TestRunWithWorkerRole runs the worker under the worker role of testdata/nats/roles.conf
// (docs/security.md), with credentials from its flags, and calls it as driver drv1.
func TestRunWithWorkerRole(t *testing.T) {
	opts, err := server.ProcessConfigFile("../../testdata/nats/roles.conf")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := framework.StartEmbedded(framework.EmbeddedConfig{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	url := srv.ClientURL()
	connectAs := func(a framework.Auth) *framework.Client {
		t.Helper()
		opts, err := a.ClientOptions()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := framework.Connect(ctx, url, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	connectAs(framework.Auth{User: "admin", Password: "admin-pass"}) // creates the streams

	stderr, stop := startRun(t, "-nats", url, "-log-format", "json", "-user", "worker", "-password", "worker-pass",
		"-inbox-prefix", "_INBOX.worker")
	logLine(t, stderr, "worker running")
	c := connectAs(framework.Auth{User: "drv1", Password: "drv1-pass", ClientID: "drv1"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if v, err := demo.Add.Remote(ctx, c, demo.AddInput{A: 2, B: 3}).Await(ctx); err != nil || v != 5 {
		t.Fatalf("add = %v, %v", v, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if strings.Contains(stderr.String(), "NATS error") {
		t.Fatalf("permission errors in the worker's log:\n%s", stderr)
	}

	// Wrong credentials: a startup error; a flag mistake: a usage error.
	err = run(ctx, []string{"-nats", url, "-connect-timeout", "2s", "-user", "worker", "-password", "wrong"}, &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("wrong password: %v", err)
	}
	err = run(ctx, []string{"-tlscert", "client.pem"}, &syncBuffer{}, &syncBuffer{})
	if _, ok := err.(usageError); !ok {
		t.Fatalf("-tlscert without -tlskey: %v (%T), want a usage error", err, err)
	}
}
