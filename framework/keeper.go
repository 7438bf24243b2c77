// The task keeper: short-lived messages on a subject of the tasks stream that no consumer
// takes (wire's TasksKeepSubject), so that the stream's last file block always holds a live
// message. Without one, the ack of a call that was the only message in JETRAY_TASKS empties the
// last block, which nats-server's file store then deletes, and the next call creates a new block
// file: about half of a one-at-a-time call's broker CPU (docs/benchmarks.md, "Sync rows").
//
// Why keepers that move and expire, not one message kept for good: a message that stays pins
// the stream's first sequence, and once the block holding it is full, every later block that
// an ack empties is deleted and recreated as before and, its tombstones still counting, left on
// disk: a block file per call until the server's next sync, and calls slower than with no
// keeper at all (measured: p50 120 us rising to 700 us after about 10,000 calls). So each
// keeper expires (KeepTTL) and a client that stores calls publishes the next one, into the
// block the stream is writing, after every so many calls (keepStep) or once its newest keeper
// is half expired.
//
// Only clients that store calls in the tasks stream keep, so only clients with publish rights
// on its subjects publish there (workers of the documented role have none). A tasks stream
// without AllowMsgTTL (created before the keeper existed) or in memory gets no keeper.
//
// Owner: the Client. onPublishAck calls keepAfter for each stored call; a keep runs on the
// client's background set (c.bg), one at a time, and stops with the client's closeCtx.

package framework

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// KeepTTL is the TTL of each task keeper message: it is gone this long after it was published,
// so a stream with no new calls is empty again after at most KeepTTL.
const KeepTTL = 2 * time.Second

const (
	// keepAge: a stored call makes a keep due once the newest keeper is this old (half its TTL)
	// and at least keepAgeCalls stream messages have come since it.
	keepAge      = KeepTTL / 2
	keepAgeCalls = 32
	// keepBytes is how much may be written to the stream between two keepers: an eighth of
	// the 4 MiB file block of a work-queue stream, so that the calls between a block's
	// rollover and the next keeper are a small share of the block's.
	keepBytes = 512 << 10
	// keepCallOverhead estimates what a call costs in the stream beyond its input: subject,
	// headers, the record's framing and the tombstone its ack writes.
	keepCallOverhead = 256
	keepMinStep      = 64
	keepMaxStep      = 1000
	// keepTimeout bounds one keeper publish; keepBackoff is the first wait after a failed one,
	// doubling up to keepMaxBackoff.
	keepTimeout    = 2 * time.Second
	keepBackoff    = 10 * time.Second
	keepMaxBackoff = 5 * time.Minute
)

// taskKeeper is a client's part in keeping the tasks stream's last block alive.
type taskKeeper struct {
	stream  string // the tasks stream; "" when the client keeps nothing
	subject string // TasksKeepSubject

	busy    atomic.Bool   // a keep is running
	nextSeq atomic.Uint64 // a call stored at this stream sequence or later makes a keep due
	ageSeq  atomic.Uint64 // ... as does one at this sequence or later once nextAt has passed
	nextAt  atomic.Int64  // unix nanoseconds

	// Owned by the running keep.
	last    uint64        // the newest keeper's sequence this client knows, 0 for none
	backoff time.Duration // after a failed publish; 0 after a success
}

// startKeeper turns the keeper on for tasks stream s if it allows message TTLs and is on file.
// Setup calls it before the client stores any call.
func (c *Client) startKeeper(s jetstream.Stream) {
	cfg := s.CachedInfo().Config
	if cfg.AllowMsgTTL && cfg.Storage == jetstream.FileStorage {
		c.keeper.stream, c.keeper.subject = cfg.Name, c.names.TasksKeepSubject()
	}
}

// keepAfter notes that the broker stored a call of size bytes of input, with PubAck pa, and
// starts a keep if one is due and none is running. It is called for every stored call, so it
// reads two or three atomics and returns.
func (c *Client) keepAfter(pa *jetstream.PubAck, size int) {
	k := &c.keeper
	if k.stream == "" || pa == nil || pa.Stream != k.stream || pa.Duplicate {
		return
	}
	seq := pa.Sequence
	if seq < k.nextSeq.Load() && (seq < k.ageSeq.Load() || time.Now().UnixNano() < k.nextAt.Load()) {
		return
	}
	if !k.busy.CompareAndSwap(false, true) {
		return
	}
	if !c.bg.Go(func() {
		defer k.busy.Store(false)
		c.keep(seq, keepStep(size))
	}) {
		k.busy.Store(false)
	}
}

// keepStep is how many stream messages may come between two keepers when calls carry size
// bytes of input: keepBytes' worth, from keepMinStep to keepMaxStep.
func keepStep(size int) uint64 {
	return uint64(min(max(keepBytes/(max(size, 0)+keepCallOverhead), keepMinStep), keepMaxStep))
}

// keep publishes a keeper, first writer wins: it expects the newest keeper on the subject to
// be the one this client knows of (none at first). A refusal naming the newest (published by
// another client a moment ago) makes that one count as this client's; a refusal naming none,
// or one of a replicated stream (which names no sequence), makes it try once more expecting
// no keeper at all, since the one it knew may have expired or been purged by an operator; a
// second refusal means another client's keeper is there, as new as the call at seq.
func (c *Client) keep(seq, step uint64) {
	k := &c.keeper
	ctx, cancel := context.WithTimeout(c.closeCtx, keepTimeout)
	defer cancel()
	expect := k.last
	for range 2 {
		ack, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: k.subject},
			jetstream.WithMsgTTL(KeepTTL), jetstream.WithExpectLastSequencePerSubject(expect))
		if err == nil {
			k.kept(ack.Sequence, step)
			return
		}
		newest, named, refused := keeperRefusal(err)
		switch {
		case !refused:
			k.backoff = min(max(2*k.backoff, keepBackoff), keepMaxBackoff)
			k.nextSeq.Store(math.MaxUint64)
			k.ageSeq.Store(0)
			k.nextAt.Store(time.Now().Add(k.backoff).UnixNano())
			if c.closeCtx.Err() == nil {
				c.log.Debug().Err(err).Dur("retry_in", k.backoff).Msg("task keeper: publish failed")
			}
			return
		case named && newest > 0:
			k.kept(newest, step)
			return
		case expect == 0 && !named:
			k.kept(seq, step)
			return
		}
		expect = 0
	}
	k.kept(seq, step)
}

// kept records keeper seq as the newest and when the next one is due.
func (k *taskKeeper) kept(seq, step uint64) {
	k.last, k.backoff = seq, 0
	k.nextSeq.Store(seq + step)
	k.ageSeq.Store(seq + keepAgeCalls)
	k.nextAt.Store(time.Now().Add(keepAge).UnixNano())
}

// keeperRefusal reads a refused keeper publish: refused is true for the broker's "wrong last
// sequence" answer, named when it says which sequence the subject's newest message has.
func keeperRefusal(err error) (newest uint64, named, refused bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return 0, false, false
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamWrongLastSequence:
		_, s, _ := strings.Cut(apiErr.Description, ": ")
		n, perr := strconv.ParseUint(s, 10, 64)
		return n, perr == nil, true
	case jetstream.JSErrCodeStreamWrongLastSequenceConstant:
		return 0, false, true
	}
	return 0, false, false
}
