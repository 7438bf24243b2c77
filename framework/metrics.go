package framework

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics records what workers do as Prometheus metrics. Create it with NewMetrics, register
// it (it is a prometheus.Collector) and give it to workers with WithMetrics; several workers
// may share one. A nil *Metrics records nothing.
//
// Metrics (labels in braces):
//
//	jetray_tasks_started_total{name}       calls that started running
//	jetray_tasks_succeeded_total{name}     calls that returned a result
//	jetray_tasks_failed_total{name,kind}   calls answered with an error (kind: TaskError.Kind)
//	jetray_tasks_retried_total{name}       failed calls scheduled for another attempt
//	jetray_task_duration_seconds{name}     run time of the user code (histogram)
//	jetray_calls_in_flight                 calls running now
//	jetray_redeliveries_total{name}        deliveries with attempt > 1
//	jetray_dead_letters_total{name}        calls stored in JETRAY_DEAD
//	jetray_actors{class,state}             actors hosted, by class and state
type Metrics struct {
	started, succeeded, retried, redelivered, dead *prometheus.CounterVec
	failed                                         *prometheus.CounterVec
	duration                                       *prometheus.HistogramVec
	inFlight                                       prometheus.Gauge
	actors                                         *prometheus.GaugeVec

	byName sync.Map // name -> *nameMetrics
}

// nameMetrics caches the children of one name, so the call path does no label lookups.
type nameMetrics struct {
	started, succeeded prometheus.Counter
	duration           prometheus.Observer
}

// NewMetrics returns worker metrics, not yet registered anywhere.
func NewMetrics() *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "jetray", Name: name, Help: help}, labels)
	}
	return &Metrics{
		started:     counter("tasks_started_total", "Calls that started running, by task or Class.method name.", "name"),
		succeeded:   counter("tasks_succeeded_total", "Calls that returned a result.", "name"),
		failed:      counter("tasks_failed_total", "Calls answered with an error, by error kind.", "name", "kind"),
		retried:     counter("tasks_retried_total", "Failed calls scheduled for another attempt.", "name"),
		redelivered: counter("redeliveries_total", "Deliveries of a call beyond its first (attempt > 1).", "name"),
		dead:        counter("dead_letters_total", "Calls that used up their attempts, stored in JETRAY_DEAD.", "name"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "jetray", Name: "task_duration_seconds",
			Help: "Run time of calls, user code only.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12)}, []string{"name"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "jetray", Name: "calls_in_flight",
			Help: "Calls running now."}),
		actors: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "jetray", Name: "actors",
			Help: "Actors hosted by these workers, by class and state."}, []string{"class", "state"}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.started, m.succeeded, m.failed, m.retried, m.redelivered, m.dead,
		m.duration, m.inFlight, m.actors}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *Metrics) name(name string) *nameMetrics {
	if v, ok := m.byName.Load(name); ok {
		return v.(*nameMetrics)
	}
	v, _ := m.byName.LoadOrStore(name, &nameMetrics{started: m.started.WithLabelValues(name),
		succeeded: m.succeeded.WithLabelValues(name), duration: m.duration.WithLabelValues(name)})
	return v.(*nameMetrics)
}

// actorState moves one actor of class from state from to state to ("" for none): the actor
// gauge of from goes down, that of to goes up. Actor hosts call it (internal/seam).
func (m *Metrics) actorState(class, from, to string) {
	if m == nil {
		return
	}
	if from != "" {
		m.actors.WithLabelValues(class, from).Dec()
	}
	if to != "" {
		m.actors.WithLabelValues(class, to).Inc()
	}
}

// callStarted records a call starting and returns the time it started (zero for nil m).
func (m *Metrics) callStarted(name string, attempt int) time.Time {
	if m == nil {
		return time.Time{}
	}
	m.name(name).started.Inc()
	m.inFlight.Inc()
	if attempt > 1 {
		m.redelivered.WithLabelValues(name).Inc()
	}
	return time.Now()
}

func (m *Metrics) callEnded(name string, start time.Time) {
	if m == nil {
		return
	}
	m.inFlight.Dec()
	m.name(name).duration.Observe(time.Since(start).Seconds())
}

func (m *Metrics) succeededCall(name string) {
	if m != nil {
		m.name(name).succeeded.Inc()
	}
}

func (m *Metrics) failedCall(name string, kind Kind) {
	if m != nil {
		m.failed.WithLabelValues(name, string(kind)).Inc()
	}
}

func (m *Metrics) retriedCall(name string) {
	if m != nil {
		m.retried.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) deadLettered(name string) {
	if m != nil {
		m.dead.WithLabelValues(name).Inc()
	}
}

// WithMetrics makes the worker record its calls in m (see Metrics). Default: none.
func WithMetrics(m *Metrics) WorkerOption { return func(c *workerConfig) { c.metrics = m } }

// Metrics returns the worker's metrics (nil without WithMetrics); actor hosts report actor
// states through it.
func (w *Worker) Metrics() *Metrics { return w.cfg.metrics }

// clientMetrics is the driver side: pending futures and submit latency.
type clientMetrics struct {
	pending prometheus.GaugeFunc
	submit  prometheus.Histogram
}

func (cm *clientMetrics) Describe(ch chan<- *prometheus.Desc) {
	cm.pending.Describe(ch)
	cm.submit.Describe(ch)
}

func (cm *clientMetrics) Collect(ch chan<- prometheus.Metric) {
	cm.pending.Collect(ch)
	cm.submit.Collect(ch)
}

// Collector returns a collector of the client's metrics, for a prometheus.Registerer:
// jetray_client_pending_futures (gauge: calls submitted whose result has not arrived) and
// jetray_client_submit_seconds (histogram: from publish to the broker's acknowledgement).
// Submit latency is measured from the first call of Collector on; every call returns the same
// collector.
func (c *Client) Collector() prometheus.Collector {
	if cm := c.metrics.Load(); cm != nil {
		return cm
	}
	cm := &clientMetrics{
		pending: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "jetray", Subsystem: "client",
			Name: "pending_futures", Help: "Calls submitted whose result has not arrived."},
			func() float64 { return float64(c.Pending()) }),
		submit: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "jetray", Subsystem: "client",
			Name: "submit_seconds", Help: "Time from publishing a call to the broker's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
	}
	if !c.metrics.CompareAndSwap(nil, cm) {
		return c.metrics.Load()
	}
	return cm
}
