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
	cc       jetstream.ConsumeContext
	mgmt     jetstream.JetStream
}

// substrateOf starts the substrate on e's server once and returns it.
func substrateOf(ctx context.Context, e *env) (*substrate, error) {
	if e.sub != nil {
		return e.sub, nil
	}
	s := &substrate{}
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
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = s.mgmt.DeleteStream(cctx, substrateStream) // left by an interrupted run
	st, err := s.mgmt.CreateStream(cctx, jetstream.StreamConfig{
		Name:      substrateStream,
		Subjects:  []string{substrateSubject},
		Retention: jetstream.WorkQueuePolicy,
		Storage:   jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("substrate stream: %w", err)
	}
	cons, err := st.CreateOrUpdateConsumer(cctx, jetstream.ConsumerConfig{
		Durable:       "worker",
		AckPolicy:     jetstream.AckExplicitPolicy,
		MaxAckPending: 65536,
	})
	if err != nil {
		return nil, fmt.Errorf("substrate consumer: %w", err)
	}
	ok := []byte(`"ok"`)
	s.cc, err = cons.Consume(func(m jetstream.Msg) {
		_ = s.wrk.Publish(m.Headers().Get(substrateReply), ok)
		_ = m.Ack()
	}, jetstream.PullMaxMessages(1000))
	if err != nil {
		return nil, fmt.Errorf("substrate consume: %w", err)
	}
	return s, nil
}

// call returns a message to publish whose reply comes to subject reply.
func (s *substrate) call(reply string) *nats.Msg {
	return &nats.Msg{Subject: substrateSubject, Data: []byte("{}"), Header: nats.Header{substrateReply: []string{reply}}}
}

// oneAtATime publishes a call, waits for its reply, and again, for p.Duration.
func substrateOneAtATime(ctx context.Context, e *env) (measure, error) {
	s, err := substrateOf(ctx, e)
	if err != nil {
		return measure{}, err
	}
	reply := nats.NewInbox()
	ch := make(chan *nats.Msg, 1)
	sub, err := s.drv.ChanSubscribe(reply, ch)
	if err != nil {
		return measure{}, err
	}
	defer sub.Unsubscribe() //nolint:errcheck
	msg := s.call(reply)
	return timeSync(ctx, e.p.Duration, func(ctx context.Context) error {
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
	})
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
	msg := s.call(reply)
	return timeParallel(ctx, e.p.Duration, 1, func(ctx context.Context, _ int) (int, error) {
		// One round: e.p.Window publishes, each waiting for a free slot, so the window stays
		// full; the final drain waits for every slot to come back.
		for range e.p.Window {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			if _, err := s.js.PublishMsgAsync(msg); err != nil {
				return 0, err
			}
		}
		return e.p.Window, nil
	}, func(ctx context.Context) error {
		for range e.p.Window {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return errors.New("substrate: replies missing after 10s")
			}
		}
		for range e.p.Window {
			<-slots
		}
		return nil
	})
}

// close stops consuming, deletes the stream and closes both connections.
func (s *substrate) close() error {
	if s.cc != nil {
		s.cc.Stop()
	}
	var err error
	if s.mgmt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = s.mgmt.DeleteStream(ctx, substrateStream)
		cancel()
	}
	s.drv.Close()
	s.wrk.Close()
	return err
}
