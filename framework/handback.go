// Hand-backs: calls the worker received but will not finish (shutdown before they ran, or
// abandoned at the drain deadline) go back to the broker, recorded in HandbacksBucket so that
// they use no attempt. Owner: the intake and Run; every hand-back goroutine is joined by Run
// (handBacks) before it returns.

package framework

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// abandonRunning hands back every call still running after the drain deadline.
func (w *Worker) abandonRunning() {
	w.heldMu.Lock()
	var running []*delivery
	for d := range w.held {
		if d.state.CompareAndSwap(stateRunning, stateAbandoned) {
			running = append(running, d)
		}
	}
	w.heldMu.Unlock()
	for _, d := range running {
		w.callLog(d).Warn().Msg("call ignored cancellation past the drain deadline; handed back")
		w.handBack(d)
	}
}

// handBack returns a call that did not finish here to the broker for another worker. The
// call started running here, so its delivery counts as an attempt.
func (w *Worker) handBack(d *delivery) {
	if err := d.msg.Nak(); err != nil {
		w.callLog(d).Debug().Err(err).Msg("nak")
	}
	w.release(d)
}

// handBackUnstarted hands back a call that never started running here: the hand-back is
// recorded in HandbacksBucket first, so that the next delivery does not count it as an
// attempt (JetStream counts it in NumDelivered).
func (w *Worker) handBackUnstarted(d *delivery) {
	id := d.msg.Headers().Get(wire.HeaderID)
	if id == "" {
		id, _, _ = nameTick(w.c.names, d.msg.Headers())
	}
	if wire.ValidCallID(id) {
		if err := w.c.recordHandBack(id); err != nil {
			w.callLog(d).Warn().Err(err).Msg("hand-back not recorded; it will count as an attempt")
		}
	}
	w.handBack(d)
}

// maxParallelHandBacks bounds the hand-backs being recorded at once at shutdown.
const maxParallelHandBacks = 32

// handBackUnstartedAsync is handBackUnstarted on its own goroutine (up to
// maxParallelHandBacks at once, then it waits), so a stopping worker records the hand-backs
// of its buffered calls in parallel. Only for Run's own paths (the consume callback and the
// runners): Run waits for these goroutines once both have ended.
func (w *Worker) handBackUnstartedAsync(d *delivery) {
	w.handBackSem <- struct{}{}
	w.handBacks.Go(func() {
		defer func() { <-w.handBackSem }()
		w.handBackUnstarted(d)
	})
}

// HandbacksBucket is the KV bucket where workers count, per call ID, the deliveries they
// handed back without running them (at shutdown): a call's attempt number is its delivery
// count less its hand-backs. Entries live for the results TTL; the bucket is created by the
// first worker that runs.
const HandbacksBucket = "jetray_handbacks"

type handbacksKey struct{}

// handbacksBucket opens (or creates) HandbacksBucket.
func (c *Client) handbacksBucket(ctx context.Context) (jetstream.KeyValue, error) {
	v, err := c.extension(handbacksKey{}, func() (any, error) {
		return c.ensureBucket(ctx, jetstream.KeyValueConfig{
			Bucket:      c.names.HandbacksBucket(),
			Description: "jetray: deliveries of each call handed back without running (not attempts)",
			TTL:         c.cfg.resultTTL,
			Storage:     c.storage(),
			Replicas:    c.cfg.replicas,
		})
	})
	if err != nil {
		return nil, err
	}
	return v.(jetstream.KeyValue), nil
}

// handbackTimeout bounds each read or write of HandbacksBucket.
const handbackTimeout = 2 * time.Second

// recordHandBack adds one to the hand-backs of call id (compare-and-swap, retried on
// conflicts with other workers).
func (c *Client) recordHandBack(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.callTimeout, handbackTimeout))
	defer cancel()
	kv, err := c.handbacksBucket(ctx)
	if err != nil {
		return err
	}
	for range 10 {
		if _, err = kv.Create(ctx, id, []byte("1")); !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
		e, gerr := kv.Get(ctx, id)
		if errors.Is(gerr, jetstream.ErrKeyNotFound) {
			continue // expired meanwhile
		}
		if gerr != nil {
			return gerr
		}
		n, _ := strconv.Atoi(string(e.Value()))
		_, err = kv.Update(ctx, id, []byte(strconv.Itoa(n+1)), e.Revision())
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
	}
	return fmt.Errorf("jetray: record hand-back of %s: %w", id, err)
}

// handBacks returns how many deliveries of call id were handed back without running.
func (c *Client) handBacks(id string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.callTimeout, handbackTimeout))
	defer cancel()
	kv, err := c.handbacksBucket(ctx)
	if err != nil {
		return 0, err
	}
	e, err := kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(e.Value()))
}
