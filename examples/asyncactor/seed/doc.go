// Package seed is Ray's async actor example (doc/source/async_api.rst, "Async Actor") in
// jetray: an actor whose run_task method prints "started", waits a second and prints "ended".
//
//	@ray.remote
//	class AsyncActor:
//	    async def run_task(self):
//	        print("started")
//	        await asyncio.sleep(1)
//	        print("ended")
//
//	actor = AsyncActor.remote()
//	ray.get([actor.run_task.remote() for _ in range(50)])   # about 1 s: all 50 at once
//
//	actor = AsyncActor.options(max_concurrency=10).remote()
//	ray.get([actor.run_task.remote() for _ in range(50)])   # about 5 s: 10 at a time
//
// Run plays both scenarios on a worker it starts in this process; NewClass and
// Class.Scenario are the parts, for a program that serves the class on its own worker.
// The actor counts how many calls run at once (Stats), so the limit is measured rather
// than inferred from timing.
package seed
