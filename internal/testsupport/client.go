package testsupport

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/nats-io/nats-server/v2/server"
)

// Connect connects a client to url (one URL or a comma-separated list) with opts, retrying
// for up to a minute while the server or cluster starts: each attempt gets 10 s, since
// JetStream calls made before a cluster has a meta leader hang until their context ends.
// t.Cleanup closes the client.
func Connect(t testing.TB, url string, opts ...framework.Option) *framework.Client {
	t.Helper()
	var c *framework.Client
	var err error
	Poll(time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err = framework.Connect(ctx, url, opts...); err != nil {
			t.Logf("connect %s: %v (retrying)", url, err)
		}
		return err == nil
	})
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ConnectAs connects to url with a's credentials, as Connect does, with more options.
func ConnectAs(t testing.TB, url string, a framework.Auth, opts ...framework.Option) *framework.Client {
	t.Helper()
	aopts, err := a.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	return Connect(t, url, append(aopts, opts...)...)
}

// Embedded starts an in-process NATS server as framework.StartEmbedded does; t.Cleanup shuts
// it down.
func Embedded(t testing.TB, cfg framework.EmbeddedConfig) *framework.EmbeddedServer {
	t.Helper()
	srv, err := framework.StartEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// EmbeddedFromFile starts an in-process NATS server configured by the nats-server
// configuration file at path (such as testdata/nats/roles.conf); t.Cleanup shuts it down.
func EmbeddedFromFile(t testing.TB, path string) *framework.EmbeddedServer {
	t.Helper()
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Embedded(t, framework.EmbeddedConfig{Options: opts})
}

// Run runs a program to completion (for up to a minute), in the environment Start gives, and
// returns its output and exit status; it fails the test if the program cannot run.
func Run(t testing.TB, path string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = &out, &errb, processEnv()
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run %s %q: %v", path, args, err)
	}
	return out.String(), errb.String(), code
}

// ActorRecord reads actor id's record (actors.Describe), failing the test on an error.
func ActorRecord(t testing.TB, ctx context.Context, c *framework.Client, id string) actors.Record {
	t.Helper()
	r, err := actors.Describe(ctx, c, id)
	if err != nil {
		t.Fatal(err)
	}
	return *r
}
