package actors_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/nats-io/nats.go"
)

// TestActorsWithRoles runs actors under the driver and worker roles of
// testdata/nats/roles.conf (docs/security.md): create, call, look up by name, list and kill,
// a durable actor too, with no permission violation on either side.
func TestActorsWithRoles(t *testing.T) {
	srv := testsupport.EmbeddedFromFile(t, "../testdata/nats/roles.conf")
	ctx := testCtx(t)
	violations := make(chan string, 64)
	connect := func(a framework.Auth) *framework.Client {
		t.Helper()
		return testsupport.ConnectAs(t, srv.ClientURL(), a, framework.WithNATSOptions(nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case violations <- a.User + ": " + err.Error():
				default:
				}
			}
		})))
	}
	connect(framework.Auth{User: "admin", Password: "admin-pass"}) // creates the streams
	w := framework.NewWorker(connect(framework.Auth{User: "worker", Password: "worker-pass", InboxPrefix: "_INBOX.worker"}),
		framework.WithDrainTimeout(5*time.Second))
	if err := w.Register(Counter, Ledger); err != nil {
		t.Fatal(err)
	}
	frameworktest.StartWorker(t, w)
	drv := connect(framework.Auth{User: "drv1", Password: "drv1-pass", ClientID: "drv1"})

	h := Counter.Options(actors.Name("roles")).Remote(ctx, drv, 1)
	if n, err := Incr.Remote(ctx, h, 2).Await(ctx); err != nil || n != 3 {
		t.Fatalf("incr = %d, %v", n, err)
	}
	if _, err := actors.Get(ctx, drv, Counter, "roles"); err != nil {
		t.Fatalf("get by name: %v", err)
	}
	if recs, err := actors.List(ctx, drv); err != nil || len(recs) != 1 {
		t.Fatalf("list = %d records, %v", len(recs), err)
	}
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if _, err := Incr.Remote(ctx, h, 1).Await(ctx); !errors.Is(err, actors.ErrActorDied) {
		t.Fatalf("call after kill: %v", err)
	}
	// A durable actor: the worker creates the state bucket and writes snapshots, Kill purges.
	d := Ledger.Remote(ctx, drv, LedgerSpec{Tag: uniqueTag(t)})
	if v, err := LedgerAdd.Remote(ctx, d, 2).Await(ctx); err != nil || v.N != 2 {
		t.Fatalf("durable add = %+v, %v", v, err)
	}
	if err := actors.Kill(ctx, d); err != nil {
		t.Fatalf("kill durable: %v", err)
	}
	_ = drv.Close() // deletes its results consumer
	select {
	case v := <-violations:
		t.Fatalf("unexpected %s", v)
	default:
	}
}
