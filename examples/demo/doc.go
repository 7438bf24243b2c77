// Package demo is a small catalog of tasks and actors for trying jetray out: the worker binary
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
//	counter_add {"counter":HANDLE,"by":2} -> the Counter's new value (calls incr from the task)
//
// And two actor classes:
//
//	Counter     constructor {"start":0}; incr {"by":1} -> the new value; get -> the value
//	AsyncActor  Ray's async actor (examples/asyncactor/seed): run_task prints "started",
//	            waits 1 s, prints "ended"; async, max_concurrency 1000 by default
//
// HANDLE is an actor handle as JSON: {"actor_id":"...","class":"Counter","max_concurrency":1}.
//
// Serve them with a worker:
//
//	w := framework.NewWorker(c)
//	if err := w.Register(demo.Catalog()...); err != nil { ... }
package demo
