package futures_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jetray/jetray/futures"
)

func TestSentinelErrors(t *testing.T) {
	sentinels := []error{futures.ErrInvalidNumReturns, futures.ErrDuplicateFuture, futures.ErrNilFuture}
	for i, e := range sentinels {
		if e == nil || !strings.HasPrefix(e.Error(), "futures: ") {
			t.Fatalf("sentinel %d = %v, want a non-nil error prefixed with futures:", i, e)
		}
		for j, other := range sentinels {
			if i != j && errors.Is(e, other) {
				t.Fatalf("%v matches %v", e, other)
			}
		}
	}
}
