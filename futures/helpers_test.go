package futures_test

import (
	"testing"
	"time"
)

// testTimeout bounds every wait on a condition in these tests; reaching it
// means the condition never happened.
const testTimeout = 10 * time.Second

// receive returns the next value from ch, failing the test if none arrives
// within testTimeout.
func receive[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("nothing received within %v", testTimeout)
		panic("unreachable")
	}
}

// isClosed reports, without blocking, whether ch is closed (or ready).
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// tryReceive receives from ch without blocking; ok is false if nothing was
// ready.
func tryReceive[T any](ch <-chan T) (v T, ok bool) {
	select {
	case v = <-ch:
		return v, true
	default:
		return v, false
	}
}
