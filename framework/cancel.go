package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/jetray/jetray/futures"
	"github.com/nats-io/nats.go/jetstream"
)

// Cancel cancels the call behind f (ray.cancel with recursive=True): a call not yet started
// never runs; a running call sees its ctx cancelled; either way its future fails with
// ErrCancelled (a *TaskError of KindCancelled, or ErrCancelled itself for this client's own
// futures, which fail at once), and it is not retried. Calls the cancelled task submitted are
// cancelled too. Cancelling a finished future is a no-op and returns nil. The cancellation is
// recorded in the jetray_cancel bucket, which every worker watches, for the results TTL.
// Errors: the bucket cannot be written before ctx ends.
func Cancel(ctx context.Context, c *Client, f futures.Awaitable) error {
	select {
	case <-f.Done():
		return nil
	default:
	}
	return c.cancelID(ctx, f.ID())
}

func (c *Client) cancelID(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	actx, cancel := c.apiContext(ctx)
	defer cancel()
	val, _ := json.Marshal(map[string]string{"at": time.Now().UTC().Format(time.RFC3339Nano), "by": c.id})
	if _, err := c.cancels.Put(actx, id, val); err != nil {
		return fmt.Errorf("jetray: cancel %s: %w", id, err)
	}
	if pc := c.results.take(id); pc != nil {
		pc.sink.fail(fmt.Errorf("%w: %s", ErrCancelled, id))
	}
	return nil
}

// cancelWatch is a worker's view of the jetray_cancel bucket: IDs cancelled so far and the
// calls running here, so a cancellation reaches a running call at once.
type cancelWatch struct {
	w  *Worker
	mu sync.Mutex
	// cancelled holds IDs seen in the bucket; entries older than the results TTL are dropped.
	cancelled map[string]time.Time
	running   map[string]*runningCall
}

// runningCall is a call running on this worker, with the calls it submitted.
type runningCall struct {
	cancel   context.CancelCauseFunc
	children []string
}

func newCancelWatch(w *Worker) *cancelWatch {
	return &cancelWatch{w: w, cancelled: map[string]time.Time{}, running: map[string]*runningCall{}}
}

// start replays the bucket, then follows it until ctx ends.
func (cw *cancelWatch) start(ctx context.Context) error {
	kw, err := cw.w.c.cancels.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("jetray: watch cancellations: %w", err)
	}
	synced := make(chan struct{})
	go func(first chan struct{}) {
		defer func() { _ = kw.Stop() }()
		for e := range kw.Updates() {
			if e == nil {
				if first != nil {
					close(first)
					first = nil
				}
				continue
			}
			cw.onCancel(e.Key())
		}
	}(synced)
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	return nil
}

func (cw *cancelWatch) onCancel(id string) {
	cw.mu.Lock()
	cw.cancelled[id] = time.Now()
	rc := cw.running[id]
	var children []string
	if rc != nil {
		children = append(children, rc.children...)
	}
	if len(cw.cancelled) > 100000 {
		cutoff := time.Now().Add(-cw.w.c.cfg.resultTTL)
		for k, at := range cw.cancelled {
			if at.Before(cutoff) {
				delete(cw.cancelled, k)
			}
		}
	}
	cw.mu.Unlock()
	if rc != nil {
		rc.cancel(ErrCancelled)
		for _, child := range children {
			if err := cw.w.c.cancelID(context.Background(), child); err != nil {
				cw.w.log.Warn().Err(err).Str("task_id", child).Msg("cancel child")
			}
		}
	}
}

func (cw *cancelWatch) isCancelled(id string) bool {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	_, ok := cw.cancelled[id]
	return ok
}

// begin registers a running call; end must be called when it returns.
func (cw *cancelWatch) begin(id string, cancel context.CancelCauseFunc) {
	cw.mu.Lock()
	cw.running[id] = &runningCall{cancel: cancel}
	_, already := cw.cancelled[id]
	cw.mu.Unlock()
	if already {
		cancel(ErrCancelled)
	}
}

func (cw *cancelWatch) end(id string) {
	cw.mu.Lock()
	delete(cw.running, id)
	cw.mu.Unlock()
}

// child records that call parent, running here, submitted call child.
func (cw *cancelWatch) child(parent, child string) {
	cw.mu.Lock()
	rc := cw.running[parent]
	if rc != nil {
		rc.children = append(rc.children, child)
	}
	_, cancelled := cw.cancelled[parent]
	cw.mu.Unlock()
	if rc != nil && cancelled {
		_ = cw.w.c.cancelID(context.Background(), child)
	}
}
