package framework

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	log    zerolog.Logger
	codecs codecSet

	results  *resultRouter
	registry jetstream.KeyValue
	cancels  jetstream.KeyValue
	known    sync.Map                      // task name -> struct{}: names seen in the registry
	metrics  atomic.Pointer[clientMetrics] // set by Collector

	extMu   sync.Mutex
	ext     map[any]any // per-client state of runtimes built on the client (actors)
	closeMu sync.Mutex
	onClose []func()

	connectedAt atomic.Int64 // unix nanoseconds of the last (re)connect; 0 while disconnected
	bg          background   // failure publishes and waits on dependencies; Close joins them
	closeCtx    context.Context
	closeCancel context.CancelFunc // cancels closeCtx when the client closes

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
	}
	c := &Client{cfg: cfg, id: id, log: cfg.log.With().Str("client", id).Logger(), done: make(chan struct{})}
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
			return c, nil
		}
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			nc.Close()
			return nil, err
		}
		c.log.Warn().Err(err).Msg("JetStream set-up timed out; retrying")
	}
}

// maxConsumers lifts the server's default of 1,000 consumers per stream on the streams that
// get one consumer per client (results) or per actor (actors); -1 does not lift it.
const maxConsumers = 10_000_000

// connectNATS dials, retrying until ctx ends (a server may still be starting).
func connectNATS(ctx context.Context, url string, opts []nats.Option) (*nats.Conn, error) {
	var lastErr error
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, time.Second) {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		lastErr = err
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || isTLSError(err) {
			break // retrying cannot help
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("jetray: connect %s: %w (last error: %v)", url, ctx.Err(), lastErr)
		case <-time.After(delay):
		}
	}
	return nil, fmt.Errorf("jetray: connect %s: %w", url, lastErr)
}

// isTLSError reports certificate and handshake failures, which a retry cannot fix.
func isTLSError(err error) bool {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var re *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &re) ||
		errors.Is(err, nats.ErrSecureConnRequired) || errors.Is(err, nats.ErrSecureConnWanted) ||
		strings.Contains(err.Error(), "tls: ")
}

func (c *Client) storage() jetstream.StorageType {
	if c.cfg.memory {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// setup creates or checks the streams and buckets and starts the results subscription.
func (c *Client) setup(ctx context.Context) error {
	tasks := jetstream.StreamConfig{
		Name:        TasksStream,
		Description: "jetray task calls, one durable consumer per task name",
		Subjects:    []string{TaskSubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     c.storage(),
		Replicas:    c.cfg.replicas,
		Duplicates:  2 * time.Minute,
	}
	if _, err := c.ensureStream(ctx, tasks); err != nil {
		return err
	}
	results := jetstream.StreamConfig{
		Name:         ResultsStream,
		Description:  "jetray call results, kept until MaxAge",
		Subjects:     []string{ResultSubjectPrefix + ">"},
		Retention:    jetstream.LimitsPolicy,
		Storage:      c.storage(),
		Replicas:     c.cfg.replicas,
		MaxAge:       c.cfg.resultTTL,
		Duplicates:   2 * time.Minute,
		AllowDirect:  true,
		MaxConsumers: maxConsumers,
	}
	rs, err := c.ensureStream(ctx, results)
	if err != nil {
		return err
	}
	actors := jetstream.StreamConfig{
		Name:         ActorsStream,
		Description:  "jetray actor calls; acked calls are purged per actor, MaxAge is a backstop",
		Subjects:     []string{ActorSubjectPrefix + ">"},
		Retention:    jetstream.LimitsPolicy,
		Storage:      c.storage(),
		Replicas:     c.cfg.replicas,
		MaxAge:       24 * time.Hour,
		Duplicates:   2 * time.Minute,
		MaxConsumers: maxConsumers,
	}
	if _, err := c.ensureStream(ctx, actors); err != nil {
		return err
	}
	dead := jetstream.StreamConfig{
		Name:        DeadStream,
		Description: "jetray dead letters: calls that used up their attempts",
		Subjects:    []string{DeadSubjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     c.storage(),
		Replicas:    c.cfg.replicas,
		MaxAge:      7 * 24 * time.Hour,
	}
	if _, err := c.ensureStream(ctx, dead); err != nil {
		return err
	}
	if _, err := c.ensureStream(ctx, c.eventsStreamConfig()); err != nil {
		return err
	}
	if _, err := c.ensureBucket(ctx, jetstream.KeyValueConfig{
		Bucket:      ActorsBucket,
		Description: "jetray: actor records (a.<id>) and names (n.<name>)",
		Storage:     c.storage(),
		Replicas:    c.cfg.replicas,
		History:     1,
	}); err != nil {
		return err
	}
	cancels, err := c.ensureBucket(ctx, jetstream.KeyValueConfig{
		Bucket:      CancelBucket,
		Description: "jetray: cancelled call IDs",
		Storage:     c.storage(),
		Replicas:    c.cfg.replicas,
		TTL:         c.cfg.resultTTL,
	})
	if err != nil {
		return err
	}
	c.cancels = cancels
	kv, err := c.ensureBucket(ctx, jetstream.KeyValueConfig{
		Bucket:      RegistryBucket,
		Description: "jetray: names served by workers",
		Storage:     c.storage(),
		Replicas:    c.cfg.replicas,
	})
	if err != nil {
		return err
	}
	c.registry = kv
	c.results, err = startResults(ctx, c, rs)
	return err
}

// ensureStream creates cfg's stream, or checks that the existing one has the same retention
// and covers the same subjects.
func (c *Client) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	// Look up first: users without create rights can use streams an admin made.
	s, err := c.js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = c.js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // created meanwhile
			s, err = c.js.Stream(ctx, cfg.Name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jetray: stream %s: %w", cfg.Name, err)
	}
	have := s.CachedInfo().Config
	if have.Retention != cfg.Retention || !slices.Equal(have.Subjects, cfg.Subjects) {
		return nil, fmt.Errorf("jetray: stream %s exists with retention %s subjects %v; want %s %v",
			cfg.Name, have.Retention, have.Subjects, cfg.Retention, cfg.Subjects)
	}
	return s, nil
}

func (c *Client) ensureBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	ctx, cancel := c.apiContext(ctx)
	defer cancel()
	kv, err := c.js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = c.js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = c.js.KeyValue(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jetray: bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// apiContext bounds a JetStream API call by the request timeout when ctx has no deadline.
func (c *Client) apiContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.cfg.callTimeout)
}

// ID returns the client ID that prefixes this client's call IDs.
func (c *Client) ID() string { return c.id }

// ConnectedFor returns how long the client has been connected to NATS without interruption,
// or 0 while it is disconnected. A runtime judging other processes dead (actor hosts whose
// lease expired) judges only after being connected for a full lease period: a reconnect or a
// broker restart is not evidence that anyone else died.
func (c *Client) ConnectedFor() time.Duration {
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
		hooks := c.onClose
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

// Extension returns the per-client value stored under key, creating it with init on first
// use. Runtimes built on the client (actors) keep their per-client state here. init errors are
// returned and not stored.
func (c *Client) Extension(key any, init func() (any, error)) (any, error) {
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

// dropExtension forgets the value stored under key, so the next Extension call recreates it.
func (c *Client) dropExtension(key any) {
	c.extMu.Lock()
	delete(c.ext, key)
	c.extMu.Unlock()
}

// OnClose registers fn to run when the client closes, before the connection is closed.
func (c *Client) OnClose(fn func()) {
	c.closeMu.Lock()
	c.onClose = append(c.onClose, fn)
	c.closeMu.Unlock()
}

// Done is closed when the client is closed.
func (c *Client) Done() <-chan struct{} { return c.done }
