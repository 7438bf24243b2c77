// Package faulttest holds jetray's fault-tolerance tests: worker processes killed with
// SIGKILL, a nats-server killed and restarted on its store, a driver submitting far faster
// than workers consume, and a worker stopped with SIGTERM while it holds queued calls. The
// tests run real nats-server and cmd/worker processes (built once per test binary run, with
// the race detector when the test binary has it) and are skipped with -short. The package
// has no API; docs/reliability.md states the guarantees these tests check.
package faulttest
