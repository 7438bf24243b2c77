package main

import "testing"

func TestParseResource(t *testing.T) {
	tests := []struct {
		in   string
		name string
		want float64
	}{
		{"gpu=4", "gpu", 4},
		{"gpu=0.5", "gpu", 0.5},
		{"memory=64Gi", "memory", 64 << 30},
		{"memory=2G", "memory", 2e9},
		{"slots=3k", "slots", 3000},
		{"nvidia.com/gpu=1", "nvidia.com/gpu", 1},
	}
	for _, tt := range tests {
		name, got, err := parseResource(tt.in)
		if err != nil || name != tt.name || got != tt.want {
			t.Errorf("parseResource(%q) = %q, %v, %v; want %q, %v", tt.in, name, got, err, tt.name, tt.want)
		}
	}
}
