package chaostest

import (
	"testing"

	"github.com/jetray/jetray/internal/testsupport"
)

// TestMain removes the binaries the tests built. TestChaos checks for leaked goroutines
// itself, once its clients, proxies and processes are closed: that is one of its invariants.
func TestMain(m *testing.M) { testsupport.Main(m) }
