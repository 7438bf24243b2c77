package framework_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

var benchStream = framework.NewStreamTask("bench_stream", func(_ context.Context, n int, yield func(int) error) error {
	for i := range n {
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

// BenchmarkStreamWindow reads one stream of b.N values as fast as they come, without a window
// and with windows: the cost of asking the reader for credit (once per window/4 values when
// the reader keeps up).
func BenchmarkStreamWindow(b *testing.B) {
	c := frameworktest.New(b, benchStream)
	ctx := context.Background()
	for _, window := range []int{0, 16, 1024} {
		b.Run("window="+strconv.Itoa(window), func(b *testing.B) {
			b.ReportAllocs()
			st := benchStream.Options(framework.StreamWindow(window)).Remote(ctx, c, b.N)
			n := 0
			for v, err := range st.All(ctx) {
				if err != nil || v != n {
					b.Fatalf("value %d = %d, %v", n, v, err)
				}
				n++
			}
			if n != b.N {
				b.Fatalf("%d values, want %d", n, b.N)
			}
		})
	}
}
