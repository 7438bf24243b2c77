// Package futures provides typed, single-assignment results for remote work:
// the Go counterpart of Ray ObjectRefs and asyncio futures.
//
// A [Future] is the read side of a result that resolves exactly once, either
// with a value or with an error. The runtime that performs the work holds the
// write side, a [Promise], and resolves it when the result arrives. A
// [Stream] is the read side of an ordered sequence of values produced
// remotely (a Ray streaming generator, an async iterator); its write side is
// a [StreamWriter].
//
// The Ray and asyncio operations map onto this package as follows:
//
//	ray.get(ref)                    f.Await(ctx)
//	ray.get([r1, r2, ...])          Gather(ctx, f1, f2, ...)
//	asyncio.gather(a, b, ...)       Gather(ctx, a, b, ...)
//	ray.wait(refs, num_returns=k)   Wait(ctx, fs, k)
//	asyncio.wait_for(x, timeout)    context.WithTimeout + Await
//	for x in generator_ref:         for v, err := range s.All(ctx)
//
// Timeouts and cancellation are expressed with [context.Context]: when the
// context ends, the waiting call returns ctx.Err(), but the remote work keeps
// running and the future can be awaited again later, as with Ray's
// ray.get(timeout=...) and asyncio.shield.
//
// Every Future and Stream has a Done channel that is closed when it
// completes, so it can be used in a select statement, and both satisfy
// [Awaitable], the element type accepted by [Wait].
//
// Values kept in a remote object store can be resolved with
// [Promise.ResolveLazy]: the future counts as done as soon as the value
// exists, so Wait and Done never download it; the first Await fetches it.
//
// All types are safe for concurrent use. The package depends only on the
// standard library.
package futures
