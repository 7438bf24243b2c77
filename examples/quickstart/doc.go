// Quickstart is the "Quick start in Go" program of the README, kept here so that its tests
// compile and run it: tasks, futures and an actor on a NATS server embedded in the process.
// It prints what the comments beside its Println calls say, and needs no running server.
//
//	go run ./examples/quickstart
//
// main.go must stay identical to the README's Go block (TestReadmeQuickStart): change both.
package main
