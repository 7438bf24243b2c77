package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
)

// benchEnv is what the benchmarks run against: a server, the driver's client, the in-process
// worker (unless -no-worker), extra clients for the multi-client benchmarks and the substrate.
type benchEnv struct {
	p      benchParams
	url    string
	where  string // for the header line
	srv    *framework.EmbeddedServer
	driver *framework.Client
	stop   func() error // stops the worker; nil without one
	run    string       // unique per run: actor names

	mu     sync.Mutex
	owned  []*framework.Client // every client, closed last-first
	pool   []*framework.Client // clients other than the driver's and the worker's
	actors int                 // actors created, for unique names
	sub    *substrate
}

// startBenchEnv starts an embedded server unless url is given, connects the driver and, with
// worker, runs an in-process worker serving the bench catalog on a client of its own.
func startBenchEnv(ctx context.Context, url string, worker bool, p benchParams) (env *benchEnv, err error) {
	env = &benchEnv{p: p, url: url}
	defer func() {
		if err != nil {
			err = errors.Join(err, env.close())
		}
	}()
	if url == "" {
		if env.srv, err = framework.StartEmbedded(framework.EmbeddedConfig{}); err != nil {
			return nil, err
		}
		env.url = env.srv.ClientURL()
		env.where = "embedded server, file storage"
	} else {
		env.where = "server " + url
	}
	if env.driver, err = env.connect(ctx, "jetray-bench-driver"); err != nil {
		return nil, err
	}
	env.run = env.driver.ID()[:8]
	if !worker {
		env.where += ", external workers"
		return env, nil
	}
	wc, err := env.connect(ctx, "jetray-bench-worker")
	if err != nil {
		return nil, err
	}
	w, err := newBenchWorker(wc, p)
	if err != nil {
		return nil, err
	}
	env.stop = runWorker(ctx, w)
	env.where += fmt.Sprintf(", in-process worker (%d slots, prefetch %d) on its own connection", p.Concurrency, p.Prefetch)
	return env, nil
}

func (e *benchEnv) connect(ctx context.Context, name string) (*framework.Client, error) {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	c, err := framework.Connect(cctx, e.url, framework.WithName(name))
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
func (e *benchEnv) clients(ctx context.Context, n int) ([]*framework.Client, error) {
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
func newActors(ctx context.Context, e *benchEnv, cls *actors.Class[benchActor, struct{}], n int, opts ...actors.ClassOption) ([]string, []*actors.Handle[benchActor], error) {
	names := make([]string, n)
	hs := make([]*actors.Handle[benchActor], n)
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
func handlesFor(ctx context.Context, c *framework.Client, cls *actors.Class[benchActor, struct{}], names []string) ([]*actors.Handle[benchActor], error) {
	hs := make([]*actors.Handle[benchActor], len(names))
	for i, name := range names {
		h, err := actors.Get(ctx, c, cls, name)
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	return hs, nil
}

// close stops the worker (its actors die with it), closes the clients, tears the substrate
// down and shuts the server down, in that order.
func (e *benchEnv) close() error {
	var err error
	if e.sub != nil {
		err = e.sub.close()
	}
	if e.stop != nil {
		err = errors.Join(err, e.stop())
		e.stop = nil
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
