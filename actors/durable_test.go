package actors_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ledger is a durable counter: its state is N and Blob (exported, so JSON by default); tag
// and resumed are not part of it.
type ledger struct {
	N    int    `json:"n"`
	Blob string `json:"blob,omitempty"`
	Tag  string `json:"tag"`

	resumed bool
}

// LedgerView is what Ledger's methods answer.
type LedgerView struct {
	N       int  `json:"n"`
	Resumed bool `json:"resumed"`
}

// ledgerBuilt counts constructor runs per tag.
var ledgerBuilt sync.Map // tag -> *atomic.Int32

func ledgerBuilds(tag string) int32 {
	v, _ := ledgerBuilt.LoadOrStore(tag, new(atomic.Int32))
	return v.(*atomic.Int32).Load()
}

// LedgerSpec is Ledger's constructor input.
type LedgerSpec struct {
	Tag  string `json:"tag"`
	Blob int    `json:"blob,omitempty"` // bytes of state the constructor makes
	Fail bool   `json:"fail,omitempty"` // the constructor fails
}

func (t *ledger) Resumed(context.Context) error {
	t.resumed = true
	return nil
}

var (
	Ledger = actors.Define("Ledger", func(ctx context.Context, in LedgerSpec) (*ledger, error) {
		v, _ := ledgerBuilt.LoadOrStore(in.Tag, new(atomic.Int32))
		v.(*atomic.Int32).Add(1)
		if in.Fail {
			return nil, framework.WithCode("ledger_unbuilt", errors.New("no ledger today"))
		}
		return &ledger{Tag: in.Tag, Blob: strings.Repeat("x", in.Blob)}, nil
	}, actors.Durable(), actors.MaxRestarts(-1))
	LedgerAdd = actors.Method(Ledger, "add", func(t *ledger, _ context.Context, by int) (LedgerView, error) {
		t.N += by
		return LedgerView{N: t.N, Resumed: t.resumed}, nil
	})
	// LedgerGrow adds n bytes to the state and 1 to N.
	LedgerGrow = actors.Method(Ledger, "grow", func(t *ledger, _ context.Context, n int) (LedgerView, error) {
		t.Blob += strings.Repeat("y", n)
		t.N++
		return LedgerView{N: t.N}, nil
	})
	// LedgerBlob adds 1 and answers n bytes.
	LedgerBlob = actors.Method(Ledger, "blob", func(t *ledger, _ context.Context, n int) (string, error) {
		t.N++
		return strings.Repeat("z", n), nil
	})
	// LedgerFail adds by, then fails with a coded error.
	LedgerFail = actors.Method(Ledger, "fail", func(t *ledger, _ context.Context, by int) (LedgerView, error) {
		t.N += by
		return LedgerView{}, framework.WithCode("ledger_refused", fmt.Errorf("refused at %d", t.N))
	})
)

// ledgerWorker starts a worker serving Ledger.
func ledgerWorker(t *testing.T, url string) (c *framework.Client, stop func()) {
	t.Helper()
	return startWorker(t, url, Ledger)
}

// stateKV opens the durable state bucket of c's namespace.
func stateKV(t *testing.T, ctx context.Context, c *framework.Client) jetstream.KeyValue {
	t.Helper()
	kv, err := c.JetStream().KeyValue(ctx, c.Names().StateBucket)
	if err != nil {
		t.Fatalf("state bucket: %v", err)
	}
	return kv
}

// readSnapshot reads the stored snapshot of actor id; ok is false if there is none.
func readSnapshot(t *testing.T, ctx context.Context, c *framework.Client, id string) (hdr wire.StateHeader, state string, ok bool) {
	t.Helper()
	e, err := stateKV(t, ctx, c).Get(ctx, wire.ActorStateKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return hdr, "", false
	}
	if err != nil {
		t.Fatalf("read snapshot: %v", err)
	}
	hdr, st, err := wire.DecodeState(e.Value())
	if err != nil {
		t.Fatal(err)
	}
	return hdr, string(st), true
}

func addN(t *testing.T, ctx context.Context, h *actors.Handle[ledger], n int) LedgerView {
	t.Helper()
	var v LedgerView
	for i := range n {
		var err error
		if v, err = LedgerAdd.Remote(ctx, h, 1).Await(ctx); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	return v
}

// A graceful stop of the worker hosting a durable actor hands it over with its state: the
// next call on the other worker sees every earlier call, the constructor ran once, the
// restored object's Resumed hook ran, and the hand-over counts no restart.
func TestDurableHandOverKeepsState(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	tag := uniqueTag(t)
	drv := testsupport.Connect(t, srv.ClientURL())
	_, stopA := ledgerWorker(t, srv.ClientURL())
	h := Ledger.Remote(ctx, drv, LedgerSpec{Tag: tag})
	if v := addN(t, ctx, h, 5); v.N != 5 || v.Resumed {
		t.Fatalf("before: %+v", v)
	}
	if rec := testsupport.ActorRecord(t, ctx, drv, h.ID()); !rec.Durable {
		t.Fatalf("record: %+v", rec)
	}
	ledgerWorker(t, srv.ClientURL())
	stopA()
	v, err := LedgerAdd.Remote(ctx, h, 1).Await(ctx)
	if err != nil || v.N != 6 || !v.Resumed {
		t.Fatalf("after the hand-over: %+v, %v; want N 6 from a resumed object", v, err)
	}
	if n := ledgerBuilds(tag); n != 1 {
		t.Fatalf("constructor ran %d times, want 1", n)
	}
	rec := testsupport.ActorRecord(t, ctx, drv, h.ID())
	if rec.Restarts != 0 || rec.State != actors.StateAlive {
		t.Fatalf("record after the hand-over: %+v", rec)
	}
	hdr, _, ok := readSnapshot(t, ctx, drv, h.ID())
	if !ok || hdr.Epoch != rec.Epoch || len(hdr.Calls) != 6 || hdr.Last == nil || hdr.Last.ID != hdr.Calls[5] {
		t.Fatalf("snapshot header %+v (ok %v); record epoch %d", hdr, ok, rec.Epoch)
	}
}

// A host whose connection vanishes (a crash, as the other workers see it) loses no state: the
// actor is restarted on the other worker from its snapshot, without its constructor.
func TestDurableRestartAfterWorkerDeath(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	tag := uniqueTag(t)
	drv := testsupport.Connect(t, srv.ClientURL())
	aClient, _ := ledgerWorker(t, srv.ClientURL())
	// MaxTaskRetries(1): the call below may reach the dying worker's consumer before the
	// broker notices the worker is gone, and then counts as run there (not applied: the
	// snapshot does not list it); at-least-once, it runs on the restarted actor.
	h := Ledger.Options(actors.MaxTaskRetries(1)).Remote(ctx, drv, LedgerSpec{Tag: tag})
	addN(t, ctx, h, 4)
	ledgerWorker(t, srv.ClientURL())
	aClient.Conn().Close()
	v, err := LedgerAdd.Remote(ctx, h, 1).Await(ctx)
	if err != nil || v.N != 5 || !v.Resumed {
		t.Fatalf("after the crash: %+v, %v; want N 5 from a resumed object", v, err)
	}
	if n := ledgerBuilds(tag); n != 1 {
		t.Fatalf("constructor ran %d times, want 1", n)
	}
	if rec := testsupport.ActorRecord(t, ctx, drv, h.ID()); rec.Restarts != 1 {
		t.Fatalf("restarts %d, want 1", rec.Restarts)
	}
}

// A call delivered again after its snapshot was written is answered from the snapshot (the
// stored answer, error included) and not applied again; so is an older call the snapshot
// still lists.
func TestDurableRedeliveryAnsweredFromSnapshot(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	tag := uniqueTag(t)
	drv := testsupport.Connect(t, srv.ClientURL())
	ledgerWorker(t, srv.ClientURL())
	h := Ledger.Remote(ctx, drv, LedgerSpec{Tag: tag})
	first := LedgerAdd.Remote(ctx, h, 1)
	if v, err := first.Await(ctx); err != nil || v.N != 1 {
		t.Fatalf("first: %+v, %v", v, err)
	}
	failed := LedgerFail.Remote(ctx, h, 10)
	_, ferr := failed.Await(ctx)
	if !framework.HasCode(ferr, "ledger_refused") || !strings.Contains(ferr.Error(), "refused at 11") {
		t.Fatalf("failing call: %v", ferr)
	}
	// The same calls delivered again (a new message with each call's ID and reply), as a
	// redelivery after a crash would bring them.
	for _, c := range []struct {
		id, method string
		in         int
	}{{first.ID(), "add", 1}, {failed.ID(), "fail", 10}} {
		data, _ := drv.Codec().Marshal(c.in)
		m := &nats.Msg{Subject: drv.Names().ActorSubjectPrefix + h.ID() + "." + c.method, Data: data, Header: nats.Header{
			jetstream.MsgIDHeader: []string{c.id + "-again"},
			wire.HeaderID:         []string{c.id},
			wire.HeaderReply:      []string{framework.ResultSubject(c.id)},
			wire.HeaderTask:       []string{"Ledger." + c.method},
			wire.HeaderActor:      []string{h.ID()},
		}}
		if _, err := drv.JetStream().PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	v, err := LedgerAdd.Remote(ctx, h, 100).Await(ctx)
	if err != nil || v.N != 111 {
		t.Fatalf("after the redeliveries: %+v, %v; want 111 (each call applied once)", v, err)
	}
	other := testsupport.Connect(t, srv.ClientURL())
	var again LedgerView
	if err := other.Resolve(ctx, first.ID(), &again); err != nil || again.N != 1 {
		t.Fatalf("first call's result: %+v, %v", again, err)
	}
}

// Kill deletes the snapshot; Kill with AllowRestart keeps it and the new instance resumes
// with the state.
func TestDurableKill(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	tag := uniqueTag(t)
	drv := testsupport.Connect(t, srv.ClientURL())
	ledgerWorker(t, srv.ClientURL())
	h := Ledger.Remote(ctx, drv, LedgerSpec{Tag: tag})
	addN(t, ctx, h, 3)
	if err := actors.Kill(ctx, h, actors.AllowRestart()); err != nil {
		t.Fatal(err)
	}
	v, err := LedgerAdd.Remote(ctx, h, 1).Await(ctx)
	if err != nil || v.N != 4 || !v.Resumed {
		t.Fatalf("after Kill(AllowRestart): %+v, %v; want N 4 from a resumed object", v, err)
	}
	if n := ledgerBuilds(tag); n != 1 {
		t.Fatalf("constructor ran %d times, want 1", n)
	}
	if _, _, ok := readSnapshot(t, ctx, drv, h.ID()); !ok {
		t.Fatal("no snapshot after Kill(AllowRestart)")
	}
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := readSnapshot(t, ctx, drv, h.ID()); ok {
		t.Fatal("the snapshot is still stored after Kill returned")
	}
	keys, err := stateKV(t, ctx, drv).ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys.Keys() {
		t.Errorf("key %s left in the state bucket", k)
	}
}

// A call that would grow the state past the largest message fails with ErrStateTooLarge and
// is not applied: the object goes back to the stored state. A constructor that builds such a
// state fails creation with it.
func TestDurableStateTooLarge(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	tag := uniqueTag(t)
	drv := testsupport.Connect(t, srv.ClientURL())
	ledgerWorker(t, srv.ClientURL())
	max := int(drv.Conn().MaxPayload())
	h := Ledger.Remote(ctx, drv, LedgerSpec{Tag: tag})
	if v, err := LedgerGrow.Remote(ctx, h, max/2).Await(ctx); err != nil || v.N != 1 {
		t.Fatalf("first growth: %+v, %v", v, err)
	}
	_, err := LedgerGrow.Remote(ctx, h, max/2).Await(ctx)
	if !errors.Is(err, actors.ErrStateTooLarge) {
		t.Fatalf("second growth: %v; want ErrStateTooLarge", err)
	}
	v, err := LedgerAdd.Remote(ctx, h, 0).Await(ctx)
	if err != nil || v.N != 1 {
		t.Fatalf("after the refused growth: %+v, %v; want N 1 (the growth not applied)", v, err)
	}
	if _, st, ok := readSnapshot(t, ctx, drv, h.ID()); !ok || len(st) > max {
		t.Fatalf("snapshot: %d bytes, ok %v", len(st), ok)
	}
	big := Ledger.Remote(ctx, drv, LedgerSpec{Tag: tag, Blob: max})
	if err := big.Ready(ctx); !errors.Is(err, actors.ErrStateTooLarge) {
		t.Fatalf("Ready of an actor built too large: %v; want ErrStateTooLarge", err)
	}
}

// Durable is for plain actors: with max_concurrency above 1 or concurrency groups, Remote's
// handle fails with ErrBadOption and Register refuses such a class.
func TestDurableBadOptions(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	tag := uniqueTag(t)
	drv := testsupport.Connect(t, srv.ClientURL())
	for name, opts := range map[string][]actors.ClassOption{
		"async":           {actors.Async()},
		"max concurrency": {actors.MaxConcurrency(4)},
		"groups":          {actors.ConcurrencyGroups(map[string]int{"io": 1})},
	} {
		t.Run(name, func(t *testing.T) {
			h := Ledger.Options(opts...).Remote(ctx, drv, LedgerSpec{Tag: tag})
			if err := h.Ready(ctx); !errors.Is(err, actors.ErrBadOption) || !strings.Contains(err.Error(), "Durable") {
				t.Fatalf("Ready: %v; want ErrBadOption naming Durable", err)
			}
		})
	}
	type hidden struct{ n int }
	opaque := actors.Define("OpaqueDurable", func(context.Context, int) (*hidden, error) { return &hidden{}, nil }, actors.Durable())
	if err := opaque.Remote(ctx, drv, 0).Ready(ctx); !errors.Is(err, actors.ErrBadOption) || !strings.Contains(err.Error(), "StateCodec") {
		t.Fatalf("Ready of a durable type with no exported fields: %v; want ErrBadOption naming StateCodec", err)
	}
	if err := framework.NewWorker(drv).Register(opaque); !errors.Is(err, actors.ErrBadOption) {
		t.Fatalf("Register of a durable type with no exported fields: %v; want ErrBadOption", err)
	}
	bad := actors.Define("BadDurable", func(context.Context, int) (*ledger, error) { return &ledger{}, nil },
		actors.Durable(), actors.Async())
	w := framework.NewWorker(drv)
	if err := w.Register(bad); !errors.Is(err, actors.ErrBadOption) {
		t.Fatalf("Register: %v; want ErrBadOption", err)
	}
	if got := drv.Names().StateBucket; got != framework.StateBucket {
		t.Fatalf("Names().StateBucket = %q, want %q", got, framework.StateBucket)
	}
}

// counterState is a durable counter with its own state codec: its state is the decimal count.
type counterState struct{ n int }

func (c *counterState) MarshalState() ([]byte, error) { return []byte(strconv.Itoa(c.n)), nil }
func (c *counterState) UnmarshalState(b []byte) (err error) {
	c.n, err = strconv.Atoi(string(b))
	return err
}

var (
	Pipelined = actors.Define("Pipelined", func(context.Context, int) (*counterState, error) { return &counterState{}, nil },
		actors.Durable(), actors.Prefetch(8), actors.MaxRestarts(-1))
	PipelinedAdd = actors.Method(Pipelined, "add", func(c *counterState, _ context.Context, by int) (int, error) {
		c.n += by
		return c.n, nil
	})
)

// A durable plain actor with a Prefetch window and a StateCodec: pipelined calls run in
// order, each stored before its result, across a hand-over; the snapshot is what
// MarshalState wrote.
func TestDurablePrefetchAndStateCodec(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	drv := testsupport.Connect(t, srv.ClientURL())
	_, stopA := startWorker(t, srv.ClientURL(), Pipelined)
	h := Pipelined.Remote(ctx, drv, 0)
	var fs []*futures.Future[int]
	for range 60 {
		fs = append(fs, PipelinedAdd.Remote(ctx, h, 1))
	}
	if _, err := fs[9].Await(ctx); err != nil {
		t.Fatal(err)
	}
	startWorker(t, srv.ClientURL(), Pipelined)
	stopA() // hands the actor over while calls are queued
	for range 40 {
		fs = append(fs, PipelinedAdd.Remote(ctx, h, 1))
	}
	for i, f := range fs {
		if v, err := f.Await(ctx); err != nil || v != i+1 {
			t.Fatalf("call %d: %d, %v; want %d (in order, each applied once)", i, v, err, i+1)
		}
	}
	if _, st, ok := readSnapshot(t, ctx, drv, h.ID()); !ok || st != "100" {
		t.Fatalf("snapshot state %q (ok %v), want MarshalState's \"100\"", st, ok)
	}
}

// A durable actor's constructor error fails Ready as without Durable, and nothing is stored.
func TestDurableConstructorError(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	tag := uniqueTag(t)
	drv := testsupport.Connect(t, srv.ClientURL())
	ledgerWorker(t, srv.ClientURL())
	h := Ledger.Remote(ctx, drv, LedgerSpec{Tag: tag, Fail: true})
	if err := h.Ready(ctx); !framework.HasCode(err, "ledger_unbuilt") || !strings.Contains(err.Error(), "no ledger today") {
		t.Fatalf("Ready: %v; want the constructor's error", err)
	}
	if _, err := LedgerAdd.Remote(ctx, h, 1).Await(ctx); !errors.Is(err, actors.ErrDied) {
		t.Fatalf("call after a failed constructor: %v; want ErrDied", err)
	}
	if _, _, ok := readSnapshot(t, ctx, drv, h.ID()); ok {
		t.Fatal("a snapshot was stored for an actor whose constructor failed")
	}
}

// A durable actor without restarts dies with its worker, and its snapshot is deleted.
func TestDurableDeathWithoutRestartsDeletesState(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	tag := uniqueTag(t)
	drv := testsupport.Connect(t, srv.ClientURL())
	aClient, _ := ledgerWorker(t, srv.ClientURL())
	h := Ledger.Options(actors.MaxRestarts(0)).Remote(ctx, drv, LedgerSpec{Tag: tag})
	addN(t, ctx, h, 2)
	if _, _, ok := readSnapshot(t, ctx, drv, h.ID()); !ok {
		t.Fatal("no snapshot while alive")
	}
	ledgerWorker(t, srv.ClientURL())
	aClient.Conn().Close()
	testsupport.WaitFor(t, 30*time.Second, "the actor DEAD and its snapshot deleted", func() bool {
		_, _, ok := readSnapshot(t, ctx, drv, h.ID())
		return !ok && testsupport.ActorRecord(t, ctx, drv, h.ID()).State == actors.StateDead
	})
}

// uniqueTag names the test's Ledger constructions apart from every other run's (-count).
func uniqueTag(t *testing.T) string { return fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()) }

// An answer too big to keep in the snapshot (over 64 KiB) is still the caller's result; the
// snapshot keeps a failure in its place, and a redelivery is not applied again.
func TestDurableBigAnswerNotKept(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	ctx := testCtx(t)
	drv := testsupport.Connect(t, srv.ClientURL())
	ledgerWorker(t, srv.ClientURL())
	h := Ledger.Remote(ctx, drv, LedgerSpec{Tag: uniqueTag(t)})
	f := LedgerBlob.Remote(ctx, h, 100<<10)
	if out, err := f.Await(ctx); err != nil || len(out) != 100<<10 {
		t.Fatalf("big answer: %d bytes, %v", len(out), err)
	}
	hdr, _, ok := readSnapshot(t, ctx, drv, h.ID())
	if !ok || hdr.Last == nil || hdr.Last.ID != f.ID() || !hdr.Last.Failed || !strings.Contains(string(hdr.Last.Data), "too big to keep") {
		t.Fatalf("snapshot's last answer: %+v", hdr.Last)
	}
	data, _ := drv.Codec().Marshal(100 << 10)
	m := &nats.Msg{Subject: drv.Names().ActorSubjectPrefix + h.ID() + ".blob", Data: data, Header: nats.Header{
		jetstream.MsgIDHeader: []string{f.ID() + "-again"},
		wire.HeaderID:         []string{f.ID()},
		wire.HeaderReply:      []string{framework.ResultSubject(f.ID())},
		wire.HeaderTask:       []string{"Ledger.blob"},
		wire.HeaderActor:      []string{h.ID()},
	}}
	if _, err := drv.JetStream().PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	if v, err := LedgerAdd.Remote(ctx, h, 0).Await(ctx); err != nil || v.N != 1 {
		t.Fatalf("after the redelivery: %+v, %v; want N 1", v, err)
	}
	var again string
	if err := testsupport.Connect(t, srv.ClientURL()).Resolve(ctx, f.ID(), &again); err != nil || len(again) != 100<<10 {
		t.Fatalf("stored result: %d bytes, %v", len(again), err)
	}
}
