package testsupport

import (
	"fmt"
	"testing"
	"time"
)

// WorkerRunning is the message of the log line a worker writes once it serves.
const WorkerRunning = `"message":"worker running"`

// StartWorker starts the cmd/worker binary named name on url, logging JSON, with more flags,
// and waits up to a minute for its "worker running" log line; t.Cleanup kills it.
func StartWorker(t testing.TB, url, name string, flags ...string) *Proc {
	t.Helper()
	return StartWorkerBinary(t, Worker(t), name, append([]string{"-nats", url, "-name", name, "-log-format", "json"}, flags...))
}

// StartWorkerBinary starts a worker program (cmd/worker or another built on the framework
// that logs JSON with the same worker-running line) with args, and waits up to a minute for
// the "worker running" line naming worker name; t.Cleanup kills it.
func StartWorkerBinary(t testing.TB, bin, name string, args []string, opts ...ProcOption) *Proc {
	t.Helper()
	w := Start(t, name, bin, args, opts...)
	w.WaitLine(t, time.Minute, RunningLine(name)...)
	return w
}

// RunningLine returns what the "worker running" line of worker name holds, for WaitLine or
// AwaitLine.
func RunningLine(name string) []string {
	return []string{WorkerRunning, fmt.Sprintf(`"worker":%q`, name)}
}
