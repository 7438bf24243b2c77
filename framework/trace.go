package framework

import (
	"context"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of jetray's spans.
const tracerName = "github.com/jetray/jetray"

// unsetTracerProvider is the global provider before anyone sets one: tracing is off (and
// costs nothing on the call path) while otel.GetTracerProvider returns it.
var unsetTracerProvider = otel.GetTracerProvider()

var unsetPropagator = otel.GetTextMapPropagator()

// WithTracerProvider sets the OpenTelemetry tracer provider for the client and its workers'
// spans ("submit <name>", "queue <name>", "execute <name>"). Default: the global provider
// (otel.SetTracerProvider), checked on every call; tracing is off until one is set.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *clientConfig) { c.tracerProvider = tp }
}

// WithPropagator sets how trace context is written to and read from call headers. Default:
// the global propagator if one was set (otel.SetTextMapPropagator), else W3C Trace Context.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *clientConfig) { c.propagator = p }
}

// tracing returns the tracer and propagator to use for one call; ok is false when tracing is
// off (no provider set).
func (c *Client) tracing() (tr trace.Tracer, prop propagation.TextMapPropagator, ok bool) {
	tp := c.cfg.tracerProvider
	if tp == nil {
		if tp = otel.GetTracerProvider(); tp == unsetTracerProvider {
			return nil, nil, false
		}
	}
	prop = c.cfg.propagator
	if prop == nil {
		if prop = otel.GetTextMapPropagator(); prop == unsetPropagator {
			prop = propagation.TraceContext{}
		}
	}
	return tp.Tracer(tracerName), prop, true
}

// headerCarrier reads and writes trace context in NATS message headers.
type headerCarrier nats.Header

func (h headerCarrier) Get(key string) string { return nats.Header(h).Get(key) }
func (h headerCarrier) Set(key, value string) { nats.Header(h).Set(key, value) }
func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// startSubmitSpan starts the "submit <name>" span and writes its context into h. Nil when
// tracing is off.
func (c *Client) startSubmitSpan(ctx context.Context, name, id string, h nats.Header) trace.Span {
	tr, prop, ok := c.tracing()
	if !ok {
		return nil
	}
	ctx, span := tr.Start(ctx, "submit "+name, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("jetray.task", name), attribute.String("jetray.task_id", id)))
	prop.Inject(ctx, headerCarrier(h))
	return span
}

// startExecuteSpans records the "queue <name>" span (from the broker storing the call to now)
// and starts "execute <name>", both children of the submit span in the call's headers. It
// returns ctx carrying the execute span, or ctx and nil when tracing is off.
func (w *Worker) startExecuteSpans(ctx context.Context, call *Call, queuedAt time.Time) (context.Context, trace.Span) {
	tr, prop, ok := w.c.tracing()
	if !ok {
		return ctx, nil
	}
	ctx = prop.Extract(ctx, headerCarrier(call.Header))
	attrs := trace.WithAttributes(attribute.String("jetray.task", call.Name), attribute.String("jetray.task_id", call.ID),
		attribute.Int("jetray.attempt", call.Attempt), attribute.String("jetray.worker", w.cfg.name))
	if !queuedAt.IsZero() {
		_, q := tr.Start(ctx, "queue "+call.Name, trace.WithTimestamp(queuedAt), attrs)
		q.End()
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), attrs}
	if actor := call.Header.Get(wire.HeaderActor); actor != "" {
		opts = append(opts, trace.WithAttributes(attribute.String("jetray.actor_id", actor)))
	}
	return tr.Start(ctx, "execute "+call.Name, opts...)
}

// endSpan ends span (nil: nothing), marking it failed when err is not nil.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
