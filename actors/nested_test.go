package actors_test

import (
	"context"
	"testing"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

var double = framework.NewTask("double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })

type relayIn struct {
	Target *actors.Handle[counter] `json:"target"`
	N      int                     `json:"n"`
}

// A method that calls a task and then another actor, with the client of its ctx.
var Relay = actors.Method(Counter, "relay", func(c *counter, ctx context.Context, in relayIn) (int, error) {
	cl := framework.ClientFromContext(ctx)
	d, err := double.Remote(ctx, cl, in.N).Await(ctx)
	if err != nil {
		return 0, err
	}
	return Incr.Remote(ctx, in.Target, d).Await(ctx)
})

func TestMethodCallsTaskAndOtherActor(t *testing.T) {
	c := frameworktest.New(t, Counter, double)
	ctx := testCtx(t)
	a := Counter.Remote(ctx, c, 0)
	b := Counter.Remote(ctx, c, 100)
	v, err := Relay.Remote(ctx, a, relayIn{Target: b, N: 21}).Await(ctx)
	if err != nil || v != 142 {
		t.Fatalf("relay = %d, %v; want 142", v, err)
	}
}
