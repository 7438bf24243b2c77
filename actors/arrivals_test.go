package actors_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/nats-io/nats.go/jetstream"
)

// TestDeliveryLostOnTheWayIsNoAttempt: the broker delivers a call on a connection it has not
// noticed is gone (the host's link went silent, then was cut), so the call never reaches the
// host. Its redelivery by the same consumer, once the host is back, runs it as attempt 1: with
// the default MaxTaskRetries(0) it must run once, not fail with ErrDied as a call that may
// have run. Plain and async actors both.
func TestDeliveryLostOnTheWayIsNoAttempt(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	p, proxied := testsupport.Proxy(t, srv.ClientURL())
	frameworktest.StartExtraWorker(t, proxied, []framework.WorkerOption{framework.WithDrainTimeout(2 * time.Second),
		framework.WithAckWait(time.Second)}, Tally) // a quick redelivery
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	run := strconv.FormatInt(time.Now().UnixNano(), 36) // runs are counted per tag, across -count
	tags := []string{"lost-on-the-way-plain-" + run, "lost-on-the-way-async-" + run}
	hs := []*actors.Handle[tally]{
		Tally.Remote(ctx, drv, TallySpec{Tag: tags[0]}),
		Tally.Options(actors.MaxConcurrency(4)).Remote(ctx, drv, TallySpec{Tag: tags[1]}),
	}
	cons := make([]jetstream.Consumer, len(hs))
	epochs := make([]uint64, len(hs))
	before := make([]uint64, len(hs))
	for i, h := range hs {
		if _, err := Mark.Remote(ctx, h, 1).Await(ctx); err != nil {
			t.Fatal(err)
		}
		epochs[i] = testsupport.ActorRecord(t, ctx, drv, h.ID()).Epoch
		name := "actor-" + strings.ReplaceAll(h.ID(), ".", "-") + "-" + strconv.FormatUint(epochs[i], 10)
		c, err := drv.JetStream().Consumer(ctx, framework.ActorsStream, name)
		if err != nil {
			t.Fatal(err)
		}
		cons[i], before[i] = c, delivered(t, ctx, c)
	}
	// The link goes silent: the broker still sees the host's pull requests waiting and
	// delivers the calls sent now into it.
	p.Blackhole()
	fs := make([]*futures.Future[Answer], len(hs))
	for i, h := range hs {
		fs[i] = Mark.Remote(ctx, h, 2)
	}
	for i, c := range cons {
		testsupport.WaitFor(t, 10*time.Second, "the broker to deliver call 2 of "+tags[i], func() bool {
			return delivered(t, ctx, c) > before[i]
		})
	}
	p.Cut() // the bytes held back are dropped: the deliveries never arrive
	p.Restore()
	for i, f := range fs {
		if _, err := f.Await(ctx); err != nil {
			t.Fatalf("%s: a call that never reached its host: %v", tags[i], err)
		}
	}
	for i, h := range hs {
		if e := testsupport.ActorRecord(t, ctx, drv, h.ID()).Epoch; e != epochs[i] {
			t.Skipf("%s was placed again (epoch %d, was %d): its worker lost its lease, so the call came from a new consumer", tags[i], e, epochs[i])
		}
		if n := delivered(t, ctx, cons[i]) - before[i]; n < 2 {
			t.Fatalf("%s: the consumer delivered call 2 %d time(s), want a delivery lost and a redelivery", tags[i], n)
		}
		if n := runs(tags[i], 2); n != 1 {
			t.Errorf("%s: call 2 ran %d times, want once", tags[i], n)
		}
	}
}

// delivered returns how many deliveries consumer c has made (its delivered consumer sequence).
func delivered(t *testing.T, ctx context.Context, c jetstream.Consumer) uint64 {
	t.Helper()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(fmt.Errorf("consumer info: %w", err))
	}
	return info.Delivered.Consumer
}
