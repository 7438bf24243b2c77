package seed

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/actors"
)

// CallDuration is how long run_task works: the seed's asyncio.sleep(1).
const CallDuration = time.Second

// Actor is the seed's AsyncActor. Its calls run on goroutines in parallel, so it keeps its
// counters in atomics; it writes "started" and "ended" lines to the writer its class was
// made with.
type Actor struct {
	out *syncWriter

	running atomic.Int64
	peak    atomic.Int64
	started atomic.Int64
	ended   atomic.Int64
	// startedAtFirstEnd is started as the first call ended; -1 until then.
	startedAtFirstEnd atomic.Int64
}

// Stats is what an Actor measured about its own calls.
type Stats struct {
	// Peak is the most run_task calls that ran at once.
	Peak int64 `json:"peak"`
	// Started and Ended count run_task calls that printed "started" and "ended".
	Started int64 `json:"started"`
	Ended   int64 `json:"ended"`
	// StartedBeforeFirstEnd is how many calls had started when the first one ended.
	StartedBeforeFirstEnd int64 `json:"started_before_first_end"`
}

// RunTask is run_task: print "started", wait CallDuration (returning early with ctx's error
// when the call is cancelled), print "ended".
func (a *Actor) RunTask(ctx context.Context, _ struct{}) (struct{}, error) {
	n := a.running.Add(1)
	defer a.running.Add(-1)
	for p := a.peak.Load(); n > p && !a.peak.CompareAndSwap(p, n); p = a.peak.Load() {
	}
	a.started.Add(1)
	a.out.line("started")
	t := time.NewTimer(CallDuration)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return struct{}{}, fmt.Errorf("run_task: %w", ctx.Err())
	}
	a.startedAtFirstEnd.CompareAndSwap(-1, a.started.Load())
	a.ended.Add(1)
	a.out.line("ended")
	return struct{}{}, nil
}

// Stats returns the actor's counters.
func (a *Actor) Stats(context.Context, struct{}) (Stats, error) {
	return Stats{Peak: a.peak.Load(), Started: a.started.Load(), Ended: a.ended.Load(),
		StartedBeforeFirstEnd: max(a.startedAtFirstEnd.Load(), 0)}, nil
}

// Class is the seed's actor class and its methods, bound to one writer. Make it with
// NewClass and serve it with worker.Register(cls.AsyncActor).
type Class struct {
	// AsyncActor is the class "AsyncActor": async, so max_concurrency defaults to 1000.
	AsyncActor *actors.Class[Actor, struct{}]
	// RunTask is the method "run_task".
	RunTask *actors.MethodDef[Actor, struct{}, struct{}]
	// Stats is the method "stats", the actor's instrumentation.
	Stats *actors.MethodDef[Actor, struct{}, Stats]

	out *syncWriter // shared by the actors and Scenario
}

// NewClass defines the class "AsyncActor" whose actors print to out. Writes are serialised,
// so out need not be safe for concurrent use. The writer lives in the worker's process: serve
// the class on a worker in the process that owns out.
func NewClass(out io.Writer) *Class {
	sw := &syncWriter{w: out}
	cls := &Class{out: sw, AsyncActor: actors.Define("AsyncActor", func(context.Context, struct{}) (*Actor, error) {
		a := &Actor{out: sw}
		a.startedAtFirstEnd.Store(-1)
		return a, nil
	}, actors.Async())}
	cls.RunTask = actors.Method(cls.AsyncActor, "run_task", (*Actor).RunTask)
	cls.Stats = actors.Method(cls.AsyncActor, "stats", (*Actor).Stats)
	return cls
}

// syncWriter serialises writes to one writer: the actor's calls and Run's reports all go
// through it.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) line(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = fmt.Fprintf(s.w, format+"\n", args...)
}
