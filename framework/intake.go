// Intake: the worker's task consumers. It opens one durable consumer per served name and
// pulls from it (pull.go), queueing the calls for the runners; actor hosts feed their own consumers'
// messages in through serve. Owner: Worker.Run starts it first and stops it first
// (stopIntake), so nothing new arrives while the rest drains. It also keeps each consumer's
// AckWait known to the heartbeat (refreshAckWait), never overwriting one.

package framework

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// startConsumer opens the durable consumer for name, creating it if absent, and starts
// pulling from it (pull.go). An existing consumer keeps its AckWait, whoever set it: the
// heartbeat follows it.
func (w *Worker) startConsumer(ctx context.Context, name string, h Handler) error {
	cons, err := w.taskConsumer(ctx, name, wire.TaskRoute{})
	if err != nil {
		return err
	}
	durable := w.c.names.TaskConsumer(name, wire.TaskRoute{})
	p, err := w.startPuller(name, durable, h, w.queue)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		p.stop()
		return nil
	}
	w.consumers[durable] = p
	w.taskCons[name] = cons
	w.setAckWait(name, cons.CachedInfo().Config.AckWait)
	return nil
}

// taskConsumer returns the durable consumer of route r of name (task-<name> for the default
// route), created with this worker's settings if absent. An existing one is used as it is,
// except for settings the worker needs (filter, MaxAckPending, MaxDeliver), which are
// updated; its AckWait is never changed, since other workers heartbeat for their calls of
// that consumer.
func (w *Worker) taskConsumer(ctx context.Context, name string, r wire.TaskRoute) (jetstream.Consumer, error) {
	cctx, cancel := w.c.apiContext(ctx)
	defer cancel()
	desc := "jetray task " + name
	if !r.IsDefault() {
		desc += " (" + r.Priority.String() + " priority, labels " + r.Labels + ")"
	}
	want := jetstream.ConsumerConfig{
		Durable:       w.c.names.TaskConsumer(name, r),
		Description:   desc,
		FilterSubject: w.c.names.TaskSubject(name, r),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.ackWait,
		MaxAckPending: 65536,
		MaxDeliver:    -1,
	}
	cons, err := w.c.js.Consumer(cctx, w.c.names.TasksStream(), want.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = w.c.js.CreateConsumer(cctx, w.c.names.TasksStream(), want)
		if errors.Is(err, jetstream.ErrConsumerExists) { // another worker created it meanwhile
			cons, err = w.c.js.Consumer(cctx, w.c.names.TasksStream(), want.Durable)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jetray: consumer for %s: %w", name, err)
	}
	cfg := cons.CachedInfo().Config
	if cfg.FilterSubject != want.FilterSubject || len(cfg.FilterSubjects) > 0 ||
		cfg.MaxAckPending != want.MaxAckPending || cfg.MaxDeliver != want.MaxDeliver {
		cfg.FilterSubject, cfg.FilterSubjects = want.FilterSubject, nil
		cfg.MaxAckPending, cfg.MaxDeliver = want.MaxAckPending, want.MaxDeliver
		if cons, err = w.c.js.UpdateConsumer(cctx, w.c.names.TasksStream(), cfg); err != nil {
			return nil, fmt.Errorf("jetray: update consumer for %s: %w", name, err)
		}
	}
	if aw := cons.CachedInfo().Config.AckWait; aw != w.cfg.ackWait {
		w.log.Info().Str("task", name).Dur("consumer_ack_wait", aw).Dur("ack_wait", w.cfg.ackWait).
			Msg("task consumer exists with another AckWait; heartbeats follow the consumer's")
	}
	return cons, nil
}

// ackWaitRefresh is how often a running worker rereads the AckWait of its task consumers, in
// case an operator changed one. A variable for tests.
var ackWaitRefresh = 10 * time.Second

// setAckWait records the AckWait of consumer name and sets the heartbeat period to a third of
// the smallest AckWait among the worker's own and its task consumers'. Called with w.mu held.
func (w *Worker) setAckWait(name string, ackWait time.Duration) {
	if ackWait > 0 {
		w.ackWaits[name] = ackWait
	}
	p := w.cfg.ackWait
	for n, aw := range w.ackWaits {
		if _, ok := w.taskCons[n]; ok {
			p = min(p, aw)
		}
	}
	p /= 3
	if old := time.Duration(w.hbPeriod.Swap(int64(p))); p < old {
		w.log.Debug().Str("task", name).Dur("period", p).Msg("heartbeat period follows a consumer's AckWait")
		select {
		case w.hbReset <- struct{}{}:
		default:
		}
	}
}

// refreshAckWait rereads the AckWait of every task consumer served every ackWaitRefresh (an
// operator may change it) and adjusts the heartbeat period, until done closes. A consumer
// whose info cannot be read keeps its last known AckWait.
func (w *Worker) refreshAckWait(done <-chan struct{}) {
	t := time.NewTicker(ackWaitRefresh)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		w.mu.Lock()
		cons := make(map[string]jetstream.Consumer, len(w.taskCons))
		for n, c := range w.taskCons {
			cons[n] = c
		}
		w.mu.Unlock()
		for n, c := range cons {
			select {
			case <-done: // one slow read at most, however many consumers (routes add some)
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), min(w.c.cfg.callTimeout, ackWaitRefresh))
			info, err := c.Info(ctx)
			cancel()
			if err != nil {
				w.log.Debug().Err(err).Str("task", n).Msg("consumer info")
				continue
			}
			w.mu.Lock()
			w.setAckWait(n, info.Config.AckWait)
			w.mu.Unlock()
		}
	}
}

// enqueue puts a held delivery on run queue q (w.queue, or a priority's), blocking while it
// is full; once the intake stops, the delivery is handed back instead and frees what it holds.
func (w *Worker) enqueue(d *delivery, q chan *delivery) {
	w.queueMu.RLock()
	defer w.queueMu.RUnlock()
	if w.queueClosed {
		d.freeGrant()
		w.handBackUnstartedAsync(d)
		return
	}
	select {
	case q <- d:
	case <-w.stopCh:
		d.freeGrant()
		w.handBackUnstartedAsync(d)
	}
}

// serve runs one message of a consumer the caller owns (an actor's) through the worker's
// call path: headers checked, h run with panics caught, the result stored, then the message
// acked; progress is reported while it runs. lost is the error the call fails with when its
// attempts ran out because its workers were lost (nil: ErrWorkerLost). It returns when h has
// returned; the ack follows once the broker has stored the result. It must be called while
// Run runs; otherwise the message is handed back (Nak) at once.
func (w *Worker) serve(m jetstream.Msg, name string, h Handler, lost error) {
	d := &delivery{msg: m, h: h, name: name, lost: lost}
	w.hold(d)
	w.mu.Lock()
	ok := w.running && w.taskCtx != nil
	w.mu.Unlock()
	if !ok {
		w.handBackUnstarted(d)
		return
	}
	w.execute(d)
}

// stopIntake stops every puller: no more requests, the calls on their way taken, and those
// not queued handed back.
func (w *Worker) stopIntake() {
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return
	}
	w.stopping = true
	close(w.stopCh)
	w.mu.Unlock()
	w.routeCancel()  // the route watch and pullers: they take nothing more
	w.routeWG.Wait() // the pullers (the watch is joined at the end of Run)
	w.mu.Lock()
	ps := make([]*taskPuller, 0, len(w.consumers))
	for n, p := range w.consumers {
		ps = append(ps, p)
		delete(w.consumers, n)
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(p.stop)
	}
	wg.Wait()
}
