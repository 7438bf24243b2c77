// Pulls: one pull loop per actor host for all its actors' consumers, instead of a nats.go
// Consume per actor (three goroutines, timers and a subscription each, about 18 KB, and pull
// heartbeats every 15 s). Owner: the host creates it on its first placement and closes it
// after its shutdown (host.run).
//
// Protocol. The host subscribes once to <inbox>.*.*. For each actor consumer it sends pull
// requests, {"batch":B,"expires":30-37.5s} with no idle heartbeat, to
// $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> with the reply subject
// <inbox>.<consumer token>.<request number>. The server delivers calls with the stream subject
// and an ack reply $JS.ACK.<stream>.<consumer>...., which names the consumer; status messages
// (408 when a request expires, 409 for a deleted consumer or a leadership change, 503 when no
// consumer answers) come on the request's reply subject, which names the request, so a late
// status of a request already forgotten changes nothing. A consumer is pulled again when what
// its requests may still deliver drops below half a batch, so an idle actor costs one request
// and one 408 every 30 to 37.5 s (each consumer's own expiry, so they spread out). Requests are dropped from the count when their status comes, or, as
// a backstop for a lost status, 10 s after they expired; after a reconnect every consumer is
// pulled afresh (a restarted broker forgot the waiting requests). Calls are acked with core
// publishes to their ack reply (+ACK, -NAK, +WPI, +TERM), as nats.go does.
//
// Serial consumers (plain actors) hand their calls over one at a time, in stream order, through
// a gate: a call is handed over only once every earlier call handed over has been settled (its
// ack, nak or term sent: for a call that ran, its ack follows its stored result), or if it is
// itself a redelivery of the earliest unsettled one. So with a Prefetch window, of the calls
// this host leaves unanswered when it dies, only the first can have started (docs/
// architecture.md, "Prefetch windows"). Calls waiting in the queue are kept alive with a
// progress report (+WPI) every keepAlive (a third of AckWait), from a timer armed only while
// some wait.
//
// Stopping a consumer (fence, kill, hand-over) sends no more requests, but a request already
// waiting on the server can still deliver until it expires or the consumer is deleted (the
// shared subscription keeps the interest alive): such a delivery is left unacked and counted
// (unserved), and the next placement, whose consumer starts at the ack floor, delivers the
// call again.

package actors

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/internal/pullmsg"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Pull request settings.
const (
	pullExpires  = 30 * time.Second // a request waits this long on the server, then gets a 408
	pullGrace    = 10 * time.Second // a request with no status this long after expiry is forgotten
	pullTick     = 5 * time.Second  // how often backstops and retries are looked at (a scan of all consumers)
	pullRetryMin = pullTick         // first retry delay after an error status
	pullRetryMax = 30 * time.Second
)

// puller pulls every actor consumer of one host over one inbox subscription.
type puller struct {
	nc        *nats.Conn
	api       string        // $JS.API.CONSUMER.MSG.NEXT.<stream>.
	inbox     string        // <inbox>. : replies are <inbox>.<token>.<request>
	keepAlive time.Duration // progress reports of calls waiting in a serial queue; 0: none
	log       zerolog.Logger
	sub       *nats.Subscription
	status    chan nats.Status
	lost      atomic.Pointer[lostFunc] // told of consumers that seem lost (lost.go)

	mu      sync.RWMutex
	byName  map[string]*pullSub // consumer name -> the consumer pulled under it
	byToken map[string]*pullSub
	tokens  uint64
	closed  bool

	stop chan struct{}
	done chan struct{}
}

// newPuller subscribes to a fresh inbox of nc and starts the loop that looks after expired
// requests, retries and reconnects. Calls waiting in a serial queue get a progress report
// every keepAlive (0: none). close stops it.
func newPuller(nc *nats.Conn, stream string, keepAlive time.Duration, log zerolog.Logger) (*puller, error) {
	p := &puller{nc: nc, api: "$JS.API.CONSUMER.MSG.NEXT." + stream + ".", inbox: nc.NewInbox() + ".", log: log, keepAlive: keepAlive,
		byName: map[string]*pullSub{}, byToken: map[string]*pullSub{}, stop: make(chan struct{}), done: make(chan struct{})}
	sub, err := nc.Subscribe(p.inbox+"*.*", p.route)
	if err != nil {
		return nil, fmt.Errorf("jetray: actor pulls: %w", err)
	}
	// Deliveries are bounded by the consumers' MaxAckPending and route never blocks: a limit
	// would only drop calls (each drop costs the call an attempt).
	_ = sub.SetPendingLimits(-1, -1)
	p.sub = sub
	p.status = nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING)
	go p.loop()
	return p, nil
}

// close stops the loop and unsubscribes; consumers still pulled get nothing more. Safe to
// call twice.
func (p *puller) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	_ = p.sub.Unsubscribe()
	p.nc.RemoveStatusListener(p.status)
}

// add starts pulling consumer in batches of batch messages; handle gets each delivered call,
// on the subscription's goroutine (it must not block) or, with serial, one at a time in
// stream order, through the serial gate, on a goroutine of the consumer's own that exists
// while calls may be handed over.
func (p *puller) add(consumer string, batch int, serial bool, handle func(jetstream.Msg)) (*pullSub, error) {
	s := &pullSub{p: p, consumer: consumer, batch: max(batch, 1), serial: serial, handle: handle,
		// Up to a quarter longer, so that consumers pulled together (after a reconnect) do
		// not all expire and pull again in the same instant every round.
		expires: pullExpires + rand.N(pullExpires/4)}
	s.body, _ = json.Marshal(struct {
		Batch   int           `json:"batch"`
		Expires time.Duration `json:"expires"`
	}{s.batch, s.expires})
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("jetray: actor pulls stopped")
	}
	p.tokens++
	s.token = strconv.FormatUint(p.tokens, 36)
	if old := p.byName[consumer]; old != nil {
		old.Stop()
		delete(p.byToken, old.token)
	}
	p.byName[consumer], p.byToken[s.token] = s, s
	p.mu.Unlock()
	s.mu.Lock()
	s.topUp(time.Now())
	s.mu.Unlock()
	return s, nil
}

// forget removes s once it is stopped and no request of it is left.
func (p *puller) forget(s *pullSub) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byToken[s.token] == s {
		delete(p.byToken, s.token)
	}
	if p.byName[s.consumer] == s {
		delete(p.byName, s.consumer)
	}
}

// route takes one message of the inbox: a status of a request, or a delivered call.
func (p *puller) route(m *nats.Msg) {
	if len(m.Data) == 0 && m.Header.Get("Status") != "" {
		token, req, ok := strings.Cut(strings.TrimPrefix(m.Subject, p.inbox), ".")
		n, err := strconv.ParseUint(req, 36, 64)
		p.mu.RLock()
		s := p.byToken[token]
		p.mu.RUnlock()
		if ok && err == nil && s != nil {
			s.status(n, m)
		}
		return
	}
	consumer := ackConsumer(m.Reply)
	p.mu.RLock()
	s := p.byName[consumer]
	p.mu.RUnlock()
	if s == nil {
		// A consumer this host no longer pulls (its requests outlived it): left unacked, the
		// broker redelivers it to whoever serves the actor.
		p.log.Debug().Str("consumer", consumer).Msg("delivery for a consumer no longer pulled")
		return
	}
	if seq, received, ok := s.track(m.Reply); ok {
		s.deliver(m, seq, received)
	}
}

// ackConsumer returns the consumer named in a JetStream ack reply:
// $JS.ACK.<stream>.<consumer>.<7 more> or $JS.ACK.<domain>.<account>.<stream>.<consumer>.<6 or more>.
func ackConsumer(reply string) string {
	t := strings.Split(reply, ".")
	switch {
	case len(t) == 9 && t[0] == "$JS" && t[1] == "ACK":
		return t[3]
	case len(t) >= 12 && t[0] == "$JS" && t[1] == "ACK":
		return t[5]
	}
	return ""
}

// loop forgets requests past their backstop and pulls consumers whose retry is due, every
// pullTick, and pulls every consumer afresh after a reconnect.
func (p *puller) loop() {
	defer close(p.done)
	t := time.NewTicker(pullTick)
	defer t.Stop()
	connected := true
	for {
		select {
		case <-p.stop:
			return
		case st := <-p.status:
			switch st {
			case nats.DISCONNECTED, nats.RECONNECTING:
				connected = false
			case nats.CONNECTED:
				if !connected {
					connected = true
					p.each(func(s *pullSub, now time.Time) { s.reset(now) })
				}
			}
		case <-t.C:
			if connected {
				p.each(func(s *pullSub, now time.Time) { s.tick(now) })
			}
		}
	}
}

// each calls fn for every consumer, with its lock held.
func (p *puller) each(fn func(s *pullSub, now time.Time)) {
	now := time.Now()
	var gone []*pullSub
	p.mu.RLock()
	for _, s := range p.byToken {
		s.mu.Lock()
		fn(s, now)
		if s.stopped && len(s.reqs) == 0 {
			gone = append(gone, s)
		}
		s.mu.Unlock()
	}
	p.mu.RUnlock()
	for _, s := range gone {
		p.forget(s)
	}
}

// pullSub is one actor consumer the puller pulls.
type pullSub struct {
	p        *puller
	consumer string
	token    string
	batch    int
	expires  time.Duration // of each request: pullExpires plus up to a quarter
	body     []byte        // the pull request
	serial   bool
	handle   func(jetstream.Msg)

	lossWatch // signs that the consumer is lost (lost.go); guarded by mu
	arrivals  // deliveries that reached this host, per call (arrivals.go); guarded by mu

	mu        sync.Mutex
	reqs      []pullReq // requests that may still deliver
	pending   int       // what they may still deliver, at most
	next      uint64    // number of the next request
	retryAt   time.Time // no request before this, after an error status
	retry     time.Duration
	stopped   bool
	unserved  int          // deliveries after Stop, left unacked
	queue     []*pulledMsg // serial: deliveries waiting, in stream order
	unsettled []uint64     // serial: stream sequences handed over and not yet settled
	running   bool         // serial: a goroutine is handing calls over
	beat      *time.Timer  // serial: progress reports of the queue; armed while calls wait
	beating   bool         // beat is armed
}

// pullReq is a pull request that may still deliver.
type pullReq struct {
	n        uint64
	batch    int
	deadline time.Time // forgotten then if no status came (expiry plus grace)
}

// Stop sends no more pull requests for the consumer and hands nothing more to its handler:
// deliveries waiting in the serial queue, and later ones, are left unacked (and no longer
// kept alive). Safe to call twice.
func (s *pullSub) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop()
}

// stop is Stop with s.mu held.
func (s *pullSub) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	s.unserved += len(s.queue)
	s.queue = nil
	if s.beat != nil {
		s.beat.Stop()
	}
	s.beating = false
}

// Unserved returns how many deliveries came after Stop and were left unacked (0 for nil).
func (s *pullSub) Unserved() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unserved
}

// topUp sends a pull request when what the outstanding ones may deliver is below half a
// batch. Called with s.mu held.
func (s *pullSub) topUp(now time.Time) {
	if s.stopped || now.Before(s.retryAt) || s.pending >= (s.batch+1)/2 {
		return
	}
	n := s.next
	s.next++
	reply := s.p.inbox + s.token + "." + strconv.FormatUint(n, 36)
	if err := s.p.nc.PublishRequest(s.p.api+s.consumer, reply, s.body); err != nil {
		s.failed(now, err)
		return
	}
	s.reqs = append(s.reqs, pullReq{n: n, batch: s.batch, deadline: now.Add(s.expires + pullGrace)})
	s.pending += s.batch
}

// failed backs off after a request failed or was refused. Called with s.mu held.
func (s *pullSub) failed(now time.Time, err error) {
	s.retry = min(max(s.retry*2, pullRetryMin), pullRetryMax)
	s.retryAt = now.Add(s.retry)
	s.p.log.Debug().Err(err).Str("consumer", s.consumer).Dur("retry", s.retry).Msg("actor pull")
}

// drop forgets request i; left is what it could still have delivered (its batch if unknown).
// Called with s.mu held.
func (s *pullSub) drop(i, left int) {
	s.pending = max(s.pending-left, 0)
	s.reqs = append(s.reqs[:i], s.reqs[i+1:]...)
}

// tick forgets requests past their backstop and pulls if due. Called with s.mu held.
func (s *pullSub) tick(now time.Time) {
	for i := 0; i < len(s.reqs); {
		if now.After(s.reqs[i].deadline) {
			s.drop(i, s.reqs[i].batch)
			continue
		}
		i++
	}
	s.topUp(now)
}

// reset forgets every request (the broker lost them: a reconnect) and pulls afresh. Called
// with s.mu held.
func (s *pullSub) reset(now time.Time) {
	s.reqs, s.pending, s.retryAt, s.retry = s.reqs[:0], 0, time.Time{}, 0
	s.topUp(now)
}

// status handles a status message about request n.
func (s *pullSub) status(n uint64, m *nats.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := -1
	for j, r := range s.reqs {
		if r.n == n {
			i = j
		}
	}
	if i < 0 {
		return // a request already forgotten
	}
	code, desc := m.Header.Get("Status"), m.Header.Get("Description")
	left := s.reqs[i].batch
	if v, err := strconv.Atoi(m.Header.Get("Nats-Pending-Messages")); err == nil {
		left = v
	}
	now := time.Now()
	s.heard(code, desc, now)
	switch {
	case code == "100": // an idle heartbeat (not asked for): the request lives
		return
	case code == "408": // expired (or the interest went)
		s.drop(i, left)
	case code == "409" && (strings.Contains(desc, "Consumer Deleted") || strings.Contains(desc, "push based")):
		// The placement is gone: whoever deleted the consumer fenced this host.
		s.drop(i, left)
		s.stop()
		s.p.log.Debug().Str("consumer", s.consumer).Str("status", desc).Msg("actor consumer gone")
		return
	case code == "409" || code == "404": // leadership change, server shutdown, limits
		s.drop(i, left)
		if !strings.Contains(desc, "Leadership Change") {
			s.failed(now, fmt.Errorf("%s %s", code, desc))
		}
	default: // 503: no consumer answered (a broker starting up), 400: a bad request
		s.drop(i, left)
		s.failed(now, fmt.Errorf("%s %s", code, desc))
	}
	s.topUp(now)
}

// deliver takes a delivered call (stream sequence seq, received: track's count): handed to
// the handler (inline, or queued for the serial goroutine), or, after Stop, left unacked.
func (s *pullSub) deliver(m *nats.Msg, seq, received uint64) {
	s.mu.Lock()
	s.pending = max(s.pending-1, 0)
	s.retry = 0
	if s.stopped {
		s.unserved++
		s.mu.Unlock()
		return
	}
	s.topUp(time.Now())
	pm := &pulledMsg{Msg: pullmsg.Msg{Raw: m, NC: s.p.nc, Sub: s, Seq: seq}, received: received}
	if !s.serial {
		s.mu.Unlock()
		s.handle(pm)
		return
	}
	if md, err := m.Metadata(); err == nil {
		pm.MD, pm.Seq = md, md.Sequence.Stream
	}
	// In stream order: a redelivery of an earlier call goes before the later ones.
	i := len(s.queue)
	for i > 0 && s.queue[i-1].Seq > pm.Seq {
		i--
	}
	s.queue = slices.Insert(s.queue, i, pm)
	s.keepAlive()
	s.kick()
	s.mu.Unlock()
}

// kick starts the serial goroutine if none runs and a queued call may be handed over now.
// Called with s.mu held.
func (s *pullSub) kick() {
	if s.running || s.stopped || len(s.queue) == 0 || !s.open(s.queue[0].Seq) {
		return
	}
	s.running = true
	go s.drain()
}

// open reports whether the call at stream sequence seq may be handed over: every call handed
// over before it with a lower sequence has been settled. A redelivery of the earliest
// unsettled call itself passes (its first delivery may have been given up without an ack:
// a result that could not be stored leaves the call for redelivery). Called with s.mu held.
func (s *pullSub) open(seq uint64) bool {
	for _, u := range s.unsettled {
		if u < seq {
			return false
		}
	}
	return true
}

// Settled (pullmsg.Settler) notes that the call at stream sequence seq was acked, naked or terminated (any of
// its deliveries: the broker settles the message) and hands the next call over if it waits.
// final: acked or terminated, so it is not delivered again.
func (s *pullSub) Settled(seq uint64, final bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if final {
		s.settle(seq)
	}
	s.unsettled = slices.DeleteFunc(s.unsettled, func(u uint64) bool { return u == seq })
	s.kick()
}

// drain hands queued calls to the handler one at a time, in stream order, while the gate lets
// the first one through.
func (s *pullSub) drain() {
	for {
		s.mu.Lock()
		if s.stopped || len(s.queue) == 0 || !s.open(s.queue[0].Seq) {
			s.running = false
			s.mu.Unlock()
			return
		}
		m := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.unsettled = append(s.unsettled, m.Seq)
		s.mu.Unlock()
		s.handle(m)
	}
}

// keepAlive arms the progress reports of the queue, if calls wait and they are not armed.
// Called with s.mu held.
func (s *pullSub) keepAlive() {
	if s.p.keepAlive <= 0 || s.beating || s.stopped || len(s.queue) == 0 {
		return
	}
	s.beating = true
	if s.beat == nil {
		s.beat = time.AfterFunc(s.p.keepAlive, s.beatQueue)
		return
	}
	s.beat.Reset(s.p.keepAlive)
}

// beatQueue tells the broker that the calls waiting in the queue are in progress, so that
// AckWait does not pass for them while earlier calls run, and re-arms while calls wait.
func (s *pullSub) beatQueue() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beating = false
	if s.stopped {
		return
	}
	for _, m := range s.queue {
		_ = s.p.nc.Publish(m.Raw.Reply, ackProgress)
	}
	s.keepAlive()
}

// ackProgress is the body of a progress report.
var ackProgress = []byte("+WPI")

// pulledMsg is a call the puller received: a pullmsg.Msg whose settling tells its pullSub,
// with the count of its deliveries that reached this host (arrivals.go).
type pulledMsg struct {
	pullmsg.Msg
	received uint64 // deliveries of the call that reached this host, this one included (arrivals.go)
}
