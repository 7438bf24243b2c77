package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
)

// connectTimeout bounds how long a connection to the server keeps trying.
const connectTimeout = 10 * time.Second

// env is what the benchmarks run against: a server, the driver's client, the in-process
// worker (unless Config.Worker is false), extra clients for the multi-client benchmarks and
// the substrate.
type env struct {
	p      Params
	url    string
	where  string // for the header line
	srv    *framework.EmbeddedServer
	driver *framework.Client
	run    string // unique per run: actor names

	// The in-process worker's Run, if there is one: cancelWorker drains it, workerDone
	// gives Run's error.
	cancelWorker context.CancelFunc
	workerDone   chan error

	mu     sync.Mutex
	owned  []*framework.Client // every client, closed last-first
	pool   []*framework.Client // clients other than the driver's and the worker's
	actors int                 // actors created, for unique names
	sub    *substrate
}

// startEnv starts an embedded server unless url is given, connects the driver and, with
// worker, runs an in-process worker serving the catalog on a client of its own.
func startEnv(ctx context.Context, url string, worker bool, p Params) (e *env, err error) {
	e = &env{p: p, url: url}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.close())
		}
	}()
	if url == "" {
		if e.srv, err = framework.StartEmbedded(framework.EmbeddedConfig{}); err != nil {
			return nil, err
		}
		e.url = e.srv.ClientURL()
		e.where = "embedded server, file storage"
	} else {
		e.where = "server " + url
	}
	if e.driver, err = e.connect(ctx, "jetray-bench-driver"); err != nil {
		return nil, err
	}
	e.run = e.driver.ID()[:8]
	if !worker {
		e.where += ", external workers"
		return e, nil
	}
	wc, err := e.connect(ctx, "jetray-bench-worker")
	if err != nil {
		return nil, err
	}
	w, err := NewWorker(wc, p)
	if err != nil {
		return nil, err
	}
	// The worker outlives ctx until close: its actors must answer the last benchmark. Calls
	// submitted before its consumers exist wait in the stream, so nothing waits for it here.
	var wctx context.Context
	wctx, e.cancelWorker = context.WithCancel(context.WithoutCancel(ctx))
	e.workerDone = make(chan error, 1)
	go func() { e.workerDone <- w.Run(wctx) }()
	e.where += fmt.Sprintf(", in-process worker (%d slots, prefetch %d) on its own connection", p.Concurrency, p.Prefetch)
	return e, nil
}

func (e *env) connect(ctx context.Context, name string) (*framework.Client, error) {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	c, err := framework.Connect(cctx, e.url, framework.WithName(name), framework.WithReplicas(e.p.Replicas))
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.owned = append(e.owned, c)
	e.mu.Unlock()
	return c, nil
}

// clients returns n clients other than the driver's, each on its own connection, created on
// first use and shared by the benchmarks that need them.
func (e *env) clients(ctx context.Context, n int) ([]*framework.Client, error) {
	for i := len(e.pool); i < n; i++ {
		c, err := e.connect(ctx, fmt.Sprintf("jetray-bench-client-%d", i))
		if err != nil {
			return nil, err
		}
		e.pool = append(e.pool, c)
	}
	return e.pool[:n:n], nil
}

// newActors creates n actors of cls with opts from the driver's client, named uniquely so
// other clients can get handles of their own, and waits until every one is ready.
func newActors(ctx context.Context, e *env, cls *actors.Class[noopActor, struct{}], n int, opts ...actors.ClassOption) ([]string, []*actors.Handle[noopActor], error) {
	names := make([]string, n)
	hs := make([]*actors.Handle[noopActor], n)
	for i := range hs {
		e.mu.Lock()
		e.actors++
		names[i] = fmt.Sprintf("bench-%s-%d", e.run, e.actors)
		e.mu.Unlock()
		hs[i] = cls.Options(append(opts, actors.Name(names[i]))...).Remote(ctx, e.driver, struct{}{})
	}
	for i, h := range hs {
		if err := h.Ready(ctx); err != nil {
			return nil, nil, fmt.Errorf("actor %d of %d (%s): %w", i+1, n, cls.Name(), err)
		}
	}
	return names, hs, nil
}

// handlesFor returns handles bound to client c of the actors named names.
func handlesFor(ctx context.Context, c *framework.Client, cls *actors.Class[noopActor, struct{}], names []string) ([]*actors.Handle[noopActor], error) {
	hs := make([]*actors.Handle[noopActor], len(names))
	for i, name := range names {
		h, err := actors.Get(ctx, c, cls, name)
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	return hs, nil
}

// close tears the substrate down, stops the worker (its actors die with it), closes the
// clients and shuts the server down, in that order.
func (e *env) close() error {
	var err error
	if e.sub != nil {
		err = e.sub.close()
	}
	if e.cancelWorker != nil {
		e.cancelWorker()
		err = errors.Join(err, <-e.workerDone)
		e.cancelWorker = nil
	}
	e.mu.Lock()
	cs := e.owned
	e.owned, e.pool = nil, nil
	e.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		_ = cs[i].Close()
	}
	e.srv.Shutdown()
	return err
}
