// Package chaostest is jetray's fault-injection run (make chaos): a real nats-server, three
// worker processes (chaostest/chaosworker) each behind its own TCP proxy, and a driver in
// the test process that submits tasks, plain and async actor calls and Put references while
// a seeded schedule of faults hits the processes (SIGKILL, SIGSTOP, SIGTERM, network cuts,
// a broker kill). TestChaos then checks the invariants docs/reliability.md ("Chaos run")
// lists. This file holds what the driver and the workers share: the tasks, the actor classes
// and the reports they return.
package chaostest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

const (
	// Slots is the task slots (WithConcurrency) of every chaos worker.
	Slots = 2
	// AsyncMaxConcurrency is ChaosAsync's max_concurrency.
	AsyncMaxConcurrency = 4
	// TaskRetries is the MaxRetries of chaos_task and chaos_ref: the default, so a call may
	// fail as lost once that many + 1 runs were interrupted.
	TaskRetries = 3
)

// WorkerName is this process's worker name; chaosworker sets it from its flag.
var WorkerName = "driver"

// Report is what a task tells about the worker that ran it.
type Report struct {
	Worker  string `json:"worker"`
	Pid     int    `json:"pid"`
	Running int    `json:"running"` // task handlers running (blocked ones included) when it ended
	Peak    int    `json:"peak"`    // the most task handlers ever running and not blocked at once
	Slots   int    `json:"slots"`
}

// TaskIn is chaos_task's input.
type TaskIn struct {
	Seq     int `json:"seq"`
	SleepMs int `json:"sleep_ms"`
}

// TaskOut is chaos_task's result: its input echoed and the worker's slot report.
type TaskOut struct {
	Seq    int    `json:"seq"`
	Report Report `json:"report"`
}

// RefIn is chaos_ref's input: a reference to a value stored with Put.
type RefIn struct {
	Seq     int                  `json:"seq"`
	Ref     *futures.Future[int] `json:"ref"`
	SleepMs int                  `json:"sleep_ms"`
}

// RefOut is chaos_ref's result: the referenced value, and its child call's sequence.
type RefOut struct {
	Seq      int    `json:"seq"`
	Value    int    `json:"value"`
	ChildSeq int    `json:"child_seq"`
	Report   Report `json:"report"`
}

// slots counts this process's running task handlers and those blocked awaiting other work.
// A worker may run Slots calls plus one lent slot per call blocked waiting, so running -
// blocked never exceeds Slots. The counters move inside the handlers: a handler counts as
// running from just after the worker started it to just before it returns, and as blocked
// from just before it waits to just after its wait returned, so they can only under-count
// what the worker runs.
var slots struct {
	mu                   sync.Mutex
	running, blocked, pk int
}

func slotsEnter() func() {
	slots.mu.Lock()
	slots.running++
	slots.pk = max(slots.pk, slots.running-slots.blocked)
	slots.mu.Unlock()
	return func() {
		slots.mu.Lock()
		slots.running--
		slots.mu.Unlock()
	}
}

func slotsBlock() func() {
	slots.mu.Lock()
	slots.blocked++
	slots.mu.Unlock()
	return func() {
		slots.mu.Lock()
		slots.blocked--
		slots.pk = max(slots.pk, slots.running-slots.blocked)
		slots.mu.Unlock()
	}
}

func report() Report {
	slots.mu.Lock()
	defer slots.mu.Unlock()
	return Report{Worker: WorkerName, Pid: os.Getpid(), Running: slots.running, Peak: slots.pk, Slots: Slots}
}

// pause sleeps ms milliseconds (the work a handler simulates) or until ctx ends.
func pause(ctx context.Context, ms int) error {
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ChaosTask echoes its input after SleepMs, with the worker's slot report.
var ChaosTask = framework.NewTask("chaos_task", func(ctx context.Context, in TaskIn) (TaskOut, error) {
	defer slotsEnter()()
	if err := pause(ctx, in.SleepMs); err != nil {
		return TaskOut{}, err
	}
	return TaskOut{Seq: in.Seq, Report: report()}, nil
}, framework.MaxRetries(TaskRetries))

// ChaosRef reads the value its input references, then submits a chaos_task child and polls
// it with futures.Wait every 20 ms until it is done: each blocking wait lends the caller's
// slot, which must not let the worker run more than Slots unblocked calls.
var ChaosRef = framework.NewTask("chaos_ref", func(ctx context.Context, in RefIn) (RefOut, error) {
	defer slotsEnter()()
	v, err := blockOn(func() (int, error) { return in.Ref.Await(ctx) })
	if err != nil {
		return RefOut{}, fmt.Errorf("reference: %w", err)
	}
	c := framework.ClientFromContext(ctx)
	if c == nil {
		return RefOut{}, framework.Permanent(fmt.Errorf("no client in the call's context"))
	}
	child := ChaosTask.Remote(ctx, c, TaskIn{Seq: -in.Seq, SleepMs: in.SleepMs})
	for !child.Resolved() {
		_, _ = blockOn(func() (int, error) {
			wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			_, _, err := futures.Wait(wctx, []*futures.Future[TaskOut]{child}, 1)
			return 0, err
		})
		if ctx.Err() != nil {
			return RefOut{}, ctx.Err()
		}
	}
	out, err := child.Await(ctx)
	if err != nil {
		return RefOut{}, fmt.Errorf("child: %w", err)
	}
	return RefOut{Seq: in.Seq, Value: v, ChildSeq: out.Seq, Report: report()}, nil
}, framework.MaxRetries(TaskRetries))

func blockOn[T any](wait func() (T, error)) (T, error) {
	defer slotsBlock()()
	return wait()
}

// newInstance names an actor instance: random, so a rebuilt actor has another name.
func newInstance() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return WorkerName + "/" + hex.EncodeToString(b)
}

// Answer is what an actor method returns: which instance ran it, where and when.
type Answer struct {
	Instance string    `json:"instance"`
	Worker   string    `json:"worker"`
	Value    int       `json:"value,omitempty"` // ChaosCounter: the counter after the call
	Peak     int       `json:"peak"`            // the most calls this instance ran at once
	Start    time.Time `json:"start"`           // wall clock of the worker (same machine)
	End      time.Time `json:"end"`
}

// counter is ChaosCounter's state: an in-memory counter of the instance.
type counter struct {
	instance string
	n        int
	running  atomic.Int32
	peak     atomic.Int32
}

// asyncActor is ChaosAsync's state.
type asyncActor struct {
	instance string
	running  atomic.Int32
	peak     atomic.Int32
}

// enter counts a call running on an instance and records the peak.
func enter(running, peak *atomic.Int32) func() {
	n := running.Add(1)
	for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
	}
	return func() { running.Add(-1) }
}

var (
	// ChaosCounter is a plain actor (one call at a time) restarted without limit, whose
	// calls are retried without limit: no call to it may fail.
	ChaosCounter = actors.Define("ChaosCounter", func(ctx context.Context, start int) (*counter, error) {
		return &counter{instance: newInstance(), n: start}, nil
	}, actors.MaxRestarts(-1), actors.MaxTaskRetries(-1))
	// Incr adds by to the instance's counter and answers with the new value.
	Incr = actors.Method(ChaosCounter, "incr", func(c *counter, ctx context.Context, by int) (Answer, error) {
		start := time.Now()
		defer enter(&c.running, &c.peak)()
		c.n += by
		return Answer{Instance: c.instance, Worker: WorkerName, Value: c.n, Peak: int(c.peak.Load()), Start: start, End: time.Now()}, nil
	})

	// ChaosAsync is an async actor with max_concurrency AsyncMaxConcurrency, restarted and
	// retried without limit.
	ChaosAsync = actors.Define("ChaosAsync", func(ctx context.Context, _ int) (*asyncActor, error) {
		return &asyncActor{instance: newInstance()}, nil
	}, actors.MaxConcurrency(AsyncMaxConcurrency), actors.MaxRestarts(-1), actors.MaxTaskRetries(-1))
	// Work sleeps ms milliseconds and answers with the instance's peak concurrency.
	Work = actors.Method(ChaosAsync, "work", func(a *asyncActor, ctx context.Context, ms int) (Answer, error) {
		start := time.Now()
		done := enter(&a.running, &a.peak)
		err := pause(ctx, ms)
		done()
		if err != nil {
			return Answer{}, err
		}
		return Answer{Instance: a.instance, Worker: WorkerName, Peak: int(a.peak.Load()), Start: start, End: time.Now()}, nil
	})
)
