package framework

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Client is a connection to a jetray deployment: it submits calls, resolves their futures
// through one results subscription, and is what a Worker serves with. It is safe for
// concurrent use. Create it with Connect; Close it when done.
type Client struct {
	cfg    clientConfig
	nc     *nats.Conn
	js     jetstream.JetStream // submissions; its async handlers belong to the client
	id     string
	ids    idGen
	names  wire.Names // every stream, bucket and subject name of the client's namespace
	log    zerolog.Logger
	codecs codecSet

	results   *resultRouter
	keeper    taskKeeper // keeps the tasks stream's last block alive (keeper.go)
	registry  jetstream.KeyValue
	cancels   jetstream.KeyValue
	known     sync.Map                      // task name -> struct{}: names seen in the registry
	nameWaits nameWaits                     // names that held calls wait for (grace.go)
	routes    sync.Map                      // wire.RouteKey -> struct{}: routes announced (placement.go)
	metrics   atomic.Pointer[clientMetrics] // set by Collector

	sched *scheduling // the tasks stream's message schedules, set in Connect (schedule_stream.go)

	extMu      sync.Mutex
	ext        map[any]any // per-client state of runtimes built on the client (actors)
	closeMu    sync.Mutex
	closeHooks []func()

	connectedAt atomic.Int64 // unix nanoseconds of the last (re)connect; 0 while disconnected
	bg          background   // failure publishes and waits on dependencies; Close joins them
	closeCtx    context.Context
	closeCancel context.CancelFunc // cancels closeCtx when the client closes

	live clientLive // liveness key and probe responder (clientlive.go)

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
}

// Connect dials NATS at url (comma-separated URLs for a cluster), creates the streams and
// buckets jetray needs or checks that existing ones fit, and starts the client's results
// subscription. The connection reconnects forever with backoff. Errors: the server cannot be
// reached before ctx ends, JetStream is not enabled, or an existing stream has an
// incompatible configuration.
func Connect(ctx context.Context, url string, opts ...Option) (*Client, error) {
	cfg := defaultClientConfig()
	for _, o := range opts {
		o(&cfg)
	}
	id := cfg.clientID
	if id == "" {
		id = newClientID()
	} else if err := ValidName(id); err != nil {
		return nil, fmt.Errorf("jetray: client id: %w", err)
	} else if id == wire.TickClientID {
		return nil, fmt.Errorf("jetray: client id %q is reserved for the runs of periodic schedules: %w", id, ErrInvalidName)
	}
	names, err := wire.For(cfg.namespace)
	if err != nil {
		return nil, fmt.Errorf("jetray: namespace: %w", err)
	}
	c := &Client{cfg: cfg, id: id, names: names, log: cfg.log.With().Str("client", id).Logger(), done: make(chan struct{})}
	c.closeCtx, c.closeCancel = context.WithCancel(context.Background())
	c.ids.prefix = id
	if cfg.clientID != "" {
		// A fixed ID outlives the process: start the sequence past any earlier run's, so a
		// restarted driver's call IDs are not taken for duplicates in the dedup window.
		c.ids.seq.Store(uint64(time.Now().UnixNano()))
	}
	c.codecs = codecSet{"json": JSONCodec{}, cfg.codec.Name(): cfg.codec}

	natsOpts := []nats.Option{
		nats.Name(cfg.name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(64 << 20),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			c.connectedAt.Store(0)
			if err != nil && !c.closed.Load() {
				c.log.Warn().Err(err).Msg("disconnected from NATS")
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := c.log.Error().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("NATS error") // permission violations, slow consumers
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.connectedAt.Store(time.Now().UnixNano())
			c.log.Info().Str("url", nc.ConnectedUrl()).Msg("reconnected to NATS")
		}),
	}
	natsOpts = append(natsOpts, cfg.natsOpts...)
	nc, err := connectNATS(ctx, url, natsOpts)
	if err != nil {
		return nil, err
	}
	c.nc = nc
	c.connectedAt.Store(time.Now().UnixNano())
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.maxPending),
		jetstream.WithPublishAsyncTimeout(10*time.Second),
		jetstream.WithPublishAsyncErrHandler(c.onPublishError),
		jetstream.WithPublishAsyncAckHandler(c.onPublishAck),
		jetstream.WithDefaultTimeout(cfg.callTimeout),
	)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetray: jetstream: %w", err)
	}
	c.js = js
	// Set-up requests can time out for a few seconds after a cluster loses its meta leader:
	// retry them with short timeouts until ctx ends.
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.setup(sctx)
		cancel()
		if err == nil {
			c.startLiveness()
			return c, nil
		}
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			nc.Close()
			return nil, err
		}
		c.log.Warn().Err(err).Msg("JetStream set-up timed out; retrying")
	}
}

// apiContext bounds a JetStream API call by the request timeout when ctx has no deadline.
func (c *Client) apiContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.cfg.callTimeout)
}

// Namespace returns the client's namespace (WithNamespace), "" for the default one.
func (c *Client) Namespace() string { return c.names.Namespace() }

// ID returns the client ID that prefixes this client's call IDs.
func (c *Client) ID() string { return c.id }

// connectedFor returns how long the client has been connected to NATS without interruption,
// or 0 while it is disconnected. A runtime judging other processes dead (actor hosts whose
// lease expired) judges only after being connected for a full lease period: a reconnect or a
// broker restart is not evidence that anyone else died.
func (c *Client) connectedFor() time.Duration {
	at := c.connectedAt.Load()
	if at == 0 || !c.nc.IsConnected() {
		return 0
	}
	return time.Since(time.Unix(0, at))
}

// Conn returns the underlying NATS connection. Do not close it; close the Client.
func (c *Client) Conn() *nats.Conn { return c.nc }

// JetStream returns the client's JetStream handle, for inspection and tools.
func (c *Client) JetStream() jetstream.JetStream { return c.js }

// Logger returns the client's logger.
func (c *Client) Logger() zerolog.Logger { return c.log }

// Codec returns the codec the client sends values with.
func (c *Client) Codec() Codec { return c.cfg.codec }

// NewID returns a fresh call ID of this client (<client id>.<sequence>).
func (c *Client) NewID() string { return c.ids.next() }

// Close stops the results subscription, fails every unresolved future of this client with
// ErrClosed, flushes what was published, and closes the connection. Calls already queued keep
// running on workers; their results stay in JETRAY_RESULTS until the TTL. Safe to call twice.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.done)
		c.closeCancel()
		c.closeMu.Lock()
		hooks := c.closeHooks
		c.closeMu.Unlock()
		for _, fn := range hooks {
			fn()
		}
		if c.results != nil {
			c.results.stop()
		}
		if c.nc.IsConnected() {
			select {
			case <-c.js.PublishAsyncComplete():
			case <-time.After(2 * time.Second):
			}
			_ = c.nc.FlushTimeout(2 * time.Second)
		}
		if !c.bg.stop(5 * time.Second) {
			c.log.Warn().Msg("client goroutines still running at close")
		}
		c.nc.Close()
		if c.results != nil {
			c.results.failAll(ErrClosed)
		}
	})
	return c.closeErr
}

// extension returns the per-client value stored under key, creating it with init on first
// use. Runtimes built on the client (actors) keep their per-client state here. init errors are
// returned and not stored.
func (c *Client) extension(key any, init func() (any, error)) (any, error) {
	c.extMu.Lock()
	defer c.extMu.Unlock()
	if v, ok := c.ext[key]; ok {
		return v, nil
	}
	v, err := init()
	if err != nil {
		return nil, err
	}
	if c.ext == nil {
		c.ext = map[any]any{}
	}
	c.ext[key] = v
	return v, nil
}

// dropExtension forgets the value stored under key, so the next extension call recreates it.
func (c *Client) dropExtension(key any) {
	c.extMu.Lock()
	delete(c.ext, key)
	c.extMu.Unlock()
}

// onClose registers fn to run when the client closes, before the connection is closed.
func (c *Client) onClose(fn func()) {
	c.closeMu.Lock()
	c.closeHooks = append(c.closeHooks, fn)
	c.closeMu.Unlock()
}

// Done is closed when the client is closed.
func (c *Client) Done() <-chan struct{} { return c.done }
