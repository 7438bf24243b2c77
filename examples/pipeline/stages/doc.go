// Package stages is the data pipeline of examples/pipeline: a dataset stored once with
// framework.Put, a cleaning task chained to it with RemoteFrom, a fan-out of shard tasks that
// each receive the cleaned dataset as a future inside their input, a straggler shard cancelled
// once the others are done, and a streaming scan that reports its progress.
//
//	readings := Put(dataset)                              # ray.put
//	clean    := Clean.RemoteFrom(readings)                # clean.remote(readings_ref)
//	shards   := [SumShard.Remote({data: clean, shard: i}) for i in range(n)]
//	ready, rest := Wait(shards, n-1)                      # ray.wait(num_returns=n-1)
//	Cancel(rest...); backup := SumShard.Remote(...)       # ray.cancel, then a backup task
//	for p in Scan.Remote({data: clean}): print(p)         # a streaming generator
//
// The tasks are ordinary definitions a worker can serve (Clean, SumShard, Scan); Run plays the
// whole pipeline on a worker of its own and returns what happened, so tests can check it.
package stages
