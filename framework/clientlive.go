package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Client liveness: what tells a client that is gone (closed, crashed, cut off for good) from
// one that is slow, so that the actors a client owns die with it and references to calls it
// will never submit fail (docs/architecture.md, "Clients: liveness and ownership").
//
// Invariants:
//   - A client's key in the clients bucket (key: its ID) is written only by that client's
//     liveness loop: created on Connect, renewed every TTL/6 with Put, deleted by Close. It
//     expires TTL after the last renewal the broker stored.
//   - A client answers probes on its own control subject while it is open; Close unsubscribes
//     before it deletes the key.
//   - A judge (an actor host, a reference's resolver) declares a client gone only when both
//     fail: no key, while the judge has been connected for a full TTL without a break and the
//     bucket is older than a TTL (a broker restart loses the memory bucket: it is evidence of
//     nothing), and no answer to a probe.

// ClientsBucket is the memory KV bucket of client liveness keys (key: the client ID), in the
// default namespace; Client.Names gives it for others.
const ClientsBucket = "jetray_clients"

// ClientTTL is the default lifetime of a client's liveness key after its last renewal
// (WithClientTTL): a client that stops renewing it (crashed, stalled, cut off) for this long
// and does not answer a probe is judged gone, and the actors it owns are killed.
const ClientTTL = 30 * time.Second

// clientProbeTimeout bounds a probe of a client (a ping, or a question about one of its calls).
const clientProbeTimeout = 2 * time.Second

// clientLive is the client's side of its liveness: the probe responder and the key loop.
type clientLive struct {
	sub   *nats.Subscription
	first chan struct{} // closed once the key was first written, or that failed

	mu   sync.Mutex // guards scan: one scan of the call streams at a time
	scan storedScan
}

type clientsBucketKey struct{}

// clientsBucket returns the clients bucket, creating it on first use with this client's TTL.
func (c *Client) clientsBucket(ctx context.Context) (jetstream.KeyValue, error) {
	v, err := c.extension(clientsBucketKey{}, func() (any, error) {
		return c.ensureBucket(ctx, jetstream.KeyValueConfig{
			Bucket:      c.names.ClientsBucket(),
			Description: "jetray: live clients (keys expire when a client stops refreshing them)",
			TTL:         c.cfg.clientTTL,
			Storage:     jetstream.MemoryStorage,
			Replicas:    c.cfg.replicas,
		})
	})
	if err != nil {
		return nil, err
	}
	return v.(jetstream.KeyValue), nil
}

// clientsBucketGone drops the cached bucket handle after an error saying the bucket is gone
// (a broker restart loses the memory bucket), so the next use recreates it.
func (c *Client) clientsBucketGone(err error) bool { return c.dropIfGone(clientsBucketKey{}, err) }

// startLiveness subscribes the client's probe responder and starts its key loop (Connect).
// Neither can fail the client: without them it is judged by what is left (a key without a
// responder, or a responder without a key, still shows it alive).
func (c *Client) startLiveness() {
	c.live.first = make(chan struct{})
	sub, err := c.nc.Subscribe(c.names.ClientControlSubject(c.id), c.answerProbe)
	if err != nil {
		c.log.Warn().Err(err).Msg("client control subject: probes of this client go unanswered")
	}
	c.live.sub = sub
	if !c.bg.Go(c.livenessLoop) {
		close(c.live.first)
	}
}

// waitLive waits (up to 2 s or ctx) until the client's key has been written once, or that
// failed: an actor created before it could be judged by a host that has not yet seen the
// client's key or its responder.
func (c *Client) waitLive(ctx context.Context) {
	if c.live.first == nil {
		return
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-c.live.first:
	case <-ctx.Done():
	case <-t.C:
	}
}

// livenessLoop writes the client's key and renews it every TTL/6 until the client closes;
// then it stops answering probes and deletes the key. Only this loop writes the key.
func (c *Client) livenessLoop() {
	info, _ := json.Marshal(wire.ClientInfo{Client: c.id, Name: c.cfg.name, Started: time.Now().UTC()})
	var kv jetstream.KeyValue
	every := c.cfg.clientTTL / 6
	write := func() {
		ctx, cancel := context.WithTimeout(c.closeCtx, max(every, time.Second))
		defer cancel()
		if kv == nil {
			nkv, err := c.clientsBucket(ctx)
			if err != nil {
				c.log.Debug().Err(err).Msg("client liveness bucket")
				return
			}
			kv = nkv
			if st, err := kv.Status(ctx); err == nil && st.TTL() > 0 {
				every = st.TTL() / 6
			}
		}
		if _, err := kv.Put(ctx, c.id, info); err != nil {
			if !c.clientsBucketGone(err) {
				c.log.Debug().Err(err).Msg("client liveness renewal")
			}
			kv = nil // look the bucket up again: a broker restart may have lost it
		}
	}
	write()
	close(c.live.first)
	t := time.NewTimer(max(every, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.closeCtx.Done():
			if c.live.sub != nil {
				_ = c.live.sub.Unsubscribe() // probes find no responder from now on
			}
			if kv != nil && c.nc.IsConnected() {
				dctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = kv.Delete(dctx, c.id)
				cancel()
			}
			return
		case <-t.C:
			write()
			t.Reset(max(every, 100*time.Millisecond))
		}
	}
}

// answerProbe answers a ClientRequest on the client's control subject.
func (c *Client) answerProbe(m *nats.Msg) {
	var req wire.ClientRequest
	var rep wire.ClientReply
	switch err := json.Unmarshal(m.Data, &req); {
	case err != nil:
		rep.Error = "bad request"
	case req.Op == wire.ClientPing:
		rep.OK = true
	case req.Op == wire.ClientCall:
		rep.OK, rep.Call = true, c.callState(req.ID)
	default:
		rep.Error = "bad request"
	}
	b, _ := json.Marshal(rep)
	_ = m.Respond(b)
}

// callState says what this client knows of call id: pending here (submitted, or held until
// a dependency resolves), issued and no longer waited for, or never issued by this client.
func (c *Client) callState(id string) string {
	if c.results != nil && c.results.update(id, func(*pendingCall) {}) {
		return wire.CallPending
	}
	cid, seq, ok := strings.Cut(id, ".")
	if !ok || cid != c.id {
		return wire.CallUnknown
	}
	n, err := strconv.ParseUint(seq, 36, 64)
	if err != nil || n == 0 || n > c.ids.seq.Load() {
		return wire.CallUnknown
	}
	return wire.CallDone
}

// askClient sends req to client id's control subject and returns its answer.
func (c *Client) askClient(ctx context.Context, id string, req wire.ClientRequest) (wire.ClientReply, error) {
	var rep wire.ClientReply
	data, _ := json.Marshal(req)
	pctx, cancel := context.WithTimeout(ctx, clientProbeTimeout)
	defer cancel()
	m, err := c.nc.RequestWithContext(pctx, c.names.ClientControlSubject(id), data)
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return rep, fmt.Errorf("jetray: client %s answered %q", id, m.Data)
	}
	return rep, nil
}

// noAnswer reports a probe that nobody answered: no responder is subscribed (the client is
// gone from the broker), or none answered in time. ctx (the judge's) must not have ended.
func noAnswer(ctx context.Context, err error) bool {
	return ctx.Err() == nil && (errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout))
}

// clientsGone returns which of the clients ids are gone: their liveness key is missing while
// this client has been connected for a full TTL without a break and the bucket is older than
// a TTL, and a probe got no answer. Unsure cases (a warming-up bucket, a reconnect, broker
// errors) judge nobody gone. This client is never gone to itself.
func (c *Client) clientsGone(ctx context.Context, ids []string) map[string]bool {
	kv, ttl, ok := c.judgeReady(ctx)
	if !ok {
		return nil
	}
	var missing []string
	for _, id := range ids {
		if id == c.id || id == "" {
			continue
		}
		gctx, cancel := c.apiContext(ctx)
		_, err := kv.Get(gctx, id)
		cancel()
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			missing = append(missing, id)
		} else if err != nil {
			c.clientsBucketGone(err)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	gone := make(map[string]bool, len(missing))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, id := range missing {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := c.askClient(ctx, id, wire.ClientRequest{Op: wire.ClientPing})
			if err != nil && noAnswer(ctx, err) {
				mu.Lock()
				gone[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if c.connectedFor() < ttl {
		return nil // a break during the probes: their silence is no evidence
	}
	return gone
}

// judgeReady returns the clients bucket and its TTL if this client may judge other clients
// now: connected for a full TTL without a break, and the bucket older than a TTL.
func (c *Client) judgeReady(ctx context.Context) (jetstream.KeyValue, time.Duration, bool) {
	kv, err := c.clientsBucket(ctx)
	if err != nil {
		return nil, 0, false
	}
	sctx, cancel := c.apiContext(ctx)
	st, err := kv.Status(sctx)
	cancel()
	if err != nil {
		c.clientsBucketGone(err)
		return nil, 0, false
	}
	ttl := st.TTL()
	if ttl <= 0 {
		ttl = c.cfg.clientTTL
	}
	if kvs, ok := st.(*jetstream.KeyValueBucketStatus); ok && time.Since(kvs.StreamInfo().Created) < ttl {
		return nil, 0, false
	}
	if c.connectedFor() < ttl {
		return nil, 0, false
	}
	return kv, ttl, true
}

// treeOwner returns the owner of the call tree ctx runs in, "" outside a call: the actor the
// running call belongs to (its Jetray-Actor), else the owner the call carries (Jetray-Owner),
// else the client that submitted it. Actors created inside the tree are owned by it, and
// calls submitted inside it carry it on.
func treeOwner(ctx context.Context) string {
	call := CallFromContext(ctx)
	if call == nil {
		return ""
	}
	if a := call.Header.Get(wire.HeaderActor); a != "" {
		return a
	}
	if o := call.Header.Get(wire.HeaderOwner); o != "" {
		return o
	}
	return wire.ClientIDOf(call.ID)
}
