package testsupport

import (
	"context"
	"testing"
	"time"
)

// pollCap is the longest pause between two checks of a condition.
const pollCap = 50 * time.Millisecond

// Poll checks cond until it holds or d has passed, pausing 1 ms after the first check and
// doubling the pause up to 50 ms; it reports whether cond held.
func Poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for delay := time.Millisecond; ; delay = min(2*delay, pollCap) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		pause := time.NewTimer(delay)
		<-pause.C
	}
}

// WaitFor polls cond as Poll does and fails the test when it does not hold within timeout;
// what names the condition in the failure.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("no %s within %s", what, timeout)
	}
}

// Context returns a context that ends after d or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// WaitNoError calls f as Poll checks a condition until it returns nil, and fails the test,
// with f's last error, when it has not within timeout.
func WaitNoError(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	var err error
	if !Poll(timeout, func() bool { err = f(); return err == nil }) {
		t.Fatalf("no %s within %s: %v", what, timeout, err)
	}
}
