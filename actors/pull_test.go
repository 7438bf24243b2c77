package actors_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/nats-io/nats.go"
)

// TestPullsResumeAfterReconnect: a host whose connection drops and comes back before its
// lease lapses keeps its placements, and their calls are pulled again at once: calls sent
// while it was away made the broker drop its waiting pull requests (no interest), and the
// host must not wait for them to expire (30 s) to pull again. Plain (serial) and async
// actors both.
func TestPullsResumeAfterReconnect(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	p, proxied := testsupport.Proxy(t, srv.ClientURL())
	w, _ := identWorker(t, proxied)
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	plain := Ident.Remote(ctx, drv, IdentSpec{Tag: "reconnect-plain"})
	async := Ident.Options(actors.Async()).Remote(ctx, drv, IdentSpec{Tag: "reconnect-async"})
	hs := []*actors.Handle[ident]{plain, async}
	for _, h := range hs {
		if _, err := Slow.Remote(ctx, h, 0).Await(ctx); err != nil {
			t.Fatal(err)
		}
	}
	epochs := map[string]uint64{}
	for _, h := range hs {
		epochs[h.ID()] = testsupport.ActorRecord(t, ctx, drv, h.ID()).Epoch
	}
	nc := w.Client().Conn()
	p.Cut()
	testsupport.WaitFor(t, 10*time.Second, "the worker to notice the cut", func() bool { return nc.Status() != nats.CONNECTED })
	// Calls sent meanwhile make the broker drop the waiting pull requests: their reply
	// subject has no interest while the worker is away.
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second) // well below the 30 s a forgotten request would take
	defer cancel()
	fs := make([]*futures.Future[Answer], 0, 2*len(hs))
	for _, h := range hs {
		fs = append(fs, Slow.Remote(cctx, h, 0), Slow.Remote(cctx, h, 0))
	}
	for _, h := range hs {
		cons := "actor-" + strings.ReplaceAll(h.ID(), ".", "-") + "-" + strconv.FormatUint(epochs[h.ID()], 10)
		testsupport.WaitFor(t, 10*time.Second, "the broker to drop the pull requests of "+cons, func() bool {
			c, err := drv.JetStream().Consumer(ctx, framework.ActorsStream, cons)
			if err != nil {
				return false
			}
			info, err := c.Info(ctx)
			return err == nil && info.NumWaiting == 0
		})
	}
	p.Restore()
	if _, err := futures.Gather(cctx, fs...); err != nil {
		t.Fatalf("calls after the reconnect: %v", err)
	}
	for _, h := range hs {
		if e := testsupport.ActorRecord(t, ctx, drv, h.ID()).Epoch; e != epochs[h.ID()] {
			t.Skipf("actor %s was placed again (epoch %d, was %d): the worker lost its lease during the cut, so its pulls were not resumed but replaced", h.ID(), e, epochs[h.ID()])
		}
	}
}

// TestPlainActorOrderAcrossPulls: a plain actor's calls run one at a time and in order
// across many pull requests (batches of 64) and calls that arrive while others run.
func TestPlainActorOrderAcrossPulls(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	identWorker(t, srv.ClientURL())
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	h := Ident.Remote(ctx, drv, IdentSpec{Tag: "order"})
	const n = 500
	fs := make([]*futures.Future[Answer], n)
	for i := range fs {
		fs[i] = Who.Remote(ctx, h, struct{}{})
	}
	got, err := futures.Gather(ctx, fs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range got {
		if a.N != i+1 {
			t.Fatalf("call %d ran as call %d", i, a.N)
		}
	}
}
