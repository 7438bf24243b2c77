package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Deleting acked calls. JETRAY_ACTORS is a limits stream, so an acked call stays until it is
// deleted (or MaxAge). A purge by subject would visit every consumer of the stream (the
// server recounts each one's pending messages), about 3 us per consumer here: 300 ms of a
// stalled stream at 100,000 actors. A delete by sequence touches only the consumers whose
// filter matches the call (the actor's own), about 50-80 us per call. So every purgeEvery the
// host deletes the calls each actor has acked since by sequence, and purges an actor's subject
// instead only when it acked more calls than purgeMinBatch + consumers/16 (a busy actor on a
// stream with few consumers), where one purge costs less than the deletes.
const (
	purgeEvery    = 5 * time.Second
	purgeMinBatch = 16
	// maxTracked bounds the sequences an actor keeps between ticks (8 bytes each); past it the
	// actor's acked calls go by one purge of its subject.
	maxTracked = 1 << 16
	// apiWindow bounds the API requests a host or reaper has in flight at once.
	apiWindow = 256
)

// purgeState is what an instance's lane (concurrency group) keeps for the deletion of its
// acked calls: the stream sequences of the calls delivered here and not deleted yet.
type purgeState struct {
	pmu  sync.Mutex
	seqs []uint64 // delivered, not deleted; unsorted, redeliveries repeated
	// over: calls were delivered past maxTracked; the subject is purged up to overTo.
	over   bool
	overTo uint64
}

// delivered records that the call at stream sequence seq was delivered to this instance.
func (p *purgeState) delivered(seq uint64) {
	if seq == 0 {
		return
	}
	p.pmu.Lock()
	if len(p.seqs) < maxTracked {
		p.seqs = append(p.seqs, seq)
	} else {
		p.over, p.overTo = true, max(p.overTo, seq)
	}
	p.pmu.Unlock()
}

// pending reports whether delivered calls wait for deletion.
func (p *purgeState) pending() bool {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	return len(p.seqs) > 0 || p.over
}

// takeAcked removes and returns the delivered sequences at or below floor (sorted, each
// once); purge says the subject is to be purged up to floor instead (too many to track).
func (p *purgeState) takeAcked(floor uint64) (acked []uint64, purge bool) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	keep := p.seqs[:0]
	for _, s := range p.seqs {
		if s <= floor {
			acked = append(acked, s)
		} else {
			keep = append(keep, s)
		}
	}
	p.seqs = keep
	slices.Sort(acked)
	acked = slices.Compact(acked)
	if p.over {
		purge = true
		if floor >= p.overTo {
			p.over = false
		}
	}
	return acked, purge
}

// takeAll removes and returns every sequence delivered to any of inst's groups (the actor died).
func (inst *instance) takeAll() []uint64 {
	var seqs []uint64
	for _, ln := range inst.lanes {
		seqs = append(seqs, ln.purgeState.takeAll()...)
	}
	return seqs
}

// takeAll removes and returns every sequence delivered here (the actor died).
func (p *purgeState) takeAll() []uint64 {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	seqs := p.seqs
	p.seqs, p.over = nil, false
	return seqs
}

// purge deletes the calls each actor has acked since the last tick: one consumer-info request
// per actor and concurrency group with delivered calls (pipelined), then one delete per acked
// call (pipelined), or one purge of the group's subjects where that is cheaper. Fenced placements are skipped.
func (h *host) purge(ctx context.Context) {
	type work struct {
		inst *instance
		ln   *lane
	}
	h.mu.Lock()
	var busy []work
	for _, inst := range h.actors {
		for _, ln := range inst.lanes {
			if ln.pending() {
				busy = append(busy, work{inst, ln})
			}
		}
	}
	h.mu.Unlock()
	var subjects []string
	var live []work
	for _, b := range busy {
		b.inst.mu.Lock()
		bound, fenced, epoch := b.inst.bound, b.inst.fenced, b.inst.epoch
		b.inst.mu.Unlock()
		if bound && !fenced {
			live = append(live, b)
			subjects = append(subjects, "$JS.API.CONSUMER.INFO."+h.names.ActorsStream()+"."+b.ln.consumer(b.inst.id, epoch))
		}
	}
	if len(live) == 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, purgeEvery)
	defer cancel()
	nc := h.w.Client().Conn()
	replies, err := apiRequests(pctx, nc, subjects, nil)
	if err != nil {
		h.log.Debug().Err(err).Msg("purge: consumer floors")
	}
	var stream jetstream.Stream // read once, if an actor acked many calls
	var dels []uint64
	for i, b := range live {
		floor, ok := ackFloor(replies[i])
		if !ok {
			continue
		}
		acked, over := b.ln.takeAcked(floor)
		if !over && len(acked) < purgeMinBatch {
			dels = append(dels, acked...)
			continue
		}
		if stream == nil {
			if stream, err = h.w.Client().JetStream().Stream(pctx, h.names.ActorsStream()); err != nil {
				dels = append(dels, acked...)
				continue
			}
		}
		if consumers := stream.CachedInfo().State.Consumers; !over && len(acked) < purgeMinBatch+consumers/16 {
			dels = append(dels, acked...)
			continue
		}
		// The group's own subjects only: the floor is its consumer's.
		err := stream.Purge(pctx, jetstream.WithPurgeSubject(h.names.ActorGroupFilter(b.inst.id, b.ln.group)), jetstream.WithPurgeSequence(floor+1))
		if err != nil {
			h.log.Debug().Err(err).Str("actor_id", b.inst.id).Msg("purge acked calls")
			dels = append(dels, acked...)
		}
	}
	if err := deleteMsgs(pctx, nc, h.names.ActorsStream(), dels); err != nil {
		// Not retried: the stream's MaxAge is the backstop.
		h.log.Debug().Err(err).Int("calls", len(dels)).Msg("purge: delete acked calls")
	}
}

// ackFloor reads the stream sequence of the ack floor from a consumer-info reply.
func ackFloor(m *nats.Msg) (uint64, bool) {
	if m == nil {
		return 0, false
	}
	var info struct {
		AckFloor struct {
			Stream uint64 `json:"stream_seq"`
		} `json:"ack_floor"`
		Error *jetstream.APIError `json:"error"`
	}
	if json.Unmarshal(m.Data, &info) != nil || info.Error != nil {
		return 0, false
	}
	return info.AckFloor.Stream, true
}

// deleteMsgs deletes the messages at seqs from stream, apiWindow requests at a time. A message
// already gone counts as deleted.
func deleteMsgs(ctx context.Context, nc *nats.Conn, stream string, seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	subjects := make([]string, len(seqs))
	bodies := make([][]byte, len(seqs))
	for i, s := range seqs {
		subjects[i] = "$JS.API.STREAM.MSG.DELETE." + stream
		bodies[i] = []byte(`{"seq":` + strconv.FormatUint(s, 10) + `,"no_erase":true}`)
	}
	replies, err := apiRequests(ctx, nc, subjects, bodies)
	if err != nil {
		return err
	}
	for i, m := range replies {
		var resp struct {
			Error *jetstream.APIError `json:"error"`
		}
		if json.Unmarshal(m.Data, &resp) != nil {
			return fmt.Errorf("jetray: delete call %d: bad reply", seqs[i])
		}
		// 10043: no message at that sequence; 10057: delete failed (not found, or gone meanwhile).
		if e := resp.Error; e != nil && e.ErrorCode != 10043 && e.ErrorCode != 10057 {
			return fmt.Errorf("jetray: delete call %d: %w", seqs[i], e)
		}
	}
	return nil
}

// apiRequests sends a JetStream API request to each of subjects (bodies[i], or empty), with
// at most apiWindow in flight, and returns the replies in order. The error is ctx's if it ended
// first (replies not received yet are nil) or the subscription's.
func apiRequests(ctx context.Context, nc *nats.Conn, subjects []string, bodies [][]byte) ([]*nats.Msg, error) {
	replies := make([]*nats.Msg, len(subjects))
	inbox := nc.NewInbox()
	ch := make(chan *nats.Msg, apiWindow)
	sub, err := nc.ChanSubscribe(inbox+".*", ch)
	if err != nil {
		return replies, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	sent, got := 0, 0
	for got < len(subjects) {
		for sent < len(subjects) && sent-got < apiWindow {
			var body []byte
			if bodies != nil {
				body = bodies[sent]
			}
			if err := nc.PublishRequest(subjects[sent], inbox+"."+strconv.Itoa(sent), body); err != nil {
				return replies, err
			}
			sent++
		}
		select {
		case m := <-ch:
			i, err := strconv.Atoi(m.Subject[len(inbox)+1:])
			if err != nil || i < 0 || i >= len(replies) || replies[i] != nil {
				continue
			}
			if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
				return replies, errors.New("jetray: JetStream API request: no responders")
			}
			replies[i] = m
			got++
		case <-ctx.Done():
			return replies, ctx.Err()
		}
	}
	return replies, nil
}
