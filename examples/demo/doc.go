// Package demo is a small catalog of tasks for trying jetray out: the worker binary
// (cmd/worker) serves it, and the driver binary (cmd/driver) calls it by name.
//
// The tasks and their JSON wire forms:
//
//	some_task  null              -> 1
//	noop       any               -> {}
//	echo       any               -> the input, unchanged
//	add        {"a":1,"b":2}     -> 3
//	sleep      {"ms":100}        -> 100 (stops early with an error when the call is cancelled)
//	fail       {"message":"x"}   -> a task error with message "x"
//	panic      any               -> a task error of kind "panic" with the worker's stack
//
// Serve them with a worker:
//
//	w := framework.NewWorker(c)
//	if err := w.Register(demo.Catalog()...); err != nil { ... }
package demo
