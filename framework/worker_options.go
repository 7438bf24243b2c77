// Worker options: the configuration of a Worker, set once by NewWorker.

package framework

import (
	"time"

	"github.com/rs/zerolog"
)

// WorkerOption configures a Worker.
type WorkerOption func(*workerConfig)

type workerConfig struct {
	concurrency  int
	prefetch     int
	ackWait      time.Duration
	drainTimeout time.Duration
	name         string
	log          *zerolog.Logger
	metrics      *Metrics
	noTaskEvents bool          // WithTaskEvents(false)
	readerGrace  time.Duration // WithStreamReaderGrace; 0: DefaultStreamReaderGrace
}

// WithConcurrency sets the task slots of the worker: how many task calls run at once.
// Default runtime.NumCPU(). Values below 1 mean 1. Actor calls do not use task slots.
func WithConcurrency(n int) WorkerOption {
	return func(c *workerConfig) { c.concurrency = max(n, 1) }
}

// WithPrefetch sets how many calls per task name the worker asks the broker for at a time.
// Calls it has received wait in a queue of WithConcurrency places, kept alive with progress
// reports; calls beyond that wait in the client's buffer, where their AckWait runs. Default
// max(concurrency, 32): a larger prefetch raises throughput of short calls, a smaller one
// spreads long calls more evenly over workers. Values below 1 mean 1.
func WithPrefetch(n int) WorkerOption { return func(c *workerConfig) { c.prefetch = max(n, 1) } }

// WithAckWait sets how long the broker waits for a sign of life on a delivered call before
// giving it to another worker, for the task consumers this worker creates (a consumer that
// exists already keeps its AckWait, whoever set it). The worker sends progress for calls it
// holds every third of the smallest AckWait among this value and the consumers it serves, read
// from the broker at start and every 10 s, so long calls are fine. Default 6 s; minimum 1 s.
func WithAckWait(d time.Duration) WorkerOption {
	return func(c *workerConfig) { c.ackWait = max(d, time.Second) }
}

// WithDrainTimeout bounds how long Run waits, after its ctx ends, for running calls to
// finish; then their contexts are cancelled and they are handed back to the broker for
// another worker. Default 30 s.
func WithDrainTimeout(d time.Duration) WorkerOption {
	return func(c *workerConfig) { c.drainTimeout = d }
}

// WithWorkerName names the worker in logs, results and the registry. Default host.pid.
func WithWorkerName(name string) WorkerOption { return func(c *workerConfig) { c.name = name } }

// WithWorkerLogger sets the worker's logger. Default: the client's logger.
func WithWorkerLogger(l zerolog.Logger) WorkerOption { return func(c *workerConfig) { c.log = &l } }

// WithStreamReaderGrace sets how long a streaming producer blocked on its StreamWindow waits
// for a caller's client that does not answer at all (no responders: the client closed,
// crashed, is cut off, or lacks the subscribe permission) before it yields without the bound;
// it asks again a window later and keeps the bound once the client answers. Default
// DefaultStreamReaderGrace (10 s); values of 0 or below mean the default.
func WithStreamReaderGrace(d time.Duration) WorkerOption {
	return func(c *workerConfig) { c.readerGrace = d }
}
