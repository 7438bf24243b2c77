package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// sink is the typed receiving end of one call: it decodes a result into its future.
type sink interface {
	resolve(codec Codec, data []byte)
	// resolveObject resolves with a value kept in the object store, read on first Await, so
	// Wait and Done never download it.
	resolveObject(codec Codec, load func(ctx context.Context) ([]byte, error))
	fail(err error)
}

// promiseSink resolves a futures.Promise[T].
type promiseSink[T any] struct{ p *futures.Promise[T] }

func (s promiseSink[T]) resolve(codec Codec, data []byte) {
	var v T
	if err := codec.Unmarshal(data, &v); err != nil {
		s.p.Reject(fmt.Errorf("jetray: decode result of %s into %T: %w", s.p.Future().ID(), v, err))
		return
	}
	s.p.Resolve(v)
}

func (s promiseSink[T]) resolveObject(codec Codec, load func(ctx context.Context) ([]byte, error)) {
	id := s.p.Future().ID()
	s.p.ResolveLazy(func(ctx context.Context) (T, error) {
		var v T
		data, err := load(ctx)
		if err != nil {
			return v, err
		}
		if err := codec.Unmarshal(data, &v); err != nil {
			return v, fmt.Errorf("jetray: decode result of %s into %T: %w", id, v, err)
		}
		return v, nil
	})
}

func (s promiseSink[T]) fail(err error) { s.p.Reject(err) }

// pendingCall is a submitted call whose result has not arrived.
type pendingCall struct {
	sink     sink
	name     string
	msg      *nats.Msg // kept until the broker acknowledges the publish, to resubmit it
	tries    int
	failedAt time.Time // first publish failure
	sentAt   time.Time // first publish, when the client has metrics (Collector)
	// storeFailure: a failure to submit is also stored as the call's result (failCall), for
	// the later submissions of its idempotency key that wait for it.
	storeFailure bool
	startAt      time.Time // a delayed call: when it falls due (schedule_delay.go)
}

const pendingShards = 32

type pendingShard struct {
	mu    sync.Mutex
	calls map[string]*pendingCall
}

// resultRouter owns the client's single results subscription and its pending calls.
type resultRouter struct {
	c        *Client
	shards   [pendingShards]pendingShard
	cc       jetstream.ConsumeContext
	stream   jetstream.Stream
	consName string
}

func startResults(ctx context.Context, c *Client, s jetstream.Stream) (*resultRouter, error) {
	r := &resultRouter{c: c, stream: s}
	for i := range r.shards {
		r.shards[i].calls = make(map[string]*pendingCall)
	}
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	// Start after the stream's last message by sequence, not "new": an ordered consumer that
	// has seen nothing yet restarts with its start policy after a reconnect, and "new" would
	// then skip results stored while the client was away.
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("jetray: results stream info: %w", err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{c.names.ClientResultsFilter(c.id)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    info.State.LastSeq + 1,
		// Bounded: each reset retries one consumer name, and a name the cluster placed on a
		// node that has just died never answers (forever, by default). After 2 tries nats.go
		// falls back to the old consumer, fails, and resets again under a new name.
		MaxResetAttempts: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("jetray: results consumer: %w", err)
	}
	cc, err := cons.Consume(r.handle, jetstream.PullMaxMessages(2048),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			c.log.Debug().Err(err).Msg("results consumer")
		}))
	if err != nil {
		return nil, fmt.Errorf("jetray: results consume: %w", err)
	}
	r.cc = cc
	r.consName = cons.CachedInfo().Name
	return r, nil
}

func (r *resultRouter) shard(id string) *pendingShard {
	// FNV-1a over the tail: sequences differ in their last characters.
	h := uint32(2166136261)
	for i := max(0, len(id)-8); i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &r.shards[h%pendingShards]
}

func (r *resultRouter) add(id string, pc *pendingCall) {
	sh := r.shard(id)
	sh.mu.Lock()
	sh.calls[id] = pc
	sh.mu.Unlock()
}

func (r *resultRouter) take(id string) *pendingCall {
	sh := r.shard(id)
	sh.mu.Lock()
	pc := sh.calls[id]
	delete(sh.calls, id)
	sh.mu.Unlock()
	return pc
}

// update runs fn on id's pending call under its shard lock; false if none.
func (r *resultRouter) update(id string, fn func(*pendingCall)) bool {
	sh := r.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	pc, ok := sh.calls[id]
	if ok {
		fn(pc)
	}
	return ok
}

// Pending returns the number of calls of this client awaiting their results.
func (c *Client) Pending() int {
	n := 0
	for i := range c.results.shards {
		sh := &c.results.shards[i]
		sh.mu.Lock()
		n += len(sh.calls)
		sh.mu.Unlock()
	}
	return n
}

func (r *resultRouter) handle(m jetstream.Msg) {
	// <root>.result.<client id>.<seq> is a result; <root>.result.<client id>.<seq>.<k> is
	// item k of a stream.
	rest, item, ok := r.c.names.SplitResultSubject(m.Subject())
	if !ok {
		return
	}
	if item != "" {
		r.item(rest, item, m)
		return
	}
	pc := r.take(rest)
	if pc == nil {
		return // a duplicate, or a call this client no longer waits for
	}
	if pc.msg != nil && !pc.sentAt.IsZero() {
		// The result beat the publish ack: the call was stored by now, so count its submit
		// latency here (onPublishAck will no longer find it).
		if cm := r.c.metrics.Load(); cm != nil {
			cm.submit.Observe(time.Since(pc.sentAt).Seconds())
		}
	}
	deliverResult(r.c, pc.sink, rest, m.Headers(), m.Data())
}

// item hands stream item k of call id to its sink.
func (r *resultRouter) item(id, k string, m jetstream.Msg) {
	var s sink
	r.update(id, func(pc *pendingCall) { s = pc.sink })
	is, ok := s.(itemSink)
	if !ok {
		return
	}
	n, err := strconv.ParseUint(k, 10, 64)
	if err != nil {
		return
	}
	codec, err := r.c.codecs.lookup(m.Headers().Get(wire.HeaderCodec))
	if err != nil {
		is.fail(fmt.Errorf("jetray: stream %s: %w", id, err))
		return
	}
	is.item(n, codec, m.Data())
}

// deliverResult decodes a result message into s.
func deliverResult(c *Client, s sink, id string, hdr nats.Header, data []byte) {
	if hdr.Get(wire.HeaderStatus) == wire.StatusError {
		s.fail(decodeTaskError(id, data))
		return
	}
	codec, err := c.codecs.lookup(hdr.Get(wire.HeaderCodec))
	if err != nil {
		s.fail(fmt.Errorf("jetray: result of %s: %w", id, err))
		return
	}
	if name := hdr.Get(wire.HeaderObject); name != "" {
		s.resolveObject(codec, func(ctx context.Context) ([]byte, error) { return c.getObject(ctx, name) })
		return
	}
	s.resolve(codec, data)
}

func decodeTaskError(id string, data []byte) error {
	te := &TaskError{}
	if err := json.Unmarshal(data, te); err != nil {
		return &TaskError{TaskID: id, Kind: KindBadCall, Message: "undecodable error result: " + string(data)}
	}
	if te.TaskID == "" {
		te.TaskID = id
	}
	te.cause = decodeUserError(te.Code, te.Detail)
	return te
}

// stop ends the results subscription and deletes its consumer, so a closed client leaves
// nothing behind on the server (an ordered consumer would otherwise linger for 5 minutes).
func (r *resultRouter) stop() {
	if r.cc != nil {
		r.cc.Stop()
	}
	if r.consName != "" && r.c.nc.IsConnected() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = r.stream.DeleteConsumer(ctx, r.consName)
		cancel()
	}
}

func (r *resultRouter) failAll(err error) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		calls := sh.calls
		sh.calls = make(map[string]*pendingCall)
		sh.mu.Unlock()
		for _, pc := range calls {
			pc.sink.fail(err)
		}
	}
}

// fetchResult reads a stored result by call ID, for a process other than the caller.
// found is false when no result exists (yet, or any more after the TTL). A call's result is
// the first message of its result subject: the last one, which a direct get reads, is it
// unless a deadline schedule fired after the result was stored (deadline.go).
func (c *Client) fetchResult(ctx context.Context, id string) (hdr nats.Header, data []byte, found bool, err error) {
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	msg, err := c.lastResult(ctx, id)
	if err != nil || msg == nil {
		return nil, nil, false, err
	}
	if msg.Header.Get(wire.HeaderDeadline) != "" {
		hdr, data, err := c.firstResult(ctx, id)
		return hdr, data, err == nil, err
	}
	return msg.Header, msg.Data, true, nil
}

// lastResult reads the last message of call id's result subject by direct get; nil when there
// is none.
func (c *Client) lastResult(ctx context.Context, id string) (*jetstream.RawStreamMsg, error) {
	msg, err := c.results.stream.GetLastMsgForSubject(ctx, c.names.ResultSubject(id))
	if isNotFound(err) {
		return nil, nil
	}
	return msg, err
}

func isNotFound(err error) bool {
	return err != nil && (errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrKeyNotFound))
}

// resultsTTL is how long results are kept: the results stream's MaxAge as read at Connect
// (set by whoever created the stream), else this client's WithResultTTL. 0: forever.
func (c *Client) resultsTTL() time.Duration {
	if c.results != nil && c.results.stream != nil {
		if info := c.results.stream.CachedInfo(); info != nil {
			return info.Config.MaxAge
		}
	}
	return c.cfg.resultTTL
}

// publishFailure stores a failed result for call id (te.TaskID) as a worker would, so the
// call's future fails with te. Runtimes use it to answer calls they cannot run (calls to a
// dead actor). A call has one result: if one is already stored (for the results TTL), it wins,
// nothing is stored and PublishFailure returns nil. Errors: te does not encode, or the broker
// does not confirm the publish before ctx ends (or the client's request timeout, 10 s by
// default, when ctx has no deadline).
func (c *Client) publishFailure(ctx context.Context, te *TaskError) error {
	_, err := c.storeFailure(ctx, te, te.TaskID)
	return err
}

// storeFailure stores te as the result of call te.TaskID unless one is already stored.
// stored reports that the call's result is a message published with Nats-Msg-Id msgID: this
// one, or an earlier one the broker reports as a duplicate (in clustered streams the
// duplicate check can come before the one-result check), so msgID must name the publisher's
// intent (Cancel uses "<call id>.cancel").
func (c *Client) storeFailure(ctx context.Context, te *TaskError, msgID string) (stored bool, err error) {
	data, err := json.Marshal(te)
	if err != nil {
		return false, err
	}
	h := nats.Header{
		jetstream.MsgIDHeader: []string{msgID},
		wire.HeaderID:         []string{te.TaskID},
		wire.HeaderStatus:     []string{wire.StatusError},
	}
	onlyFirst(h)
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	_, err = c.js.PublishMsg(ctx, &nats.Msg{Subject: c.names.ResultSubject(te.TaskID), Data: data, Header: h})
	if alreadyAnswered(err) {
		return false, nil
	}
	return err == nil, err
}
