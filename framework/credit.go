package framework

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// Stream windows: reader-driven backpressure for streaming calls (docs/architecture.md,
// "Stream windows"). The producer of a call with StreamWindow(n) counts the values it yields;
// when n of them may be unread it asks the caller's client for credit, a core NATS request on
// CreditSubject(call id). The caller's client answers with its stream's read count once the
// reader has read enough, holding the answer until then, but no longer than creditHold: a
// live reader always answers, so a producer that hears nothing for the grace knows the reader
// is gone, cut off or denied, and goes on.

const (
	// creditHold is how long a reader holds a credit request before it answers with its read
	// count so far (not enough yet: the producer asks again at once).
	creditHold = 2 * time.Second
	// creditPoll bounds one credit request: a lost message stalls the producer at most this
	// long. Above creditHold, so a live reader's answer comes first.
	creditPoll = 5 * time.Second
	// creditProbe is how long a producer in a task slot waits for a first answer before it
	// lends its slot (futures.Blocking) for the rest of the wait.
	creditProbe = 20 * time.Millisecond
	// creditEnd answers a request for a call whose stream will read no more values on that
	// client (the client is closing, or the stream was closed with its call still pending):
	// the producer's window is lifted.
	creditEnd = "end"

	// DefaultStreamReaderGrace is how long a producer blocked on its window waits for a
	// reader's client that does not answer at all ("no responders": closed, crashed,
	// partitioned, or without the subscribe permission) before it goes on without a bound
	// (WithStreamReaderGrace).
	DefaultStreamReaderGrace = 10 * time.Second
)

// creditKey is the client extension key of its creditServer.
type creditKey struct{}

// readSink is a sink that reports its reader's progress: a stream.
type readSink interface {
	notifyRead(n uint64, fn func(read uint64, end error))
	readCount() uint64
}

// creditServer answers the credit requests of this client's streaming calls: one core
// subscription on ClientCreditFilter and one goroutine answering requests held for
// creditHold, both made by the first call with a window and ended by Close.
type creditServer struct {
	c        *Client
	sub      *nats.Subscription
	requests atomic.Uint64 // credit requests taken, for tests
	stop     chan struct{} // closed by close: the sweeper ends
	stopped  chan struct{} // closed when the sweeper has ended

	mu     sync.Mutex
	held   map[string]heldCredit // call ID -> its newest unanswered request
	closed bool
}

type heldCredit struct {
	msg *nats.Msg
	rs  readSink
	at  time.Time
}

// credits makes sure this client answers credit requests, subscribing on first use. The
// subscription is sent before any call that needs it, on the same connection, so the server
// has it before the call can reach a worker.
func (c *Client) credits() error {
	_, err := c.extension(creditKey{}, func() (any, error) {
		cs := &creditServer{c: c, held: map[string]heldCredit{}, stop: make(chan struct{}), stopped: make(chan struct{})}
		sub, err := c.nc.Subscribe(c.names.ClientCreditFilter(c.id), cs.handle)
		if err != nil {
			return nil, fmt.Errorf("jetray: stream credit subscription: %w", err)
		}
		cs.sub = sub
		go cs.sweep()
		c.onClose(cs.close)
		return cs, nil
	})
	return err
}

// handle takes one credit request: its payload is the read count the producer waits for.
func (cs *creditServer) handle(m *nats.Msg) {
	id, ok := cs.c.names.CreditCallID(m.Subject)
	need, err := strconv.ParseUint(string(m.Data), 10, 64)
	if !ok || err != nil || m.Reply == "" {
		return // not a credit request: no answer
	}
	cs.requests.Add(1)
	var rs readSink
	cs.c.results.update(id, func(pc *pendingCall) { rs, _ = pc.sink.(readSink) })
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		_ = m.Respond([]byte(creditEnd))
		return
	}
	if rs == nil {
		// Not a pending stream of this client: cancelled (its producer's ctx ends at once),
		// answered (a stale attempt, which goes on after the grace), or not a stream at all.
		// An answer now could only race the cancellation.
		cs.mu.Unlock()
		return
	}
	cs.held[id] = heldCredit{msg: m, rs: rs, at: time.Now()}
	cs.mu.Unlock()
	rs.notifyRead(need, func(read uint64, end error) { cs.answer(id, m, read, end) })
}

// answer sends the held request m of call id its answer, once enough values are read or the
// stream ended. A request replaced by a newer one, or older than creditPoll (its producer
// asked again or stopped asking), gets none; neither does a cancelled call, whose producer
// learns it through its ctx.
func (cs *creditServer) answer(id string, m *nats.Msg, read uint64, end error) {
	cs.mu.Lock()
	h, ok := cs.held[id]
	if !ok || h.msg != m {
		cs.mu.Unlock()
		return
	}
	delete(cs.held, id)
	cs.mu.Unlock()
	switch {
	case time.Since(h.at) > creditPoll, errors.Is(end, ErrCancelled):
	case end == nil:
		_ = m.Respond(strconv.AppendUint(nil, read, 10))
	default:
		_ = m.Respond([]byte(creditEnd))
	}
}

// sweep answers, every creditHold/2, the requests held for creditHold or longer with the
// read count so far, until close.
func (cs *creditServer) sweep() {
	defer close(cs.stopped)
	t := time.NewTicker(creditHold / 2)
	defer t.Stop()
	for {
		select {
		case <-cs.stop:
			return
		case now := <-t.C:
			var due []heldCredit
			cs.mu.Lock()
			for id, h := range cs.held {
				if now.Sub(h.at) >= creditHold {
					due = append(due, h)
					delete(cs.held, id) // its notify, when it fires, finds nothing to answer
				}
			}
			cs.mu.Unlock()
			for _, h := range due {
				_ = h.msg.Respond(strconv.AppendUint(nil, h.rs.readCount(), 10))
			}
		}
	}
}

// close answers every held request with creditEnd and unsubscribes: the producers of a
// closing client's streams go on without a bound at once instead of waiting out the grace.
func (cs *creditServer) close() {
	close(cs.stop)
	<-cs.stopped
	cs.mu.Lock()
	cs.closed = true
	held := cs.held
	cs.held = map[string]heldCredit{}
	cs.mu.Unlock()
	_ = cs.sub.Unsubscribe()
	for _, h := range held {
		_ = h.msg.Respond([]byte(creditEnd))
	}
}

// creditGate holds the producer of one attempt of a streaming call to the call's window. It
// belongs to the call's yield, which is not called concurrently.
type creditGate struct {
	w      *Worker
	call   *Call
	window uint64
	known  uint64    // the reader's read count, as last answered
	free   bool      // the reader's client answered creditEnd: no bound for the rest of the attempt
	gone   bool      // no answer for the grace: no waiting until the reader answers again
	asked  time.Time // the last request
}

// newCreditGate returns the gate of call, or nil if it has no window.
func (w *Worker) newCreditGate(call *Call) *creditGate {
	opts, err := wire.DecodeCallOptions(call.Header)
	if err != nil || opts.StreamWindow <= 0 {
		return nil
	}
	return &creditGate{w: w, call: call, window: uint64(opts.StreamWindow)}
}

// wait returns once value k (0, 1, ...) may be yielded, that is once at most window-1 of the
// k values before it are unread, or with ctx's error. When it has to ask, it waits until a
// quarter of the window more is read, so a producer faster than its reader asks about once per
// window/4 values rather than once per value. A reader that answers nothing for the grace
// (no responders, or no answer at all) is taken as gone: wait lets a window through, and
// while the reader stays silent asks only once per creditPoll, briefly.
func (g *creditGate) wait(ctx context.Context, k uint64) error {
	if g.free || k < g.known+g.window {
		return nil
	}
	if g.gone && time.Since(g.asked) < creditPoll {
		g.known = k
		return nil
	}
	need := k - g.window + 1 + g.window/4 // at most k: values already yielded can meet it
	subject, data := g.w.c.names.CreditSubject(g.call.ID), strconv.AppendUint(nil, need, 10)
	grace := g.w.cfg.readerGrace
	if grace <= 0 {
		grace = DefaultStreamReaderGrace
	}
	var unblock func()
	defer func() {
		if unblock != nil {
			unblock()
		}
	}()
	var silentSince time.Time // the first request of this wait that got nothing
	pause := 50 * time.Millisecond
	for try := 0; ; try++ {
		timeout := creditPoll
		if try == 0 || g.gone {
			timeout = creditProbe
		} else if unblock == nil {
			unblock = futures.Blocking(ctx) // a slow reader: lend the task slot while waiting
		}
		g.asked = time.Now()
		rctx, cancel := context.WithTimeout(ctx, timeout)
		msg, err := g.w.c.nc.RequestWithContext(rctx, subject, data)
		cancel()
		if ctx.Err() != nil {
			return fmt.Errorf("jetray: stream value %d of %s: waiting for the reader: %w", k, g.call.Name, ctx.Err())
		}
		timedOut := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
		switch {
		case err == nil:
			g.gone, silentSince = false, time.Time{}
			read, perr := strconv.ParseUint(string(msg.Data), 10, 64)
			if perr != nil { // creditEnd, or not an answer of this protocol
				g.free = true
				return nil
			}
			g.known = max(g.known, read)
			if k < g.known+g.window {
				return nil
			}
			continue // the reader is there but has not read enough: ask again
		case errors.Is(err, nats.ErrConnectionClosed):
			return fmt.Errorf("jetray: stream value %d of %s: waiting for the reader: %w", k, g.call.Name, err)
		case timedOut && try == 0 && !g.gone:
			continue // the probe: the reader holds the answer until enough is read
		case timedOut, errors.Is(err, nats.ErrNoResponders):
			if silentSince.IsZero() {
				silentSince = g.asked // unanswered since it was sent
			}
			if g.gone || time.Since(silentSince) >= grace {
				if !g.gone {
					g.w.log.Warn().Str("task", g.call.Name).Str("task_id", g.call.ID).Dur("grace", grace).
						Msg("stream reader's client does not answer; yielding without a window until it does")
				}
				g.gone, g.known = true, k // a full window before asking again
				return nil
			}
			if timedOut {
				continue // waited already
			}
		}
		// No responders within the grace, or a broken connection: wait a little.
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("jetray: stream value %d of %s: waiting for the reader: %w", k, g.call.Name, ctx.Err())
		}
		pause = min(2*pause, time.Second)
	}
}
