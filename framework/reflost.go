package framework

import (
	"context"
	"fmt"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// References to calls nobody will answer. A reference waits for its call's result; when the
// call will never be answered (an ID nobody issued, a call whose client failed or died before
// storing it) the wait ends with ErrReferenceLost after a bounded time instead of lasting
// until ctx ends. The rule (docs/architecture.md, "References to calls nobody will answer"):
// a reference fails only when no result is stored, the call is not stored in the tasks or
// actors stream (so nothing will run it), and its client, named by the call ID, either says
// it no longer waits for the call or is judged gone (clientsGone). A stored call is always
// waited for, however long it queues.

// refScanLimit bounds the messages one scan reads per call stream. With more messages
// queued, nothing is concluded and the reference keeps waiting.
const refScanLimit = 10_000

// refCheck schedules the checks of one waiting reference: the first a third of the client
// TTL after the wait began, then at doubling intervals up to the TTL.
type refCheck struct {
	next       time.Time
	every, max time.Duration
}

func (c *Client) newRefCheck() *refCheck {
	ttl := c.cfg.clientTTL
	return &refCheck{next: time.Now().Add(ttl / 3), every: ttl / 3, max: ttl}
}

// wait returns how long to wait for the result before the next check: at most d, at least 1 s.
func (r *refCheck) wait(d time.Duration) time.Duration {
	return max(min(time.Until(r.next), d), time.Second)
}

func (r *refCheck) due() bool { return !time.Now().Before(r.next) }

func (r *refCheck) checked() {
	r.every = min(2*r.every, r.max)
	r.next = time.Now().Add(r.every)
}

// checkReference decides whether call id, whose result was not stored a moment ago, will
// ever be answered. It returns the result if one is stored now, ErrReferenceLost (wrapped,
// with ErrOwnerDied when its client is gone) if the call will never be answered, and nothing
// (keep waiting) when it may still be, or when it cannot tell.
func (c *Client) checkReference(ctx context.Context, id string) (nats.Header, []byte, bool, error) {
	if !wire.ValidCallID(id) {
		return nil, nil, false, fmt.Errorf("%w: %q is not a call ID", ErrReferenceLost, id)
	}
	owner := wire.ClientIDOf(id)
	if owner == wire.TickClientID {
		// A periodic schedule's run (TickID): the broker submits it when it is due, and no
		// client could be asked about it. It is waited for.
		return nil, nil, false, nil
	}
	decided := time.Now()
	var state string
	if owner == c.id {
		state = c.callState(id)
	} else {
		rep, err := c.askClient(ctx, owner, wire.ClientRequest{Op: wire.ClientCall, ID: id})
		switch {
		case err == nil && rep.OK:
			state = rep.Call
		case err != nil && noAnswer(ctx, err) && c.clientsGone(ctx, []string{owner})[owner]:
			state = "gone"
		default:
			return nil, nil, false, nil // alive, or unsure
		}
	}
	var lost error
	switch state {
	case wire.CallUnknown:
		lost = fmt.Errorf("%w: call %s: client %s never issued it", ErrReferenceLost, id, owner)
	case wire.CallDone:
		lost = fmt.Errorf("%w: call %s: its client %s no longer waits for it and it was never stored", ErrReferenceLost, id, owner)
	case "gone":
		lost = fmt.Errorf("%w: call %s: its client %s is gone and the call was never stored: %w", ErrOwnerDied, id, owner, ErrReferenceLost)
	default:
		return nil, nil, false, nil // pending on its client, or an answer of a newer build
	}
	// A call stored in a call stream will be answered; one removed from it since was
	// answered first (a result is stored before its call is acked), so the result read
	// below finds it.
	if stored, sure := c.callStored(ctx, id, decided); stored || !sure {
		return nil, nil, false, nil
	}
	// A deadline schedule (StartWithin, FinishWithin) still waiting will store a result.
	if pending, sure := c.deadlineScheduled(ctx, id); pending || !sure {
		return nil, nil, false, nil
	}
	hdr, data, found, err := c.fetchResult(ctx, id)
	if err != nil {
		return nil, nil, false, nil
	}
	if found {
		return hdr, data, true, nil
	}
	return nil, nil, false, lost
}

// deadlineScheduled reports whether a deadline schedule of call id is stored in the results
// stream (it stores the call's deadline result when it fires, then goes); sure is false when
// that could not be read.
func (c *Client) deadlineScheduled(ctx context.Context, id string) (pending, sure bool) {
	for _, subj := range []string{c.names.StartScheduleSubject(id), c.names.CloseScheduleSubject(id)} {
		gctx, cancel := c.apiContext(ctx)
		_, err := c.results.stream.GetLastMsgForSubject(gctx, subj)
		cancel()
		if err == nil {
			return true, true
		}
		if !isNotFound(err) {
			return false, false
		}
	}
	return false, true
}

// storedScan is what one scan of the call streams found: the IDs of the calls stored there.
type storedScan struct {
	at   time.Time // when the scan began
	ids  map[string]struct{}
	sure bool // false: the streams held too much, or the broker failed: nothing is known
}

// callStored reports whether call id is stored in the tasks or actors stream, from a scan
// that began after decided (one scan serves every reference waiting for it); sure is false
// when the scan could not tell.
func (c *Client) callStored(ctx context.Context, id string, decided time.Time) (stored, sure bool) {
	c.live.mu.Lock()
	defer c.live.mu.Unlock()
	if !c.live.scan.at.After(decided) {
		c.live.scan = c.scanCalls(ctx)
	}
	_, stored = c.live.scan.ids[id]
	return stored, c.live.scan.sure
}

// scanCalls reads the Jetray-Id of every call stored in the tasks and actors streams.
func (c *Client) scanCalls(ctx context.Context) storedScan {
	sc := storedScan{at: time.Now(), ids: map[string]struct{}{}}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sc.sure = c.scanStream(sctx, c.names.TasksStream(), c.names.TasksStreamSubject(), sc.ids) &&
		c.scanStream(sctx, c.names.ActorsStream(), c.names.ActorsStreamSubject(), sc.ids)
	return sc
}

// scanStream adds the call IDs stored in stream (subjects filter) to ids, one message get at
// a time; false if the stream holds more than refScanLimit messages or a get fails.
func (c *Client) scanStream(ctx context.Context, stream, filter string, ids map[string]struct{}) bool {
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		return false
	}
	st := s.CachedInfo().State
	if st.Msgs > refScanLimit {
		return false
	}
	seq := st.FirstSeq
	for range refScanLimit + 1 {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if isNotFound(err) {
			return true // nothing stored at or after seq
		}
		if err != nil {
			return false
		}
		if id := m.Header.Get(wire.HeaderID); id != "" {
			ids[id] = struct{}{}
		}
		seq = m.Sequence + 1
	}
	return false
}
