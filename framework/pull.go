// Task pulls: how the intake (intake.go, routes.go) takes calls from a task consumer. The
// worker sends its pull requests itself, rather than through nats.go's Consume, so that every
// call that reaches it is held (kept alive with progress reports, held.go) from that moment
// until its ack. With Consume, calls beyond the run queue waited in the client's buffer
// unheld; behind slow calls their AckWait ran out, and the broker delivered them again, which
// counted as attempts of calls that never started (docs/architecture.md, "Retries and
// attempts"). Owner: the intake starts a puller per consumer it serves; stopIntake stops them.
//
// Protocol. One subscription on <inbox>.* per consumer, and one pull request at a time,
// {"batch":B,"expires":30s,"idle_heartbeat":2s}, sent to
// $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> with the reply subject <inbox>.<request>. B is
// the room under WithPrefetch: the prefetch less the calls held and not yet in the run queue. A
// new request goes out once the last one is over (its batch delivered, or a status ended it)
// and the room is at least half the prefetch, so the calls taken and not yet queued never
// exceed the prefetch. Statuses come on the request's reply subject: 100 (idle heartbeat: the
// request lives), 408 (expired), 409 (leadership change, consumer deleted, limits), 503 (no
// consumer answered). After an error status the next request waits 1 s, doubling up to 30 s.
// A request not heard of for two heartbeats (its consumer leader gone, a broker restarted,
// the connection lost) is forgotten and replaced.

package framework

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jetray/jetray/internal/pullmsg"
	"github.com/nats-io/nats.go"
)

// Pull request settings.
const (
	taskPullExpires   = 30 * time.Second // a request waits this long on the server, then gets a 408
	taskPullHeartbeat = 2 * time.Second  // the server's idle heartbeat on a waiting request
	taskPullRetryMin  = time.Second      // first delay after an error status
	taskPullRetryMax  = 30 * time.Second
)

// taskPuller takes the calls of one task consumer for the worker and queues them on q.
type taskPuller struct {
	w        *Worker
	name     string // the task's name
	consumer string
	h        Handler
	q        chan *delivery
	prefetch int
	api      string // the consumer's MSG.NEXT subject
	inbox    string // <inbox>. : replies are <inbox>.<request number>
	sub      *nats.Subscription
	wake     chan struct{} // run looks at buf again
	stopCh   chan struct{}
	done     chan struct{} // closed when run has returned

	mu      sync.Mutex
	buf     []*delivery // held, waiting for room in the run queue, in arrival order
	req     uint64      // the request that may still deliver (0: none)
	next    uint64      // number of the last request sent
	left    int         // what req may still deliver
	heard   time.Time   // the last delivery or status of req (or when it was sent)
	retryAt time.Time   // no request before this, after an error status
	retry   time.Duration
	stopped bool
}

// startPuller starts taking the calls of consumer (of task name, handled by h) onto run
// queue q.
func (w *Worker) startPuller(name, consumer string, h Handler, q chan *delivery) (*taskPuller, error) {
	p := &taskPuller{
		w: w, name: name, consumer: consumer, h: h, q: q, prefetch: w.cfg.prefetch,
		api:   "$JS.API.CONSUMER.MSG.NEXT." + w.c.names.TasksStream() + "." + consumer,
		inbox: w.c.nc.NewInbox() + ".",
		wake:  make(chan struct{}, 1), stopCh: make(chan struct{}), done: make(chan struct{}),
	}
	sub, err := w.c.nc.Subscribe(p.inbox+"*", p.receive)
	if err != nil {
		return nil, fmt.Errorf("jetray: pull %s: %w", consumer, err)
	}
	p.sub = sub
	p.mu.Lock()
	p.pull(time.Now())
	p.mu.Unlock()
	go p.run()
	return p, nil
}

// receive takes what the broker sends on the inbox: a call is held at once and buffered for
// run; a status is about a request.
func (p *taskPuller) receive(m *nats.Msg) {
	if len(m.Data) == 0 && m.Header.Get("Status") != "" {
		p.status(m)
		return
	}
	d := &delivery{msg: &pullmsg.Msg{Raw: m, NC: p.w.c.nc}, h: p.h, name: p.name}
	p.w.hold(d)
	now := time.Now()
	p.mu.Lock()
	if p.req != 0 {
		p.heard = now
		if p.left--; p.left <= 0 {
			p.req = 0 // its batch is delivered: the server has forgotten it
		}
	}
	p.retry = 0
	if p.stopped {
		p.mu.Unlock()
		p.w.handBackUnstartedAsync(d)
		return
	}
	p.buf = append(p.buf, d)
	p.pull(now)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// status handles a status message about a request: one other than the current is ignored.
func (p *taskPuller) status(m *nats.Msg) {
	n, err := strconv.ParseUint(strings.TrimPrefix(m.Subject, p.inbox), 36, 64)
	code, desc := m.Header.Get("Status"), m.Header.Get("Description")
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil || p.req == 0 || n != p.req {
		return
	}
	now := time.Now()
	p.heard = now
	switch {
	case code == "100": // an idle heartbeat: the request lives
		return
	case code == "408": // expired
		p.retry = 0
	case code == "409" && strings.Contains(desc, "Leadership Change"):
	default: // 409 consumer deleted or limits, 503 no consumer answered, 400 a bad request
		p.failed(now, fmt.Errorf("%s %s", code, desc))
	}
	p.req = 0
	p.pull(now)
}

// pull sends a request for the room left, if no request may still deliver and the room is
// at least half the prefetch. While the connection is down it sends none (the client would
// buffer one every tick, and all of them would deliver after the reconnect): the next tick
// after the reconnect does. Called with p.mu held.
func (p *taskPuller) pull(now time.Time) {
	room := p.prefetch - len(p.buf)
	if p.stopped || p.req != 0 || now.Before(p.retryAt) || room < (p.prefetch+1)/2 || !p.w.c.nc.IsConnected() {
		return
	}
	n := p.next + 1
	body := fmt.Appendf(nil, `{"batch":%d,"expires":%d,"idle_heartbeat":%d}`,
		room, taskPullExpires.Nanoseconds(), taskPullHeartbeat.Nanoseconds())
	if err := p.w.c.nc.PublishRequest(p.api, p.inbox+strconv.FormatUint(n, 36), body); err != nil {
		p.failed(now, err)
		return
	}
	p.next, p.req, p.left, p.heard = n, n, room, now
}

// failed backs off after a request failed or was refused. Called with p.mu held.
func (p *taskPuller) failed(now time.Time, err error) {
	p.retry = min(max(p.retry*2, taskPullRetryMin), taskPullRetryMax)
	p.retryAt = now.Add(p.retry)
	p.w.log.Debug().Err(err).Str("task", p.name).Str("consumer", p.consumer).Dur("retry", p.retry).Msg("pull")
}

// tick replaces a request not heard of for two heartbeats, and pulls if due.
func (p *taskPuller) tick(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.req != 0 && now.Sub(p.heard) > 2*taskPullHeartbeat {
		p.w.log.Debug().Str("task", p.name).Str("consumer", p.consumer).Msg("pull request not heard of; pulling afresh")
		p.req = 0
	}
	p.pull(now)
}

// run moves buffered calls to the run queue, in arrival order, waiting while it is full, and
// ticks, until stop.
func (p *taskPuller) run() {
	defer close(p.done)
	t := time.NewTicker(taskPullHeartbeat)
	defer t.Stop()
	for {
		p.mu.Lock()
		var d *delivery
		if len(p.buf) > 0 {
			d = p.buf[0]
		}
		p.mu.Unlock()
		var q chan *delivery // nil when there is nothing to queue: that case never fires
		if d != nil {
			q = p.q
		}
		p.w.queueMu.RLock() // held while sending: the queues close under the write lock
		if p.w.queueClosed {
			p.w.queueMu.RUnlock()
			return
		}
		select {
		case q <- d:
			p.w.queueMu.RUnlock()
			p.mu.Lock()
			p.buf[0] = nil
			p.buf = p.buf[1:]
			p.pull(time.Now())
			p.mu.Unlock()
		case <-p.wake:
			p.w.queueMu.RUnlock()
		case now := <-t.C:
			p.w.queueMu.RUnlock()
			p.tick(now)
		case <-p.stopCh:
			p.w.queueMu.RUnlock()
			return
		case <-p.w.stopCh:
			p.w.queueMu.RUnlock()
			return
		}
	}
}

// stop sends no more requests, takes the calls still on their way (the subscription is
// drained, up to 5 s) and hands back every call not queued. Safe to call twice.
func (p *taskPuller) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	close(p.stopCh)
	<-p.done
	closed := p.sub.StatusChanged(nats.SubscriptionClosed)
	if err := p.sub.Drain(); err == nil {
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			_ = p.sub.Unsubscribe()
		}
	} else {
		_ = p.sub.Unsubscribe()
	}
	p.mu.Lock()
	buf := p.buf
	p.buf = nil
	p.mu.Unlock()
	for _, d := range buf {
		p.w.handBackUnstartedAsync(d)
	}
}
