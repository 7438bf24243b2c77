package actors_test

import (
	"testing"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// Malformed messages on an actor's subject are terminated; the actor keeps serving in order.
func TestMalformedMessagesOnActorSubject(t *testing.T) {
	env := frameworktest.NewEnv(t, nil, Counter)
	ctx := testCtx(t)
	h := Counter.Remote(ctx, env.Client, 0)
	if v, err := Incr.Remote(ctx, h, 1).Await(ctx); err != nil || v != 1 {
		t.Fatal(v, err)
	}
	nc, err := nats.Connect(env.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	for _, m := range []*nats.Msg{
		{Subject: framework.ActorSubjectPrefix + h.ID() + ".incr", Data: []byte("garbage")},
		{Subject: framework.ActorSubjectPrefix + h.ID() + ".nosuch", Header: nats.Header{wire.HeaderID: {"z.1"}, wire.HeaderReply: {"jetray.result.z.1"}}},
		{Subject: framework.ActorSubjectPrefix + h.ID() + ".incr", Header: nats.Header{wire.HeaderID: {"z.2"}, wire.HeaderReply: {"jetray.result.z.2"}},
			Data: []byte(`"not a number"`)},
	} {
		if _, err := js.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := Incr.Remote(ctx, h, 1).Await(ctx); err != nil || v != 2 {
		t.Fatalf("after malformed messages: %d, %v; want 2", v, err)
	}
	for _, id := range []string{"z.1", "z.2"} {
		var v int
		if err := env.Client.Resolve(ctx, id, &v); err == nil {
			t.Errorf("%s resolved without error", id)
		}
	}
}
