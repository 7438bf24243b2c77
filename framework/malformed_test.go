package framework_test

import (
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// Malformed messages published straight onto a task subject by a raw NATS client are
// terminated and never block other work.
func TestMalformedMessagesOnTaskSubject(t *testing.T) {
	env := frameworktest.NewEnv(t, nil, addTask)
	ctx := testCtx(t)
	if v, err := addTask.Remote(ctx, env.Client, addIn{1, 1}).Await(ctx); err != nil || v != 2 {
		t.Fatal(v, err) // the consumer exists
	}
	nc, err := nats.Connect(env.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	bad := []*nats.Msg{
		{Subject: framework.TaskSubject("add"), Data: []byte("garbage")},
		{Subject: framework.TaskSubject("add"), Header: nats.Header{wire.HeaderID: {"x.1"}}, Data: []byte("{}")},
		{Subject: framework.TaskSubject("add"), Header: nats.Header{wire.HeaderID: {"*.>"}, wire.HeaderReply: {"jetray.result.*.>"}}},
		{Subject: framework.TaskSubject("add"), Header: nats.Header{wire.HeaderID: {"x.2"}, wire.HeaderReply: {"elsewhere"}}},
		{Subject: framework.TaskSubject("add"), Header: nats.Header{wire.HeaderID: {"x.3"}, wire.HeaderReply: {"jetray.result.x.3"},
			wire.HeaderMaxRetries: {"lots"}}},
		{Subject: framework.TaskSubject("add"), Header: nats.Header{wire.HeaderID: {"x.4"}, wire.HeaderReply: {"jetray.result.x.4"},
			wire.HeaderCodec: {"klingon"}}},
		{Subject: framework.TaskSubject("add"), Header: nats.Header{wire.HeaderID: {"x.5"}, wire.HeaderReply: {"jetray.result.x.5"}},
			Data: []byte{0xff, 0xfe}},
	}
	for _, m := range bad {
		if _, err := js.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := addTask.Remote(ctx, env.Client, addIn{20, 22}).Await(ctx); err != nil || v != 42 {
		t.Fatalf("call after malformed messages = %v, %v", v, err)
	}
	// Every malformed message leaves the work queue: terminated, or answered with an error.
	// The task keeper's message (keeper.go) is no call: it is not counted.
	deadline := time.Now().Add(10 * time.Second)
	for {
		keep, left := keepers(ctx, t, env.Client.JetStream(), wire.Names{})
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still in %s (and %d keepers)", left, framework.TasksStream, keep)
		}
		<-time.After(20 * time.Millisecond)
	}
	// The answerable ones got an error result of kind badcall or decode.
	for _, id := range []string{"x.3", "x.4", "x.5"} {
		var v int
		err := env.Client.Resolve(ctx, id, &v)
		te, ok := err.(*framework.TaskError)
		if !ok || (te.Kind != framework.KindBadCall && te.Kind != framework.KindDecode) {
			t.Errorf("%s: %v", id, err)
		}
	}
}
