package actors_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

// Count yields start+1 ... start+n, moving the counter.
var Count = actors.StreamMethod(Counter, "count", func(c *counter, ctx context.Context, n int, yield func(int) error) error {
	for range n {
		c.n++
		if err := yield(c.n); err != nil {
			return err
		}
	}
	return nil
})

func TestStreamMethodAndRemoteFrom(t *testing.T) {
	c := frameworktest.New(t, Counter)
	ctx := testCtx(t)
	h := Counter.Remote(ctx, c, 10)
	s := Count.Remote(ctx, h, 5)
	want := 11
	for v, err := range s.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if v != want {
			t.Fatalf("value %d, want %d", v, want)
		}
		want++
	}
	if want != 16 {
		t.Fatalf("stream ended early at %d", want)
	}
	if _, err := s.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after end: %v", err)
	}

	by := framework.Put(ctx, c, 4)
	if v, err := Incr.RemoteFrom(ctx, h, by).Await(ctx); err != nil || v != 19 {
		t.Fatalf("RemoteFrom = %d, %v; want 19", v, err)
	}
}
