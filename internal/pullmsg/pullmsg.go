// Package pullmsg is the jetstream.Msg of a call that one of jetray's own pull loops received
// (the worker's task intake, framework/pull.go, and the actor host's, actors/pull.go): those
// loops send their pull requests themselves rather than through nats.go's Consume, so nothing
// in nats.go wraps what they receive. Acks are core publishes to the ack reply, as nats.go's
// jetstream package sends them; after an ack, nak or term, later ones fail with
// jetstream.ErrMsgAlreadyAckd (progress reports may repeat).
package pullmsg

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Settler is told when a call is settled: acked or terminated (final), or naked.
type Settler interface {
	Settled(seq uint64, final bool)
}

// Msg is a received call. Set Raw and NC; MD, Seq and Sub are optional.
type Msg struct {
	Raw *nats.Msg
	NC  *nats.Conn        // the connection acks go out on
	MD  *nats.MsgMetadata // parsed on delivery, or nil: Metadata parses Raw's ack reply
	Seq uint64            // stream sequence, for Sub (0 if unknown)
	Sub Settler           // if not nil, told once, after the first ack, nak or term is sent

	mu    sync.Mutex
	acked bool
}

var _ jetstream.Msg = (*Msg)(nil)

// Metadata returns the delivery's metadata, parsed from its ack reply.
func (m *Msg) Metadata() (*jetstream.MsgMetadata, error) {
	md := m.MD
	if md == nil {
		var err error
		if md, err = m.Raw.Metadata(); err != nil {
			return nil, fmt.Errorf("%w: %v", jetstream.ErrNotJSMessage, err)
		}
	}
	return &jetstream.MsgMetadata{
		Sequence:     jetstream.SequencePair{Consumer: md.Sequence.Consumer, Stream: md.Sequence.Stream},
		NumDelivered: md.NumDelivered, NumPending: md.NumPending, Timestamp: md.Timestamp,
		Stream: md.Stream, Consumer: md.Consumer, Domain: md.Domain,
	}, nil
}

// Data returns the payload.
func (m *Msg) Data() []byte { return m.Raw.Data }

// Headers returns the headers.
func (m *Msg) Headers() nats.Header { return m.Raw.Header }

// Subject returns the stream subject the call was stored on.
func (m *Msg) Subject() string { return m.Raw.Subject }

// Reply returns the ack reply subject.
func (m *Msg) Reply() string { return m.Raw.Reply }

// Ack acknowledges the call.
func (m *Msg) Ack() error { return m.ack(context.Background(), "+ACK", false) }

// Nak asks the broker to deliver the call again now.
func (m *Msg) Nak() error { return m.ack(context.Background(), "-NAK", false) }

// InProgress resets the call's AckWait; it may be sent any number of times before the ack.
func (m *Msg) InProgress() error { return m.ack(context.Background(), "+WPI", false) }

// Term tells the broker never to deliver the call again.
func (m *Msg) Term() error { return m.ack(context.Background(), "+TERM", false) }

// DoubleAck acknowledges the call and waits for the server to confirm it (until ctx ends).
func (m *Msg) DoubleAck(ctx context.Context) error { return m.ack(ctx, "+ACK", true) }

// NakWithDelay asks the broker to deliver the call again after delay (at once if delay <= 0).
func (m *Msg) NakWithDelay(delay time.Duration) error {
	if delay <= 0 {
		return m.Nak()
	}
	return m.ack(context.Background(), fmt.Sprintf(`-NAK {"delay": %d}`, delay.Nanoseconds()), false)
}

// TermWithReason terminates the call with reason, which the broker's advisory carries.
func (m *Msg) TermWithReason(reason string) error {
	if reason == "" {
		return m.Term()
	}
	return m.ack(context.Background(), "+TERM "+reason, false)
}

// ack sends body to the ack reply; with wait, as a request the server answers.
func (m *Msg) ack(ctx context.Context, body string, wait bool) error {
	if m.Raw.Reply == "" {
		return jetstream.ErrMsgNoReply
	}
	m.mu.Lock()
	acked := m.acked
	m.mu.Unlock()
	if acked {
		return jetstream.ErrMsgAlreadyAckd
	}
	var err error
	if wait {
		_, err = m.NC.RequestWithContext(ctx, m.Raw.Reply, []byte(body))
	} else {
		err = m.NC.Publish(m.Raw.Reply, []byte(body))
	}
	if err == nil && body != "+WPI" {
		m.mu.Lock()
		first := !m.acked
		m.acked = true
		m.mu.Unlock()
		if first && m.Sub != nil {
			m.Sub.Settled(m.Seq, !strings.HasPrefix(body, "-NAK"))
		}
	}
	return err
}
