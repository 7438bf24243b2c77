package bench

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkKeptMessage makes substrate calls one at a time to a work-queue stream on file
// storage: with no kept message (the substrate), with one kept for good (published once), and
// with one moved every keepEvery calls (the kept-message floor; JETRAY_TASKS's task keeper does
// the like). It reports the median latency (of all calls, and of the last quarter: the steady
// state), the process CPU time per call and the stream's block files at the end. A substrate
// call takes about 140 bytes of a 4 MiB block, so run at least 60,000 calls to see what a
// message kept for good does once its block is full:
//
//	go test -run xxx -bench KeptMessage -benchtime 60000x ./cmd/driver/internal/bench
func BenchmarkKeptMessage(b *testing.B) {
	for _, tt := range []struct {
		name  string
		every int // -1: no kept message
	}{{"none", -1}, {"kept-for-good", 0}, {"moved", keepEvery}} {
		b.Run(tt.name, func(b *testing.B) {
			ctx, e := context.Background(), benchEnv(b)
			s, err := substrateOf(ctx, e)
			if err != nil {
				b.Fatal(err)
			}
			stream, subject, before := substrateStream, substrateSubject, func(context.Context) error { return nil }
			if tt.every >= 0 {
				if err := s.keptQueue(ctx); err != nil {
					b.Fatal(err)
				}
				stream, subject, before = keptStream, keptCalls, s.keeper(tt.every)
			}
			call, stop, err := s.caller(subject, before)
			if err != nil {
				b.Fatal(err)
			}
			defer stop()
			lat := make([]time.Duration, 0, b.N)
			cpu0 := cpuTime()
			for b.Loop() {
				t0 := time.Now()
				if err := call(ctx); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.ReportMetric(us(cpuTime()-cpu0)/float64(len(lat)), "cpu-us/call")
			b.ReportMetric(us(measure{lat: lat}.percentile(0.5)), "p50-us")
			b.ReportMetric(us(measure{lat: lat[len(lat)*3/4:]}.percentile(0.5)), "last-quarter-p50-us")
			blocks, _ := filepath.Glob(filepath.Join(e.srv.StoreDir(), "*", "streams", stream, "msgs", "*.blk"))
			b.ReportMetric(float64(len(blocks)), "blocks")
		})
	}
}

// BenchmarkSubstrate runs each substrate and floor row of driver bench once per iteration
// (Params.Duration each, 2 s), reporting calls/s and process CPU time per call: a CPU profile
// of the bare broker's path to set beside driver bench -cpuprofile, which covers jetray's rows
// only:
//
//	go test -run xxx -bench 'Substrate/durable' -benchtime 1x -cpuprofile sub.prof ./cmd/driver/internal/bench
func BenchmarkSubstrate(b *testing.B) {
	for _, c := range cases() {
		if !isSubstrate(c.kind) {
			continue
		}
		b.Run(strings.TrimPrefix(c.name, "substrate: "), func(b *testing.B) {
			ctx, e := context.Background(), benchEnv(b)
			var m measure
			var err error
			for b.Loop() {
				if m, err = c.run(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(m.rate(), "calls/s")
			b.ReportMetric(m.cpuPerOp(), "cpu-us/call")
		})
	}
}

// benchEnv starts an embedded server and the driver's client, with no worker, for a benchmark
// of the substrate; they stop when the benchmark ends.
func benchEnv(b *testing.B) *env {
	b.Helper()
	e, err := startEnv(context.Background(), "", false, DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := e.close(); err != nil {
			b.Error(err)
		}
	})
	return e
}
