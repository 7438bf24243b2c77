package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// serveMetrics serves /metrics on addr (-metrics): the worker's metrics (m), its client's
// (nested calls' pending futures and submit latency), and the Go and process collectors. It
// returns once listening, logging the address ("metrics listening"); the server stops when
// ctx ends, and the returned function waits for that.
func serveMetrics(ctx context.Context, addr string, m *framework.Metrics, c *framework.Client, log zerolog.Logger) (wait func(), err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m, c.Collector(), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageError{"-metrics: " + err.Error()}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("metrics server")
		}
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("metrics listening")
	return func() { <-stopped }, nil
}
