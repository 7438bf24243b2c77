package framework_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine is still running once every test has ended:
// every goroutine the framework starts has an owner (Worker.Run, Client.Close) that stops
// and waits for it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
