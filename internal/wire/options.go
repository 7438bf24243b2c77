package wire

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Defaults of CallOptions: DefaultCallOptions is the one place they are written.
const (
	DefaultMaxRetries = 3                      // retries after the first attempt: at most 4 runs
	DefaultBackoffMin = 100 * time.Millisecond // first wait before an error retry
	DefaultBackoffMax = 10 * time.Second       // longest wait before an error retry
)

// CallOptions are the options that travel with a call, in its headers: plain data, encoded
// by Encode and read back by DecodeCallOptions. Start from DefaultCallOptions: the zero value
// is not the default (it means one attempt, MaxRetries 0).
//
// A later option is a new field with its header constant, one line in Encode that omits its
// default and one in DecodeCallOptions that reads an absent header as that default, so that
// calls from older builds decode as before.
type CallOptions struct {
	// MaxRetries is how many times the call is run again after a system failure (its worker
	// died, its ack was lost) or, with RetryErrors, an application error. Default 3; 0 runs
	// it at most once; -1 (or any negative value) retries forever.
	MaxRetries int
	// RetryErrors makes application errors (kind error or timeout, not Permanent) retried
	// too, within MaxRetries. Default false.
	RetryErrors bool
	// RetryCodes narrows RetryErrors to the errors whose user error code (see
	// framework.RegisterError) is one of these, comma-separated ("a,b"); "" retries every
	// application error. Each code passes ValidErrorCode. Sent only with RetryErrors.
	RetryCodes string
	// BackoffMin and BackoffMax bound the wait before a retry after an application error:
	// BackoffMin * 2^(attempt-1), at most BackoffMax, jittered. Default 100 ms and 10 s.
	// Millisecond precision on the wire. Sent only with RetryErrors.
	BackoffMin, BackoffMax time.Duration
	// Timeout bounds each attempt; 0 means none (the default). Millisecond precision on the
	// wire: a value under 1 ms is sent as 0, which means none.
	Timeout time.Duration
	// StartWithin bounds the time from submission to the call's start (schedule-to-start),
	// FinishWithin the time from submission to its result (schedule-to-close); 0 means none
	// (the default). Encode does not write them: the submitter turns them into absolute
	// Deadlines when it submits the call.
	StartWithin, FinishWithin time.Duration
	// IdempotencyKey, when not "", makes the call the only one submitted with that key for
	// the results TTL. Its submitter uses it; it is not sent.
	IdempotencyKey string
	// Delay and StartAt hold the call back: until Delay after it is submitted, or until
	// StartAt (at most one is set; zero: at once, the default). Not encoded: the submitting
	// client turns them into a message schedule, and the call that runs carries neither.
	Delay   time.Duration
	StartAt time.Time
	// StreamWindow bounds, for a streaming call, the values yielded and not yet read by the
	// caller: yield blocks while that many are unread. 0 (the default) means no bound. Only
	// streaming calls use it.
	StreamWindow int
}

// DefaultCallOptions returns the options of a call that sets none: MaxRetries 3, no error
// retries, backoff 100 ms to 10 s, no timeout, no stream window.
func DefaultCallOptions() CallOptions {
	return CallOptions{MaxRetries: DefaultMaxRetries, BackoffMin: DefaultBackoffMin, BackoffMax: DefaultBackoffMax}
}

// Encode writes o into h, omitting every option at its default, byte for byte as workers of
// every jetray build read them: HeaderMaxRetries unless 3; HeaderRetryErrors "1" when set;
// HeaderTimeout in milliseconds when positive; HeaderBackoff "<min>,<max>" in milliseconds
// when RetryErrors is set and either bound differs from its default; HeaderStreamWindow when
// positive. It replaces those headers and leaves the others alone; it never removes one
// already in h.
func (o CallOptions) Encode(h nats.Header) {
	if o.MaxRetries != DefaultMaxRetries {
		h[HeaderMaxRetries] = []string{strconv.Itoa(o.MaxRetries)}
	}
	if o.RetryErrors {
		h[HeaderRetryErrors] = []string{cmp.Or(o.RetryCodes, "1")}
	}
	if o.Timeout > 0 {
		h[HeaderTimeout] = []string{strconv.Itoa(int(o.Timeout / time.Millisecond))}
	}
	if o.RetryErrors && (o.BackoffMin != DefaultBackoffMin || o.BackoffMax != DefaultBackoffMax) {
		h[HeaderBackoff] = []string{strconv.Itoa(int(o.BackoffMin/time.Millisecond)) + "," +
			strconv.Itoa(int(o.BackoffMax/time.Millisecond))}
	}
	if o.StreamWindow > 0 {
		h[HeaderStreamWindow] = []string{strconv.Itoa(o.StreamWindow)}
	}
}

// DecodeCallOptions reads the options of a call from its headers; an absent header means the
// default. HeaderMaxRetries, HeaderTimeout and HeaderStreamWindow must be integers, the
// timeout and the window not negative: otherwise it returns a *HeaderError (errors.Is
// ErrBadHeader) and the options read so far, and a worker answers the call with kind badcall.
// A negative MaxRetries reads as -1. HeaderRetryErrors is set by "1" (every application
// error) or a list of error codes (RetryCodes); any other value reads as not set.
// HeaderBackoff is read leniently, as workers always have: a bound that is missing, not an
// integer or not positive keeps its default, and a maximum below the minimum is raised to it.
func DecodeCallOptions(h nats.Header) (CallOptions, error) {
	o := DefaultCallOptions()
	if v := h.Get(HeaderMaxRetries); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return o, &HeaderError{Header: HeaderMaxRetries, Value: v, Reason: strconv.Quote(v) + " is not an integer"}
		}
		o.MaxRetries = max(n, -1)
	}
	if v := h.Get(HeaderTimeout); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return o, &HeaderError{Header: HeaderTimeout, Value: v, Reason: strconv.Quote(v) + " is not an integer"}
		}
		if n < 0 {
			return o, &HeaderError{Header: HeaderTimeout, Value: v, Reason: "negative timeout " + strconv.Itoa(n)}
		}
		o.Timeout = millis(n)
	}
	if v := h.Get(HeaderStreamWindow); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return o, &HeaderError{Header: HeaderStreamWindow, Value: v, Reason: strconv.Quote(v) + " is not an integer"}
		}
		if n < 0 {
			return o, &HeaderError{Header: HeaderStreamWindow, Value: v, Reason: "negative stream window " + strconv.Itoa(n)}
		}
		o.StreamWindow = n
	}
	switch v := h.Get(HeaderRetryErrors); {
	case v == "1":
		o.RetryErrors = true
	case validCodeList(v):
		o.RetryErrors, o.RetryCodes = true, v
	}
	if v := h.Get(HeaderBackoff); v != "" {
		if a, b, ok := strings.Cut(v, ","); ok {
			if x, err := strconv.Atoi(a); err == nil && x > 0 {
				o.BackoffMin = millis(x)
			}
			if y, err := strconv.Atoi(b); err == nil && y > 0 {
				o.BackoffMax = millis(y)
			}
		}
	}
	o.BackoffMax = max(o.BackoffMax, o.BackoffMin)
	return o, nil
}

// millis converts a non-negative count of milliseconds to a Duration, saturating instead of
// overflowing (about 292 years).
func millis(n int) time.Duration {
	if int64(n) > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Millisecond
}

// ValidErrorCode checks a user error code: 1 to 64 characters of letters, digits, '_', '-'
// and '.', starting with a letter (so no code reads as the "1" of HeaderRetryErrors).
func ValidErrorCode(code string) error {
	if code == "" || len(code) > 64 {
		return fmt.Errorf("jetray: error code %q: want 1 to 64 characters", code)
	}
	for i, r := range code {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')) {
			return fmt.Errorf("jetray: error code %q: want letters, digits, '_', '-' or '.', starting with a letter", code)
		}
	}
	return nil
}

// validCodeList reports whether v is a comma-separated list of valid error codes.
func validCodeList(v string) bool {
	if v == "" {
		return false
	}
	for c := range strings.SplitSeq(v, ",") {
		if ValidErrorCode(c) != nil {
			return false
		}
	}
	return true
}
