package actors_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives its tests: every goroutine the actor
// host, the store watch or a reap starts has an owner that stops it and waits for it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
