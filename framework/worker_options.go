// Worker options: the configuration of a Worker, set once by NewWorker.

package framework

import (
	"fmt"
	"time"

	"github.com/jetray/jetray/internal/wire"
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
	noTaskEvents bool               // WithTaskEvents(false)
	readerGrace  time.Duration      // WithStreamReaderGrace; 0: DefaultStreamReaderGrace
	labels       map[string]string  // WithLabels
	resources    map[string]float64 // WithResources
	optErr       error              // the first invalid option; Register and Run return it
}

// WithConcurrency sets the task slots of the worker: how many task calls run at once.
// Default runtime.NumCPU(). Values below 1 mean 1. Actor calls do not use task slots.
func WithConcurrency(n int) WorkerOption {
	return func(c *workerConfig) { c.concurrency = max(n, 1) }
}

// WithPrefetch sets how many calls per task consumer the worker takes ahead of its slots:
// calls received and not yet in the run queue (of WithConcurrency places) never exceed it.
// Every call received is kept alive with progress reports from the moment it arrives, so
// however long it waits for a slot, its AckWait does not pass and it uses no attempt. Default
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

// WithLabels adds labels the worker advertises, such as {"gpu": "a100", "region": "eu"}:
// calls with a LabelSelector run only on workers whose labels include the selector. Keys are 1
// to 63 of A-Z a-z 0-9 _ - . /, values 0 to 63 of A-Z a-z 0-9 _ - .; an invalid one makes
// Register and Run fail with ErrInvalidName. Default: none.
func WithLabels(labels map[string]string) WorkerOption {
	return func(c *workerConfig) {
		for k, v := range labels {
			if err := wire.ValidLabelKey(k); err != nil {
				c.setErr(err)
				continue
			}
			if err := wire.ValidLabelValue(v); err != nil {
				c.setErr(err)
				continue
			}
			if c.labels == nil {
				c.labels = map[string]string{}
			}
			c.labels[k] = v
		}
	}
}

// WithResources adds resource capacities the worker advertises, such as {"gpu": 4, "memory":
// 64 << 30}: calls that need resources (Resources, NumGPUs, ...) run only on workers with at
// least that capacity, and a worker runs such calls (and hosts such actors) only while the sum
// of what they hold stays within its capacity. Names are 1 to 63 of A-Z a-z 0-9 _ - . /;
// amounts are at least 0, counted in thousandths. An invalid one makes Register and Run fail
// with ErrInvalidName. Default: none (calls that need no resources are bounded by
// WithConcurrency only).
func WithResources(capacity map[string]float64) WorkerOption {
	return func(c *workerConfig) {
		for k, v := range capacity {
			if err := wire.ValidLabelKey(k); err != nil {
				c.setErr(err)
				continue
			}
			if err := wire.ValidResourceAmount(k, v); err != nil {
				c.setErr(err)
				continue
			}
			if c.resources == nil {
				c.resources = map[string]float64{}
			}
			c.resources[k] = v
		}
	}
}

func (c *workerConfig) setErr(err error) {
	if c.optErr == nil {
		c.optErr = fmt.Errorf("jetray: worker option: %w", err)
	}
}
