package actors_test

import (
	"errors"
	"testing"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/testsupport"
)

// TestActorsStayInTheirNamespace places a named actor in namespace "blue" and checks that it
// serves calls there while namespace "green", on the same server, neither lists nor finds it
// and can create its own actor under the same name.
func TestActorsStayInTheirNamespace(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	var clients []*framework.Client
	for _, ns := range []string{"blue", "green"} {
		w := testsupport.Connect(t, srv.ClientURL(), framework.WithNamespace(ns))
		wk := framework.NewWorker(w)
		if err := wk.Register(Counter); err != nil {
			t.Fatal(err)
		}
		testsupport.Background(t, wk.Run)
		clients = append(clients, testsupport.Connect(t, srv.ClientURL(), framework.WithNamespace(ns)))
	}
	blue, green := clients[0], clients[1]
	h := Counter.Options(actors.Name("shared")).Remote(ctx, blue, 10)
	if n, err := Incr.Remote(ctx, h, 1).Await(ctx); err != nil || n != 11 {
		t.Fatalf("incr in blue = %d, %v", n, err)
	}
	if _, err := actors.Get(ctx, green, Counter, "shared"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("Get in green: err = %v, want ErrNotFound", err)
	}
	if recs, err := actors.List(ctx, green); err != nil || len(recs) != 0 {
		t.Fatalf("List in green = %v, %v; want none", recs, err)
	}
	g := Counter.Options(actors.Name("shared")).Remote(ctx, green, 100)
	if n, err := Incr.Remote(ctx, g, 1).Await(ctx); err != nil || n != 101 {
		t.Fatalf("incr in green = %d, %v", n, err)
	}
	if recs, err := actors.List(ctx, blue); err != nil || len(recs) != 1 || recs[0].ID != h.ID() {
		t.Fatalf("List in blue = %v, %v; want only %s", recs, err, h.ID())
	}
}
