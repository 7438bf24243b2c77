package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jetray/jetray/internal/seam"
	"github.com/jetray/jetray/internal/wire"

	"github.com/jetray/jetray/futures"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// deadLetter keeps a copy of a call that used up its attempts in JETRAY_DEAD, with the reason,
// before the call is answered and removed from its work queue. Failing to store it is logged;
// the call is still answered.
func (w *Worker) deadLetter(d *delivery, reason string, attempts int) {
	h := nats.Header{}
	for k, v := range d.msg.Headers() {
		// The server's schedule headers may be published only by the server.
		if k != jetstream.MsgIDHeader && !strings.HasPrefix(k, wire.HeaderNatsSchedule) {
			h[k] = v
		}
	}
	h[wire.HeaderDeadReason] = []string{reason}
	h[wire.HeaderDeadAttempts] = []string{strconv.Itoa(attempts)}
	h[wire.HeaderDeadSubject] = []string{d.msg.Subject()}
	if d.call != nil {
		h[jetstream.MsgIDHeader] = []string{"dead." + d.call.ID}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w.cfg.metrics.deadLettered(d.name)
	if _, err := w.js.PublishMsg(ctx, &nats.Msg{Subject: w.c.names.DeadSubject(d.name), Header: h, Data: d.msg.Data()}); err != nil {
		w.callLog(d).Error().Err(err).Msg("dead letter not stored")
	}
}

// DeadLetter is a call kept in JETRAY_DEAD.
type DeadLetter struct {
	Seq      uint64    // stream sequence: the handle for Replay
	Name     string    // task or Class.method name
	ID       string    // the call's ID
	Subject  string    // where the call was published
	Reason   string    // why it was dead-lettered
	Attempts int       // attempts made
	Time     time.Time // when it was dead-lettered
	Data     []byte    // the encoded input
	Header   nats.Header
}

// DeadLetters is the function DeadLetters.
//
// Deprecated: use DeadLetters(ctx, c, limit); queries are functions of the client.
func (c *Client) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	return DeadLetters(ctx, c, limit)
}

// Replay is ReplayDeadLetter.
//
// Deprecated: use ReplayDeadLetter(ctx, c, seq).
func (c *Client) Replay(ctx context.Context, seq uint64) (*futures.Future[json.RawMessage], error) {
	return ReplayDeadLetter(ctx, c, seq)
}

// DeadLetters lists up to limit dead letters of c's deployment, oldest first (limit <= 0:
// all). Errors: the dead-letter stream cannot be read.
func DeadLetters(ctx context.Context, c *Client, limit int) ([]DeadLetter, error) {
	s, err := c.js.Stream(ctx, c.names.DeadStream())
	if err != nil {
		return nil, fmt.Errorf("jetray: %s: %w", c.names.DeadStream(), err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		if limit > 0 && len(out) >= limit {
			break
		}
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		att, _ := strconv.Atoi(m.Header.Get(wire.HeaderDeadAttempts))
		out = append(out, DeadLetter{Seq: m.Sequence, Name: m.Header.Get(wire.HeaderTask), ID: m.Header.Get(wire.HeaderID),
			Subject: m.Header.Get(wire.HeaderDeadSubject), Reason: m.Header.Get(wire.HeaderDeadReason), Attempts: att,
			Time: m.Time, Data: m.Data, Header: m.Header})
	}
	return out, nil
}

// ReplayDeadLetter submits the dead letter at seq again as a new call of client c (a new ID
// and a fresh set of attempts, same subject, input and options) and removes it from
// JETRAY_DEAD once the call is accepted. The returned future resolves with the result as raw
// JSON. Errors: no dead letter at seq, or the stream cannot be read; a call that is not
// accepted fails the future and keeps the dead letter.
func ReplayDeadLetter(ctx context.Context, c *Client, seq uint64) (*futures.Future[json.RawMessage], error) {
	s, err := c.js.Stream(ctx, c.names.DeadStream())
	if err != nil {
		return nil, err
	}
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("jetray: dead letter %d: %w", seq, err)
	}
	hdr := nats.Header{}
	for _, k := range []string{wire.HeaderMaxRetries, wire.HeaderRetryErrors, wire.HeaderTimeout, wire.HeaderBackoff, wire.HeaderCodec, "Jetray-Actor"} {
		if v := m.Header.Get(k); v != "" {
			hdr.Set(k, v)
		}
	}
	name := m.Header.Get(wire.HeaderTask)
	req := Request{Name: name, Header: hdr,
		route: seam.Route{Subject: m.Header.Get(wire.HeaderDeadSubject), Unregistered: true}}
	f := Submit[json.RawMessage](ctx, c, req, json.RawMessage(m.Data))
	if f.Resolved() && f.Err() != nil {
		return f, nil // not accepted: keep the dead letter
	}
	if err := s.DeleteMsg(ctx, seq); err != nil {
		c.log.Warn().Err(err).Uint64("seq", seq).Msg("replayed dead letter not deleted")
	}
	return f, nil
}
