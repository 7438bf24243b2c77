package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/testsupport"
)

// testCtx returns a context that ends after two minutes or with the test.
func testCtx(t *testing.T) context.Context { return testsupport.Context(t, 2*time.Minute) }

// demoEnv starts an embedded server with an in-process worker serving the demo catalog.
func demoEnv(t *testing.T) *frameworktest.Env {
	t.Helper()
	return frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithWorkerName("test-worker")}, demo.Catalog()...)
}

// runDriver runs the driver's command line in-process and returns what it printed and the
// exit status main would use.
func runDriver(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(testCtx(t), args, &out, &errb)
	code = exitCode(err, &errb)
	return out.String(), errb.String(), code
}
