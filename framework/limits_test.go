package framework_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// peakCounter counts the handlers running at once and remembers the most.
type peakCounter struct{ running, peak atomic.Int64 }

func (p *peakCounter) enter() {
	n := p.running.Add(1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			return
		}
	}
}

func (p *peakCounter) leave() { p.running.Add(-1) }

// logSignal is a log writer that signals on every line containing match.
type logSignal struct {
	match string
	ch    chan<- struct{}
}

func (l logSignal) Write(p []byte) (int, error) {
	if strings.Contains(string(p), l.match) {
		select {
		case l.ch <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testsupport.WaitFor(t, timeout, what, cond)
}

// taskConsumerInfo reads the durable consumer of task name.
func taskConsumerInfo(ctx context.Context, c *framework.Client, name string) (*jetstream.ConsumerInfo, error) {
	cons, err := c.JetStream().Consumer(ctx, framework.TasksStream, "task-"+name)
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

// A one-slot worker whose task polls Wait with a short timeout while slow calls are queued
// runs at most two calls at once: the slot, and one lent while the poller is blocked. Each
// poll lends the slot again, but the poller continues only once it has a slot back, so polls
// do not pile up runners.
func TestSlotLendingIsBounded(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)

	const slowCalls = 8
	var p peakCounter
	var slowDone atomic.Int64
	slow := framework.NewTask("bound_slow", func(ctx context.Context, i int) (int, error) {
		p.enter()
		defer p.leave()
		select {
		case <-time.After(50 * time.Millisecond): // the work
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		slowDone.Add(1)
		return i, nil
	})
	polling := make(chan struct{})
	poll := framework.NewTask("bound_poll", func(ctx context.Context, _ int) (int, error) {
		p.enter()
		defer p.leave()
		never := futures.NewPromise[int]("bound.never") // a result that does not come
		fs := []*futures.Future[int]{never.Future()}
		polls := 0
		for slowDone.Load() < slowCalls && ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			_, _, _ = futures.Wait(pctx, fs, 1)
			cancel()
			if polls++; polls == 1 {
				close(polling)
			}
		}
		return polls, nil
	})
	runWorker(t, newWorker(t, c, []framework.WorkerOption{framework.WithConcurrency(1)}, slow, poll))

	pf := poll.Remote(ctx, c, 0)
	recv(t, polling, 30*time.Second, "the poller's first poll")
	fs := make([]*futures.Future[int], slowCalls)
	for i := range fs {
		fs[i] = slow.Remote(ctx, c, i)
	}
	if _, err := futures.Gather(ctx, fs...); err != nil {
		t.Fatalf("slow calls: %v", err)
	}
	polls, err := pf.Await(ctx)
	if err != nil {
		t.Fatalf("poller: %v", err)
	}
	if got := p.peak.Load(); got > 2 {
		t.Errorf("%d task calls ran at once on a one-slot worker (%d polls); want at most 2 (the slot and one lent to the blocked poller)", got, polls)
	}
	t.Logf("peak %d calls at once over %d polls", p.peak.Load(), polls)
}

// Nested waits deeper than the slots still complete: every blocked level lends its slot.
func TestSlotLendingNestedChain(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)
	var p peakCounter
	var chain *framework.Task[int, int]
	chain = framework.NewTask("bound_chain", func(ctx context.Context, depth int) (int, error) {
		p.enter()
		defer p.leave()
		if depth == 0 {
			return 0, nil
		}
		v, err := chain.Remote(ctx, framework.ClientFromContext(ctx), depth-1).Await(ctx)
		return v + 1, err
	})
	runWorker(t, newWorker(t, c, []framework.WorkerOption{framework.WithConcurrency(1)}, chain))
	if v, err := chain.Remote(ctx, c, 6).Await(ctx); err != nil || v != 6 {
		t.Fatalf("chain of 7 on one slot = %d, %v; want 6", v, err)
	}
}

// fourSecondTask returns a task that works for 4 s and returns its input, counting its runs.
func fourSecondTask(name string, runs *atomic.Int64) *framework.Task[int, int] {
	return framework.NewTask(name, func(ctx context.Context, i int) (int, error) {
		runs.Add(1)
		select {
		case <-time.After(4 * time.Second): // the work
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return i, nil
	})
}

// The heartbeat follows the AckWait of the consumer, not the worker's own setting: two workers
// with AckWait 1 s and 10 s serve one task; the consumer keeps the AckWait of the worker that
// created it; the other worker leaves, and a 4 s call on the remaining one runs once.
func TestHeartbeatFollowsConsumerAckWait(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	for _, tc := range []struct {
		name        string
		first, last time.Duration // the last worker stops before the call
	}{
		{name: "ackwait_long_first", first: 10 * time.Second, last: time.Second},
		{name: "ackwait_short_first", first: time.Second, last: 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			var runs atomic.Int64
			long := fourSecondTask(tc.name, &runs)
			waiting := func(n int) func() bool {
				return func() bool {
					info, err := taskConsumerInfo(ctx, c, tc.name)
					return err == nil && info.NumWaiting >= n
				}
			}
			runWorker(t, newWorker(t, c, []framework.WorkerOption{framework.WithAckWait(tc.first)}, long))
			waitFor(t, 10*time.Second, "the first worker's pull", waiting(1))
			last := runWorker(t, newWorker(t, c, []framework.WorkerOption{framework.WithAckWait(tc.last)}, long))
			waitFor(t, 10*time.Second, "the second worker's pull", waiting(2))
			info, err := taskConsumerInfo(ctx, c, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Config.AckWait != tc.first {
				t.Errorf("consumer AckWait = %v after a worker with %v joined; want %v, its creator's", info.Config.AckWait, tc.last, tc.first)
			}
			if err := last.stop(t, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			if v, err := long.Remote(ctx, c, 7).Await(ctx); err != nil || v != 7 {
				t.Fatalf("4 s call = %d, %v", v, err)
			}
			if n := runs.Load(); n != 1 {
				t.Errorf("a 4 s call ran %d times; want once (the worker heartbeats at a third of the consumer's AckWait)", n)
			}
		})
	}
}

// A call handed back at shutdown before it ran does not use an attempt: a MaxRetries(0) call
// prefetched by a worker that stops runs on the next worker, with Call.Attempt 1.
func TestHandBackIsNoAttempt(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)

	gate := make(chan struct{})
	started := make(chan int, 8)
	var mu sync.Mutex
	attempts := map[int][]int{} // input -> Call.Attempt of each run
	task := framework.NewTask("handback_once", func(ctx context.Context, i int) (int, error) {
		mu.Lock()
		attempts[i] = append(attempts[i], framework.CallFromContext(ctx).Attempt)
		mu.Unlock()
		started <- i
		if i == 0 {
			<-gate // holds the only slot until the worker is stopping
		}
		return 10 * i, nil
	}, framework.MaxRetries(0))
	opts := []framework.WorkerOption{framework.WithConcurrency(1)}
	first := runWorker(t, newWorker(t, c, opts, task))

	a := task.Remote(ctx, c, 0)
	if i := recv(t, started, 30*time.Second, "the first call"); i != 0 {
		t.Fatalf("call %d started first", i)
	}
	b, cc := task.Remote(ctx, c, 1), task.Remote(ctx, c, 2) // b waits in the queue, cc in the callback
	waitFor(t, 10*time.Second, "all three calls delivered to the first worker", func() bool {
		info, err := taskConsumerInfo(ctx, c, task.Name())
		return err == nil && info.NumAckPending == 3
	})

	stopped := make(chan error, 1)
	go func() { stopped <- first.stop(t, 30*time.Second) }()
	// cc is handed back as soon as the worker stops taking calls; the hand-backs bucket says
	// when (without it, as before hand-backs were recorded, the test goes on after 5 s).
	testsupport.Poll(5*time.Second, func() bool {
		kv, err := c.JetStream().KeyValue(ctx, "jetray_handbacks")
		if err != nil {
			return false
		}
		_, err = kv.Get(ctx, cc.ID())
		return err == nil
	})
	close(gate) // the running call finishes; b, still queued, is handed back
	if err := recv(t, stopped, 40*time.Second, "the first worker to stop"); err != nil {
		t.Fatalf("first worker: %v", err)
	}
	mu.Lock()
	if len(attempts[1])+len(attempts[2]) != 0 {
		t.Fatalf("queued calls ran on the stopping worker: %v", attempts)
	}
	mu.Unlock()

	runWorker(t, newWorker(t, c, opts, task))
	vals, err := futures.Gather(ctx, a, b, cc)
	if err != nil {
		var te *framework.TaskError
		if errors.As(err, &te) {
			t.Fatalf("after a hand-back: %v (kind %s, attempts %d)", err, te.Kind, te.Attempts)
		}
		t.Fatal(err)
	}
	if vals[0] != 0 || vals[1] != 10 || vals[2] != 20 {
		t.Errorf("values %v", vals)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range 3 {
		if got := attempts[i]; len(got) != 1 || got[0] != 1 {
			t.Errorf("call %d ran with attempts %v; want one run, attempt 1", i, got)
		}
	}
}

// An operator who shortens a consumer's AckWait while workers run is followed at the next
// refresh: a 4 s call started after the change runs once.
func TestHeartbeatFollowsAckWaitChange(t *testing.T) {
	t.Cleanup(framework.SetAckWaitRefresh(100 * time.Millisecond)) // after the worker stops
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)
	var runs atomic.Int64
	long := fourSecondTask("ackwait_edited", &runs)
	followed := make(chan struct{}, 16)
	logs := zerolog.New(logSignal{"heartbeat period follows", followed}).Level(zerolog.DebugLevel)
	opts := []framework.WorkerOption{framework.WithAckWait(9 * time.Second), framework.WithWorkerLogger(logs)}
	runWorker(t, newWorker(t, c, opts, long))
	waitFor(t, 10*time.Second, "the worker's pull", func() bool {
		info, err := taskConsumerInfo(ctx, c, long.Name())
		return err == nil && info.NumWaiting >= 1
	})
	cons, err := c.JetStream().Consumer(ctx, framework.TasksStream, "task-"+long.Name())
	if err != nil {
		t.Fatal(err)
	}
	cfg := cons.CachedInfo().Config
	cfg.AckWait = time.Second
	if _, err := c.JetStream().UpdateConsumer(ctx, framework.TasksStream, cfg); err != nil {
		t.Fatalf("edit the consumer: %v", err)
	}
	recv(t, followed, 10*time.Second, "the worker to follow the new AckWait")
	if v, err := long.Remote(ctx, c, 3).Await(ctx); err != nil || v != 3 {
		t.Fatalf("4 s call = %d, %v", v, err)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("a 4 s call ran %d times after the consumer's AckWait went down to 1 s; want once", n)
	}
}
