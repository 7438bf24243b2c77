package wire_test

import (
	"testing"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// The per-call paths: what submit, the worker and the results router run for every call.

func BenchmarkTaskSubject(b *testing.B) {
	n := wire.Names{}
	for b.Loop() {
		_ = n.TaskSubject("add", wire.TaskRoute{})
	}
}

func BenchmarkSplitResultSubject(b *testing.B) {
	n := wire.Names{}
	for b.Loop() {
		n.SplitResultSubject("jetray.result.AbC123xyz789.1z")
	}
}

func BenchmarkEncodeDefaults(b *testing.B) {
	o := wire.DefaultCallOptions()
	h := nats.Header{}
	for b.Loop() {
		o.Encode(h)
	}
}

func BenchmarkDecodeCallOptions(b *testing.B) {
	h := nats.Header{wire.HeaderID: {"c.1"}, wire.HeaderMaxRetries: {"0"}}
	for b.Loop() {
		if _, err := wire.DecodeCallOptions(h); err != nil {
			b.Fatal(err)
		}
	}
}
