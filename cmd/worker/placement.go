package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseLabel reads a -label value, key=value. The worker checks the characters (Register
// fails with ErrInvalidName).
func parseLabel(v string) (key, value string, err error) {
	key, value, ok := strings.Cut(v, "=")
	if !ok {
		return "", "", fmt.Errorf("%q: want key=value", v)
	}
	if key == "" {
		return "", "", fmt.Errorf("%q: empty key", v)
	}
	return key, value, nil
}

// amountSuffixes are the unit suffixes a -resource amount may carry, longest first.
var amountSuffixes = []struct {
	s string
	f float64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

// parseResource reads a -resource value, name=amount: a decimal number, optionally with a
// suffix k, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024), as in memory=64Gi.
func parseResource(v string) (name string, amount float64, err error) {
	name, num, ok := strings.Cut(v, "=")
	if !ok {
		return "", 0, fmt.Errorf("%q: want name=amount", v)
	}
	mult := 1.0
	for _, s := range amountSuffixes {
		if rest, ok := strings.CutSuffix(num, s.s); ok {
			num, mult = rest, s.f
			break
		}
	}
	f, perr := strconv.ParseFloat(num, 64)
	if perr != nil || math.IsInf(f, 0) {
		return "", 0, fmt.Errorf("%q: amount is not a number", v)
	}
	if name == "" || f < 0 {
		return "", 0, fmt.Errorf("%q: want a name and an amount of at least 0", v)
	}
	return name, f * mult, nil
}
