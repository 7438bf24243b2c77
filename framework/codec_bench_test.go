package framework_test

import (
	"strings"
	"testing"

	"github.com/jetray/jetray/framework"
)

// Codec benchmarks: what every call pays to encode its input and decode its result with the
// default codec. driver bench's no-op calls send struct{} and return "ok".

type codecPoint struct {
	Name   string            `json:"name"`
	Count  int               `json:"count"`
	Scores []float64         `json:"scores"`
	Tags   map[string]string `json:"tags"`
}

var codecValues = []struct {
	name string
	v    any
	into func() any
}{
	{"empty", struct{}{}, func() any { return new(struct{}) }},
	{"ok", "ok", func() any { return new(string) }},
	{"int", 123456789, func() any { return new(int) }},
	{"struct", codecPoint{Name: "p", Count: 3, Scores: []float64{1.5, 2.5, 3.5}, Tags: map[string]string{"a": "b"}},
		func() any { return new(codecPoint) }},
	{"1KiB", strings.Repeat("x", 1024), func() any { return new(string) }},
}

func BenchmarkJSONCodecMarshal(b *testing.B) {
	var c framework.JSONCodec
	for _, tc := range codecValues {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Marshal(tc.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkJSONCodecUnmarshal(b *testing.B) {
	var c framework.JSONCodec
	for _, tc := range codecValues {
		data, err := c.Marshal(tc.v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := c.Unmarshal(data, tc.into()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
