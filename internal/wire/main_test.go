package wire_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives the tests (the server test's server and
// connection must be shut down by their cleanups).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
