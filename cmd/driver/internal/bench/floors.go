package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The floors: two more substrate rows, each the substrate with one thing jetray does that the
// plain substrate does not, so that a jetray row can be compared with the bare broker doing the
// same kind of work.
//
//   - kept message (one at a time): the work-queue stream also keeps one message on a subject
//     no consumer takes, so an ack that leaves no call in the stream does not empty its last
//     file block, which the server would delete and recreate for the next call. JETRAY_TASKS
//     does the same with its task keeper. The kept message is published again, rolling up the
//     one before, every keepEvery calls, so that it stays in the block being written: one
//     message kept for good works only until its block is full (see docs/benchmarks.md).
//   - durable reply (pipelined): the worker stores each reply in a limits stream (async publish,
//     acking the call once the reply is stored) and the driver reads replies back through an
//     ordered consumer, as jetray does with results: the floor for durable results.
const (
	keptStream  = "JETRAY_BENCH_KEPT"
	keptCalls   = "jetraybench.kept.calls"
	keptSubject = "jetraybench.kept.keep"
	keepEvery   = 1000

	durableStream  = "JETRAY_BENCH_DURABLE"
	durableCalls   = "jetraybench.durable.calls"
	repliesStream  = "JETRAY_BENCH_REPLIES"
	repliesPrefix  = "jetraybench.replies."
	repliesMaxAge  = 10 * time.Minute
	repliesPending = 1 << 16
)

// substrateKept runs the substrate one at a time on the kept-message stream.
func substrateKept(ctx context.Context, e *env) (measure, error) {
	s, err := substrateOf(ctx, e)
	if err != nil {
		return measure{}, err
	}
	if err := s.keptQueue(ctx); err != nil {
		return measure{}, err
	}
	return s.oneAtATime(ctx, e.p.Duration, keptCalls, s.keeper(keepEvery))
}

// keptQueue creates the kept-message stream and starts its worker once.
func (s *substrate) keptQueue(ctx context.Context) error {
	if s.kept {
		return nil
	}
	err := s.workQueue(ctx, jetstream.StreamConfig{
		Name:        keptStream,
		Subjects:    []string{keptCalls, keptSubject},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		AllowRollup: true,
	}, keptCalls, func(m jetstream.Msg) {
		_ = s.wrk.Publish(m.Headers().Get(substrateReply), substrateOK)
		_ = m.Ack()
	})
	s.kept = err == nil
	return err
}

// keeper returns what runs before each call to the kept-message stream: it publishes the kept
// message, rolling up the one before, before the first call and then before every every-th
// one; every 0 publishes it before the first call only (kept for good).
func (s *substrate) keeper(every int) func(context.Context) error {
	keep := &nats.Msg{Subject: keptSubject, Header: nats.Header{jetstream.MsgRollup: []string{jetstream.MsgRollupSubject}}}
	calls := 0
	return func(ctx context.Context) error {
		calls++
		if calls != 1 && (every == 0 || calls%every != 1) {
			return nil
		}
		_, err := s.js.PublishMsg(ctx, keep)
		return err
	}
}

// durableQueue is the durable-reply floor's worker side: its own JetStream handle, whose
// async acks ack the calls whose replies they confirm.
type durableQueue struct {
	js      jetstream.JetStream // worker side, storing replies
	replies jetstream.Stream
	owners  sync.Map // *nats.Msg (a reply being stored) -> jetstream.Msg (its call)
	runs    int      // runs so far: each reads the replies of a subject of its own
}

// durableOf creates the durable-reply streams and starts their worker once.
func (s *substrate) durableOf(ctx context.Context) (*durableQueue, error) {
	if s.durable != nil {
		return s.durable, nil
	}
	d := &durableQueue{}
	var err error
	d.js, err = jetstream.New(s.wrk, jetstream.WithPublishAsyncMaxPending(repliesPending),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
			if call, ok := d.owners.LoadAndDelete(m); ok {
				_ = call.(jetstream.Msg).Ack()
			}
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, _ error) {
			if call, ok := d.owners.LoadAndDelete(m); ok {
				_ = call.(jetstream.Msg).Nak()
			}
		}))
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = s.mgmt.DeleteStream(cctx, repliesStream) // left by an interrupted run
	if d.replies, err = s.mgmt.CreateStream(cctx, jetstream.StreamConfig{
		Name:      repliesStream,
		Subjects:  []string{repliesPrefix + ">"},
		Retention: jetstream.LimitsPolicy,
		Storage:   jetstream.FileStorage,
		MaxAge:    repliesMaxAge,
		Replicas:  s.replicas,
	}); err != nil {
		return nil, fmt.Errorf("substrate stream %s: %w", repliesStream, err)
	}
	s.streams = append(s.streams, repliesStream)
	err = s.workQueue(ctx, jetstream.StreamConfig{
		Name:      durableStream,
		Subjects:  []string{durableCalls},
		Retention: jetstream.WorkQueuePolicy,
		Storage:   jetstream.FileStorage,
	}, "", func(m jetstream.Msg) {
		reply := &nats.Msg{Subject: m.Headers().Get(substrateReply), Data: substrateOK}
		d.owners.Store(reply, m)
		for {
			_, err := d.js.PublishMsgAsync(reply)
			if err == nil {
				return
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				d.owners.Delete(reply)
				_ = m.Nak()
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	s.durable = d
	return d, nil
}

// substrateDurable runs the substrate pipelined with durable replies: each run reads its
// replies from a subject of its own through an ordered consumer.
func substrateDurable(ctx context.Context, e *env) (measure, error) {
	s, err := substrateOf(ctx, e)
	if err != nil {
		return measure{}, err
	}
	d, err := s.durableOf(ctx)
	if err != nil {
		return measure{}, err
	}
	d.runs++
	reply := repliesPrefix + strconv.Itoa(d.runs)
	cons, err := d.replies.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{reply}})
	if err != nil {
		return measure{}, fmt.Errorf("substrate replies consumer: %w", err)
	}
	slots := make(chan struct{}, e.p.Window)
	cc, err := cons.Consume(func(jetstream.Msg) { <-slots }, jetstream.PullMaxMessages(2048))
	if err != nil {
		return measure{}, fmt.Errorf("substrate replies consume: %w", err)
	}
	defer cc.Stop()
	return s.pipeline(ctx, e.p, s.call(durableCalls, reply), slots)
}
