package wire_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// legacyWriteHeaders is framework/task.go's taskConfig.writeHeaders before this package, kept
// here to prove Encode byte-compatible with it.
func legacyWriteHeaders(maxRetries int, retryErrors bool, backoffMin, backoffMax, timeout time.Duration, h nats.Header) {
	itoa := strconv.Itoa
	if maxRetries != 3 {
		h["Jetray-Max-Retries"] = []string{itoa(maxRetries)}
	}
	if retryErrors {
		h["Jetray-Retry-Errors"] = []string{"1"}
	}
	if timeout > 0 {
		h["Jetray-Timeout"] = []string{itoa(int(timeout / time.Millisecond))}
	}
	if retryErrors && (backoffMin != 100*time.Millisecond || backoffMax != 10*time.Second) {
		h["Jetray-Backoff"] = []string{itoa(int(backoffMin/time.Millisecond)) + "," + itoa(int(backoffMax/time.Millisecond))}
	}
}

func encode(o wire.CallOptions) nats.Header {
	h := nats.Header{}
	o.Encode(h)
	return h
}

func TestEncode(t *testing.T) {
	d := wire.DefaultCallOptions()
	with := func(f func(*wire.CallOptions)) wire.CallOptions { o := d; f(&o); return o }
	tests := []struct {
		name string
		opts wire.CallOptions
		want map[string]string
	}{
		{"defaults write nothing", d, map[string]string{}},
		{"max retries 0 (actor calls)", with(func(o *wire.CallOptions) { o.MaxRetries = 0 }), map[string]string{wire.HeaderMaxRetries: "0"}},
		{"unlimited retries", with(func(o *wire.CallOptions) { o.MaxRetries = -1 }), map[string]string{wire.HeaderMaxRetries: "-1"}},
		{"retry errors, default backoff", with(func(o *wire.CallOptions) { o.RetryErrors = true }), map[string]string{wire.HeaderRetryErrors: "1"}},
		{"retry errors, own backoff", with(func(o *wire.CallOptions) {
			o.RetryErrors, o.BackoffMin, o.BackoffMax = true, 5*time.Millisecond, 2*time.Second
		}), map[string]string{wire.HeaderRetryErrors: "1", wire.HeaderBackoff: "5,2000"}},
		{"backoff without retry errors is not sent", with(func(o *wire.CallOptions) { o.BackoffMin = time.Second }), map[string]string{}},
		{"timeout in ms", with(func(o *wire.CallOptions) { o.Timeout = 1500 * time.Millisecond }), map[string]string{wire.HeaderTimeout: "1500"}},
		{"sub-ms timeout truncates", with(func(o *wire.CallOptions) { o.Timeout = 1999 * time.Microsecond }), map[string]string{wire.HeaderTimeout: "1"}},
		{"zero value is not the default", wire.CallOptions{}, map[string]string{wire.HeaderMaxRetries: "0"}},
		{"stream window", with(func(o *wire.CallOptions) { o.StreamWindow = 64 }), map[string]string{wire.HeaderStreamWindow: "64"}},
		{"negative stream window is not sent", with(func(o *wire.CallOptions) { o.StreamWindow = -1 }), map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := encode(tt.opts)
			got := map[string]string{}
			for k, v := range h {
				if len(v) != 1 {
					t.Fatalf("header %s has %d values", k, len(v))
				}
				got[k] = v[0]
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("Encode = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEncodeKeepsOtherHeaders(t *testing.T) {
	h := nats.Header{wire.HeaderID: {"c.1"}, wire.HeaderMaxRetries: {"7"}}
	wire.DefaultCallOptions().Encode(h)
	if h.Get(wire.HeaderID) != "c.1" || h.Get(wire.HeaderMaxRetries) != "7" {
		t.Fatalf("Encode changed headers it does not write: %v", h)
	}
}

func TestDecode(t *testing.T) {
	d := wire.DefaultCallOptions()
	with := func(f func(*wire.CallOptions)) wire.CallOptions { o := d; f(&o); return o }
	tests := []struct {
		name    string
		h       map[string]string
		want    wire.CallOptions
		wantErr string // the exact text workers have always answered with, "" for none
	}{
		{"absent means defaults", nil, d, ""},
		{"max retries", map[string]string{wire.HeaderMaxRetries: "0"}, with(func(o *wire.CallOptions) { o.MaxRetries = 0 }), ""},
		{"negative max retries reads as -1", map[string]string{wire.HeaderMaxRetries: "-9"}, with(func(o *wire.CallOptions) { o.MaxRetries = -1 }), ""},
		{"retry errors 1", map[string]string{wire.HeaderRetryErrors: "1"}, with(func(o *wire.CallOptions) { o.RetryErrors = true }), ""},
		{"retry errors other value", map[string]string{wire.HeaderRetryErrors: "2,x"}, d, ""},
		{"retry errors not a code list", map[string]string{wire.HeaderRetryErrors: "a,,b"}, d, ""},
		{"retry error codes", map[string]string{wire.HeaderRetryErrors: "rate_limited,db.busy"}, with(func(o *wire.CallOptions) { o.RetryErrors, o.RetryCodes = true, "rate_limited,db.busy" }), ""},
		{"timeout", map[string]string{wire.HeaderTimeout: "250"}, with(func(o *wire.CallOptions) { o.Timeout = 250 * time.Millisecond }), ""},
		{"timeout 0 is none", map[string]string{wire.HeaderTimeout: "0"}, d, ""},
		{"huge timeout saturates", map[string]string{wire.HeaderTimeout: "9223372036854775807"}, with(func(o *wire.CallOptions) { o.Timeout = 1<<63 - 1 }), ""},
		{"backoff", map[string]string{wire.HeaderBackoff: "5,2000"}, with(func(o *wire.CallOptions) {
			o.BackoffMin, o.BackoffMax = 5*time.Millisecond, 2*time.Second
		}), ""},
		{"backoff max below min is raised", map[string]string{wire.HeaderBackoff: "500,20"}, with(func(o *wire.CallOptions) {
			o.BackoffMin, o.BackoffMax = 500*time.Millisecond, 500*time.Millisecond
		}), ""},
		{"backoff garbage keeps defaults", map[string]string{wire.HeaderBackoff: "x,y"}, d, ""},
		{"backoff zero min keeps default", map[string]string{wire.HeaderBackoff: "0,50"}, with(func(o *wire.CallOptions) {
			o.BackoffMax = 100 * time.Millisecond
		}), ""},
		{"backoff without comma", map[string]string{wire.HeaderBackoff: "50"}, d, ""},
		{"max retries not an integer", map[string]string{wire.HeaderMaxRetries: "x"}, d, `header Jetray-Max-Retries: "x" is not an integer`},
		{"timeout not an integer", map[string]string{wire.HeaderTimeout: "1.5"}, d, `header Jetray-Timeout: "1.5" is not an integer`},
		{"negative timeout", map[string]string{wire.HeaderTimeout: "-05"}, d, `header Jetray-Timeout: negative timeout -5`},
		{"stream window", map[string]string{wire.HeaderStreamWindow: "8"}, with(func(o *wire.CallOptions) { o.StreamWindow = 8 }), ""},
		{"stream window 0 is none", map[string]string{wire.HeaderStreamWindow: "0"}, d, ""},
		{"stream window not an integer", map[string]string{wire.HeaderStreamWindow: "many"}, d, `header Jetray-Stream-Window: "many" is not an integer`},
		{"negative stream window", map[string]string{wire.HeaderStreamWindow: "-2"}, d, `header Jetray-Stream-Window: negative stream window -2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := nats.Header{}
			for k, v := range tt.h {
				h.Set(k, v)
			}
			got, err := wire.DecodeCallOptions(h)
			if tt.wantErr != "" {
				var he *wire.HeaderError
				if !errors.Is(err, wire.ErrBadHeader) || !errors.As(err, &he) || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q (ErrBadHeader)", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("DecodeCallOptions = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// FuzzCallOptions checks Encode against the framework's former encoder byte for byte, and
// that DecodeCallOptions gives the options back at the wire's millisecond precision.
func FuzzCallOptions(f *testing.F) {
	f.Add(3, false, int64(100), int64(10000), int64(0))
	f.Add(0, true, int64(1), int64(1), int64(1))
	f.Add(-1, true, int64(250), int64(60000), int64(30000))
	f.Fuzz(func(t *testing.T, maxRetries int, retryErrors bool, minMS, maxMS, timeoutMS int64) {
		// The option functions keep MaxRetries >= -1, backoff bounds positive with
		// max >= min, and the timeout >= 0; milliseconds up to a year.
		maxRetries = max(maxRetries, -1)
		minMS, maxMS, timeoutMS = 1+abs(minMS)%(365*24*3600*1000), 1+abs(maxMS)%(365*24*3600*1000), abs(timeoutMS)%(365*24*3600*1000)
		maxMS = max(maxMS, minMS)
		o := wire.CallOptions{MaxRetries: maxRetries, RetryErrors: retryErrors,
			BackoffMin: time.Duration(minMS) * time.Millisecond, BackoffMax: time.Duration(maxMS) * time.Millisecond,
			Timeout: time.Duration(timeoutMS) * time.Millisecond}
		got, want := encode(o), nats.Header{}
		legacyWriteHeaders(o.MaxRetries, o.RetryErrors, o.BackoffMin, o.BackoffMax, o.Timeout, want)
		if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
			t.Fatalf("Encode %+v = %v, former encoder %v", o, got, want)
		}
		back, err := wire.DecodeCallOptions(got)
		if err != nil {
			t.Fatal(err)
		}
		if !o.RetryErrors { // backoff is not sent then
			o.BackoffMin, o.BackoffMax = wire.DefaultBackoffMin, wire.DefaultBackoffMax
		}
		if back != o {
			t.Fatalf("round trip: %+v became %+v", o, back)
		}
	})
}

func abs(n int64) int64 {
	if n < 0 {
		return -(n + 1)
	}
	return n
}

func sorted(h nats.Header) []string {
	var out []string
	for k, v := range h {
		out = append(out, k+"="+strings.Join(v, "|"))
	}
	slices.Sort(out)
	return out
}

// legacyDecode is how workers read the options before this package: decodeCall's headerInt
// for max retries and timeout (framework/decode.go, execute.go), execute's retry-errors test
// and backoffDelay's parse of the backoff.
func legacyDecode(h nats.Header) (maxRetries, timeoutMS int, retryErrors bool, lo, hi time.Duration, bad bool) {
	headerInt := func(key string, def int) (int, bool) {
		v := h.Get(key)
		if v == "" {
			return def, true
		}
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	var ok bool
	if maxRetries, ok = headerInt("Jetray-Max-Retries", 3); !ok {
		return 0, 0, false, 0, 0, true
	}
	if timeoutMS, ok = headerInt("Jetray-Timeout", 0); !ok || timeoutMS < 0 {
		return 0, 0, false, 0, 0, true
	}
	retryErrors = h.Get("Jetray-Retry-Errors") == "1"
	lo, hi = 100*time.Millisecond, 10*time.Second
	if v := h.Get("Jetray-Backoff"); v != "" {
		if a, b, ok := strings.Cut(v, ","); ok {
			if x, err := strconv.Atoi(a); err == nil && x > 0 {
				lo = time.Duration(x) * time.Millisecond
			}
			if y, err := strconv.Atoi(b); err == nil && y > 0 {
				hi = time.Duration(y) * time.Millisecond
			}
		}
	}
	if hi < lo {
		hi = lo
	}
	return maxRetries, timeoutMS, retryErrors, lo, hi, false
}

// FuzzDecodeCallOptions checks DecodeCallOptions against the former decoding for any header
// values: the same calls are bad, and the others get the same options (any negative max
// retries meaning unlimited, as -1).
func FuzzDecodeCallOptions(f *testing.F) {
	f.Add("", "", "", "")
	f.Add("-1", "1", "5,2000", "1500")
	f.Add("x", "", "0,0", "-3")
	f.Fuzz(func(t *testing.T, maxRetries, retryErrors, backoff, timeout string) {
		h := nats.Header{}
		for k, v := range map[string]string{wire.HeaderMaxRetries: maxRetries, wire.HeaderRetryErrors: retryErrors,
			wire.HeaderBackoff: backoff, wire.HeaderTimeout: timeout} {
			if v != "" {
				h.Set(k, v)
			}
		}
		got, err := wire.DecodeCallOptions(h)
		mr, tms, re, lo, hi, bad := legacyDecode(h)
		if bad != (err != nil) {
			t.Fatalf("headers %v: error %v, former decoding bad %v", h, err, bad)
		}
		if bad {
			return
		}
		if mr < 0 {
			mr = -1
		}
		if longNumber(backoff) || longNumber(timeout) {
			return // the former decoding overflowed here; saturation is tested in TestDecode
		}
		want := wire.CallOptions{MaxRetries: mr, RetryErrors: re, BackoffMin: lo, BackoffMax: hi, Timeout: time.Duration(tms) * time.Millisecond}
		if codes := h.Get(wire.HeaderRetryErrors); !re && codes != "" && validCodes(codes) {
			// Former workers ignored a code list; now it selects the errors retried.
			want.RetryErrors, want.RetryCodes = true, codes
		}
		if got != want {
			t.Fatalf("headers %v: %+v, former decoding %+v", h, got, want)
		}
	})
}

// longNumber reports a run of more than 12 digits in s: a count of milliseconds that the
// former decoding could overflow.
func longNumber(s string) bool {
	run := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if run++; run > 12 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// validCodes reports whether v is a comma-separated list of valid error codes.
func validCodes(v string) bool {
	for c := range strings.SplitSeq(v, ",") {
		if wire.ValidErrorCode(c) != nil {
			return false
		}
	}
	return true
}

func TestDeadlinesRoundTrip(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_123)
	tests := []struct {
		name string
		d    wire.Deadlines
		want map[string]string
	}{
		{"none writes nothing", wire.Deadlines{}, map[string]string{}},
		{"start", wire.Deadlines{StartBy: at, StartSchedule: 42},
			map[string]string{wire.HeaderStartBy: "1800000000123", wire.HeaderStartSchedule: "42"}},
		{"close", wire.Deadlines{CloseBy: at}, map[string]string{wire.HeaderCloseBy: "1800000000123"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := nats.Header{}
			tt.d.Encode(h)
			got := map[string]string{}
			for k := range h {
				got[k] = h.Get(k)
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("Encode = %v, want %v", got, tt.want)
			}
			back, err := wire.DecodeDeadlines(h)
			if err != nil || !back.StartBy.Equal(tt.d.StartBy) || !back.CloseBy.Equal(tt.d.CloseBy) || back.StartSchedule != tt.d.StartSchedule {
				t.Fatalf("DecodeDeadlines = %+v, %v; want %+v", back, err, tt.d)
			}
		})
	}
	for _, bad := range []nats.Header{
		{wire.HeaderStartBy: {"soon"}},
		{wire.HeaderCloseBy: {"-5"}},
		{wire.HeaderStartBy: {"5"}, wire.HeaderStartSchedule: {"x"}},
	} {
		if _, err := wire.DecodeDeadlines(bad); !errors.Is(err, wire.ErrBadHeader) {
			t.Errorf("DecodeDeadlines(%v) = %v, want ErrBadHeader", bad, err)
		}
	}
}

func TestIdempotencyKVKeyIsAValidKey(t *testing.T) {
	for _, k := range []string{"", "a", "order 42/ü\x00.*>", strings.Repeat("x", 10000)} {
		key := wire.IdempotencyKVKey(k)
		if len(key) != 45 || !strings.HasPrefix(key, "k.") || strings.ContainsAny(key[2:], ".*> ") {
			t.Errorf("IdempotencyKVKey(%q) = %q", k, key)
		}
	}
	if wire.IdempotencyKVKey("a") == wire.IdempotencyKVKey("b") {
		t.Error("two keys share a hash")
	}
	if wire.InputHash("t", "json", []byte("1")) == wire.InputHash("t", "json", []byte("2")) ||
		wire.InputHash("t", "json", []byte("1")) == wire.InputHash("u", "json", []byte("1")) ||
		wire.InputHash("t", "js", []byte("on1")) == wire.InputHash("t", "json", []byte("1")) {
		t.Error("InputHash does not tell name, codec and input apart")
	}
}
