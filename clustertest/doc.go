// Package clustertest runs jetray on a real three-node NATS cluster: three nats-server
// processes on loopback, streams at R3, and a stream leader killed with SIGKILL while work is
// outstanding. It holds tests only; they are skipped with -short. JETRAY_NATS_SERVER names the
// nats-server binary to run (make test sets it); without it the tests build one.
package clustertest
