package framework

import (
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Option configures a Client (see Connect).
type Option func(*clientConfig)

type clientConfig struct {
	log          zerolog.Logger
	name         string
	natsOpts     []nats.Option
	codec        Codec
	resultTTL    time.Duration
	maxPending   int
	clientID     string
	namespace    string
	replicas     int
	memory       bool
	callTimeout  time.Duration
	submitRetry  time.Duration
	unknownGrace time.Duration // WithUnknownNameGrace
	clientTTL    time.Duration

	tracerProvider trace.TracerProvider          // nil: the global one
	propagator     propagation.TextMapPropagator // nil: the global one, else TraceContext
}

func defaultClientConfig() clientConfig {
	return clientConfig{
		log:          zerolog.Nop(),
		name:         "jetray",
		codec:        JSONCodec{},
		resultTTL:    time.Hour,
		maxPending:   4096,
		replicas:     1,
		callTimeout:  10 * time.Second,
		submitRetry:  2 * time.Minute,
		unknownGrace: DefaultUnknownNameGrace,
		clientTTL:    ClientTTL,
	}
}

// WithNamespace scopes the client to namespace ns: every stream, KV bucket, object store and
// subject it uses carries ns (JETRAY_<NS>_TASKS, jetray_<ns>_registry, jetray_<ns>.task.<name>,
// ...), so deployments or test suites in different namespaces share one NATS account without
// seeing each other's tasks, actors, results or workers. A namespace is 1 to 32 of a-z, 0-9
// and '-', starting and ending with a letter or digit. Default "": the names jetray has
// always used. Drivers and workers of one deployment must use the same namespace. Connect
// fails with an error wrapping ErrInvalidNamespace for an invalid namespace.
func WithNamespace(ns string) Option { return func(c *clientConfig) { c.namespace = ns } }

// WithLogger sets the logger. Default: silent (zerolog.Nop()).
func WithLogger(l zerolog.Logger) Option { return func(c *clientConfig) { c.log = l } }

// WithName sets the NATS connection name shown by the server. Default "jetray".
func WithName(name string) Option { return func(c *clientConfig) { c.name = name } }

// WithNATSOptions adds nats.go connection options (credentials, TLS, reconnect tuning).
// They are applied after jetray's defaults (reconnect forever with backoff).
func WithNATSOptions(opts ...nats.Option) Option {
	return func(c *clientConfig) { c.natsOpts = append(c.natsOpts, opts...) }
}

// WithCodec sets the codec for the values this client sends. Default JSONCodec. Workers
// accept any codec given to their client with WithCodec, plus JSON.
func WithCodec(codec Codec) Option { return func(c *clientConfig) { c.codec = codec } }

// WithResultTTL sets how long results stay in JETRAY_RESULTS (the stream's MaxAge) when this
// client creates the stream. Default 1 hour. An existing stream keeps its setting.
func WithResultTTL(d time.Duration) Option { return func(c *clientConfig) { c.resultTTL = d } }

// WithClientTTL sets the TTL of the clients liveness bucket (jetray_clients) when this client
// creates it: how long a client's key outlives its last renewal (clients renew every TTL/6).
// A client whose key is gone while a judge has been connected for a full TTL, and which does
// not answer a probe, is judged gone: the actors it owns are killed and references to calls
// it never stored fail. Default ClientTTL (30 s); values below 1 s become 1 s. An existing
// bucket keeps its TTL, and every client and judge uses the bucket's.
func WithClientTTL(d time.Duration) Option {
	return func(c *clientConfig) { c.clientTTL = max(d, time.Second) }
}

// WithMaxPendingPublishes bounds submissions awaiting the broker's acknowledgement; past it
// Remote waits (backpressure) until one completes or its ctx ends. Default 4096.
func WithMaxPendingPublishes(n int) Option {
	return func(c *clientConfig) {
		if n > 0 {
			c.maxPending = n
		}
	}
}

// WithClientID fixes the client ID (a valid name, see ValidName) that prefixes this client's
// call IDs and result subjects, such as for subject permissions per driver. Default: 12
// random characters. Two live clients must never share an ID. "_schedule" is reserved (the
// runs of periodic schedules, TickID): Connect refuses it with ErrInvalidName.
func WithClientID(id string) Option { return func(c *clientConfig) { c.clientID = id } }

// WithReplicas sets the replica count of the streams and buckets this client creates (3 on a
// 3-node cluster). Default 1.
func WithReplicas(n int) Option {
	return func(c *clientConfig) {
		if n > 0 {
			c.replicas = n
		}
	}
}

// WithMemoryStorage makes the streams this client creates memory-backed (lost on a broker
// restart). Default: file storage.
func WithMemoryStorage() Option { return func(c *clientConfig) { c.memory = true } }

// WithRequestTimeout bounds each JetStream API request the client makes when the caller's
// ctx has no deadline. Default 10 s.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *clientConfig) {
		if d > 0 {
			c.callTimeout = d
		}
	}
}

// WithSubmitRetry bounds how long a submission whose publish failed (broker restarting,
// connection lost) is retried with backoff before its future fails. Default 2 minutes.
func WithSubmitRetry(d time.Duration) Option {
	return func(c *clientConfig) {
		if d > 0 {
			c.submitRetry = d
		}
	}
}
