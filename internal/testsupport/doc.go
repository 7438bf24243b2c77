// Package testsupport is jetray's test harness, written once for every package whose tests
// run real processes or several clients: it builds the programs the tests run (once per test
// binary, with the race detector when the test binary has it), starts nats-server and worker
// processes and waits until they are ready, keeps their output in buffers safe to read while
// they write, stops and suspends them with signals, puts TCP proxies in front of servers,
// picks free ports, connects clients with retries, runs in-process workers and commands in the
// background until the test ends, and waits for conditions with a deadline instead of
// sleeping.
//
// Every helper fails the test through t on a setup error and registers its own cleanup with
// t.Cleanup; a package that builds programs calls Main (or RemoveBinaries) from its TestMain
// so that the build directory is removed. The package starts no goroutine that outlives the
// cleanups, so packages checked with goleak can use it.
package testsupport
