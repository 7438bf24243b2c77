package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The substrate: jetray's path with no jetray code. The driver publishes a call into a
// work-queue stream (file storage) with the reply subject in a header; a worker connection
// consumes it with explicit ack, replies on core NATS and acks. The stream is removed when
// the run ends.
const (
	substrateStream  = "JETRAY_BENCH_SUBSTRATE"
	substrateSubject = "jetraybench.calls"
	substrateReply   = "Bench-Reply"
)

type substrate struct {
	drv, wrk *nats.Conn
	js       jetstream.JetStream // driver side
	mgmt     jetstream.JetStream // worker side: streams, consumers
	ccs      []jetstream.ConsumeContext
	streams  []string // deleted by close

	kept     bool          // the kept-message stream exists (floors.go)
	durable  *durableQueue // the durable-reply streams, once created (floors.go)
	replicas int           // of every stream it creates (0: 1), as jetray's with -replicas
}

// substrateOf starts the substrate on e's server once and returns it.
func substrateOf(ctx context.Context, e *env) (*substrate, error) {
	if e.sub != nil {
		return e.sub, nil
	}
	s := &substrate{replicas: e.p.Replicas}
	var err error
	if s.drv, err = nats.Connect(e.url, nats.Name("jetray-bench-substrate-driver")); err != nil {
		return nil, err
	}
	if s.wrk, err = nats.Connect(e.url, nats.Name("jetray-bench-substrate-worker")); err != nil {
		s.drv.Close()
		return nil, err
	}
	e.sub = s // close from here on
	if s.js, err = jetstream.New(s.drv, jetstream.WithPublishAsyncMaxPending(max(4096, 2*e.p.Window))); err != nil {
		return nil, err
	}
	if s.mgmt, err = jetstream.New(s.wrk); err != nil {
		return nil, err
	}
	err = s.workQueue(ctx, jetstream.StreamConfig{
		Name:      substrateStream,
		Subjects:  []string{substrateSubject},
		Retention: jetstream.WorkQueuePolicy,
		Storage:   jetstream.FileStorage,
	}, "", func(m jetstream.Msg) {
		_ = s.wrk.Publish(m.Headers().Get(substrateReply), substrateOK)
		_ = m.Ack()
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// substrateOK is every substrate reply: the JSON of "ok", what the benchmarks' calls return.
var substrateOK = []byte(`"ok"`)

// workQueue creates stream cfg (replacing one an interrupted run left) with a durable
// consumer "worker" on the worker connection, taking the messages of filter ("" for all), and
// consumes them with handle until close, which also deletes the stream.
func (s *substrate) workQueue(ctx context.Context, cfg jetstream.StreamConfig, filter string, handle jetstream.MessageHandler) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = s.mgmt.DeleteStream(cctx, cfg.Name) // left by an interrupted run
	cfg.Replicas = s.replicas
	st, err := s.mgmt.CreateStream(cctx, cfg)
	if err != nil {
		return fmt.Errorf("substrate stream %s: %w", cfg.Name, err)
	}
	s.streams = append(s.streams, cfg.Name)
	cons, err := st.CreateOrUpdateConsumer(cctx, jetstream.ConsumerConfig{
		Durable:       "worker",
		FilterSubject: filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		MaxAckPending: 65536,
	})
	if err != nil {
		return fmt.Errorf("substrate consumer on %s: %w", cfg.Name, err)
	}
	cc, err := cons.Consume(handle, jetstream.PullMaxMessages(1000))
	if err != nil {
		return fmt.Errorf("substrate consume %s: %w", cfg.Name, err)
	}
	s.ccs = append(s.ccs, cc)
	return nil
}

// call returns a message to publish to subject whose reply comes to subject reply.
func (s *substrate) call(subject, reply string) *nats.Msg {
	return &nats.Msg{Subject: subject, Data: []byte("{}"), Header: nats.Header{substrateReply: []string{reply}}}
}

// oneAtATime publishes a call, waits for its reply, and again, for p.Duration.
func substrateOneAtATime(ctx context.Context, e *env) (measure, error) {
	s, err := substrateOf(ctx, e)
	if err != nil {
		return measure{}, err
	}
	return s.oneAtATime(ctx, e.p.Duration, substrateSubject, nil)
}

// oneAtATime publishes a call to subject, waits for its reply on core NATS, and again, for d;
// before each call, if before is not nil, it runs before.
func (s *substrate) oneAtATime(ctx context.Context, d time.Duration, subject string, before func(context.Context) error) (measure, error) {
	call, stop, err := s.caller(subject, before)
	if err != nil {
		return measure{}, err
	}
	defer stop()
	return timeSync(ctx, d, call)
}

// caller returns call, which runs before (if not nil), publishes a call to subject and waits
// for its reply on core NATS, and stop, which ends the reply subscription.
func (s *substrate) caller(subject string, before func(context.Context) error) (call func(context.Context) error, stop func(), err error) {
	reply := nats.NewInbox()
	ch := make(chan *nats.Msg, 1)
	sub, err := s.drv.ChanSubscribe(reply, ch)
	if err != nil {
		return nil, nil, err
	}
	msg := s.call(subject, reply)
	return func(ctx context.Context) error {
		if before != nil {
			if err := before(ctx); err != nil {
				return err
			}
		}
		if _, err := s.js.PublishMsgAsync(msg); err != nil {
			return err
		}
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return errors.New("substrate: no reply in 10s")
		}
	}, func() { _ = sub.Unsubscribe() }, nil
}

// substratePipelined keeps p.Window calls in flight (async publish) for p.Duration.
func substratePipelined(ctx context.Context, e *env) (measure, error) {
	s, err := substrateOf(ctx, e)
	if err != nil {
		return measure{}, err
	}
	reply := nats.NewInbox()
	slots := make(chan struct{}, e.p.Window)
	sub, err := s.drv.Subscribe(reply, func(*nats.Msg) { <-slots })
	if err != nil {
		return measure{}, err
	}
	defer sub.Unsubscribe() //nolint:errcheck
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return measure{}, err
	}
	return s.pipeline(ctx, e.p, s.call(substrateSubject, reply), slots)
}

// pipeline publishes msg, one call a free slot (cap(slots) in flight), for p.Duration; the
// reply's handler frees a slot by receiving from slots.
func (s *substrate) pipeline(ctx context.Context, p Params, msg *nats.Msg, slots chan struct{}) (measure, error) {
	return timeParallel(ctx, p.Duration, 1, func(ctx context.Context, _ int) (int, error) {
		// One round: p.Window publishes, each waiting for a free slot, so the window stays
		// full; the final drain waits for every slot to come back.
		for range p.Window {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			if _, err := s.js.PublishMsgAsync(msg); err != nil {
				return 0, err
			}
		}
		return p.Window, nil
	}, func(ctx context.Context) error {
		for range p.Window {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return errors.New("substrate: replies missing after 10s")
			}
		}
		for range p.Window {
			<-slots
		}
		return nil
	})
}

// close stops consuming, deletes the streams and closes both connections.
func (s *substrate) close() error {
	for _, cc := range s.ccs {
		cc.Stop()
	}
	var err error
	for _, name := range s.streams {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = errors.Join(err, s.mgmt.DeleteStream(ctx, name))
		cancel()
	}
	s.drv.Close()
	s.wrk.Close()
	return err
}
