package actors_test

// Concurrency groups, ported from Ray's python/ray/tests/test_concurrency_group.py: limits per
// group asserted by peak counts, a per-call override, a slow group that does not starve
// another, unknown groups, and the integrity rules (Kill, hand-over) with a consumer per group.

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/testsupport"
)

// groupStat counts the calls of one label running at once and their peak.
type groupStat struct {
	running, peak, done atomic.Int32
}

var (
	groupStats sync.Map // tag/label -> *groupStat
	groupGates sync.Map // tag/label -> chan struct{}
)

func gstat(tag, label string) *groupStat {
	v, _ := groupStats.LoadOrStore(tag+"/"+label, new(groupStat))
	return v.(*groupStat)
}

func ggate(tag, label string) chan struct{} {
	v, _ := groupGates.LoadOrStore(tag+"/"+label, make(chan struct{}))
	return v.(chan struct{})
}

// release lets every held call of label go (and later ones run through).
func release(tag, label string) { close(ggate(tag, label)) }

// GIn is the input of Grouped's methods: the call counts under Label while it runs, and with
// Hold it runs until its label is released (or its ctx ends); with Delay it runs that long.
type GIn struct {
	Tag   string        `json:"tag"`
	Label string        `json:"label"`
	Hold  bool          `json:"hold,omitempty"`
	Delay time.Duration `json:"delay,omitempty"`
}

type grouped struct{}

func gwork(_ *grouped, ctx context.Context, in GIn) (int, error) {
	s := gstat(in.Tag, in.Label)
	cur := s.running.Add(1)
	defer s.running.Add(-1)
	for {
		p := s.peak.Load()
		if cur <= p || s.peak.CompareAndSwap(p, cur) {
			break
		}
	}
	if in.Hold {
		select {
		case <-ggate(in.Tag, in.Label):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if in.Delay > 0 {
		select {
		case <-time.After(in.Delay):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	s.done.Add(1)
	return int(s.peak.Load()), nil
}

var (
	Grouped = actors.Define("Grouped", func(context.Context, struct{}) (*grouped, error) { return &grouped{}, nil },
		actors.ConcurrencyGroups(map[string]int{"io": 2, "compute": 4}))
	GIO      = actors.Method(Grouped, "io", gwork, actors.ConcurrencyGroup("io"))
	GCompute = actors.Method(Grouped, "compute", gwork, actors.ConcurrencyGroup("compute"))
	GDefault = actors.Method(Grouped, "plain", gwork)
)

func groupedWorker(t *testing.T, url string, opts ...framework.WorkerOption) *frameworktest.ExtraWorker {
	t.Helper()
	return frameworktest.StartExtraWorker(t, url, append([]framework.WorkerOption{framework.WithDrainTimeout(5 * time.Second)}, opts...), Grouped)
}

// waitRunning waits until want calls of each label run at once.
func waitRunning(t *testing.T, tag string, want map[string]int) {
	t.Helper()
	testsupport.WaitFor(t, 30*time.Second, "calls running per group", func() bool {
		for label, n := range want {
			if int(gstat(tag, label).running.Load()) != n {
				return false
			}
		}
		return true
	})
}

// TestConcurrencyGroupLimits (Ray: test_basic): each group runs up to its own limit at once,
// the default group up to max_concurrency, all side by side; every group's consumer has the
// group's limit as MaxAckPending (the broker's bound).
func TestConcurrencyGroupLimits(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	groupedWorker(t, srv.ClientURL())
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	const tag = "limits"
	h := Grouped.Options(actors.Async(), actors.MaxConcurrency(3)).Remote(ctx, drv, struct{}{})
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	var fs []*futures.Future[int]
	for range 8 {
		fs = append(fs,
			GIO.Remote(ctx, h, GIn{Tag: tag, Label: "io", Hold: true}),
			GCompute.Remote(ctx, h, GIn{Tag: tag, Label: "compute", Hold: true}),
			GDefault.Remote(ctx, h, GIn{Tag: tag, Label: "default", Hold: true}))
	}
	waitRunning(t, tag, map[string]int{"io": 2, "compute": 4, "default": 3})
	for group, want := range map[string]int{"": 3, "io": 2, "compute": 4} {
		name := "actor-" + strings.ReplaceAll(h.ID(), ".", "-") + "-1"
		if group != "" {
			name += "+" + group
		}
		c, err := drv.JetStream().Consumer(ctx, framework.ActorsStream, name)
		if err != nil {
			t.Fatalf("consumer of group %q: %v", group, err)
		}
		if got := c.CachedInfo().Config.MaxAckPending; got != want {
			t.Errorf("group %q: MaxAckPending %d, want %d", group, got, want)
		}
	}
	for _, l := range []string{"io", "compute", "default"} {
		release(tag, l)
	}
	if _, err := futures.Gather(ctx, fs...); err != nil {
		t.Fatal(err)
	}
	for label, want := range map[string]int{"io": 2, "compute": 4, "default": 3} {
		if got := int(gstat(tag, label).peak.Load()); got != want {
			t.Errorf("group %s: peak %d calls at once, want %d", label, got, want)
		}
	}
}

// TestConcurrencyGroupPerCall (Ray: .options(concurrency_group=...)): a call can run in
// another group than its method's.
func TestConcurrencyGroupPerCall(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	groupedWorker(t, srv.ClientURL())
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	const tag = "percall"
	h := Grouped.Options(actors.Async()).Remote(ctx, drv, struct{}{})
	if g := GIO.Options(actors.ConcurrencyGroup("compute")).Group(); g != "compute" {
		t.Fatalf("Options copy in group %q", g)
	}
	if GIO.Group() != "io" {
		t.Fatal("Options changed the method itself")
	}
	var fs []*futures.Future[int]
	for range 3 { // io's limit is 2: one waits
		fs = append(fs, GIO.Remote(ctx, h, GIn{Tag: tag, Label: "io", Hold: true}))
	}
	moved := GIO.Options(actors.ConcurrencyGroup("compute"))
	for range 4 { // in compute: all four run while io is full
		fs = append(fs, moved.Remote(ctx, h, GIn{Tag: tag, Label: "moved", Hold: true}))
	}
	// And back to the default group (1000 for Async).
	dflt := GIO.Options(actors.ConcurrencyGroup(""))
	for range 5 {
		fs = append(fs, dflt.Remote(ctx, h, GIn{Tag: tag, Label: "dflt", Hold: true}))
	}
	waitRunning(t, tag, map[string]int{"io": 2, "moved": 4, "dflt": 5})
	for _, l := range []string{"io", "moved", "dflt"} {
		release(tag, l)
	}
	if _, err := futures.Gather(ctx, fs...); err != nil {
		t.Fatal(err)
	}
	if p := gstat(tag, "io").peak.Load(); p != 2 {
		t.Errorf("io peak %d, want 2", p)
	}
}

// TestSlowGroupDoesNotStarveAnother: with every slot of one group busy and more of its calls
// queued, the other groups' calls run at once; on a plain actor too (its default group is
// serial), whose groups run beside it.
func TestSlowGroupDoesNotStarveAnother(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	groupedWorker(t, srv.ClientURL())
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	for _, tc := range []struct {
		name string
		opts []actors.ClassOption
	}{{"plain", nil}, {"async", []actors.ClassOption{actors.Async(), actors.MaxConcurrency(2)}}} {
		t.Run(tc.name, func(t *testing.T) {
			tag := "starve-" + tc.name
			h := Grouped.Options(tc.opts...).Remote(ctx, drv, struct{}{})
			var held []*futures.Future[int]
			for range 7 {
				held = append(held, GIO.Remote(ctx, h, GIn{Tag: tag, Label: "io", Hold: true}))
			}
			held = append(held, GDefault.Remote(ctx, h, GIn{Tag: tag, Label: "slowdefault", Hold: true}))
			waitRunning(t, tag, map[string]int{"io": 2, "slowdefault": 1})
			// io is full with 5 calls queued behind, and a default call runs: compute goes on.
			for i := range 20 {
				if _, err := GCompute.Remote(ctx, h, GIn{Tag: tag, Label: "compute"}).Await(ctx); err != nil {
					t.Fatalf("compute call %d while io is busy: %v", i, err)
				}
			}
			if n := gstat(tag, "io").running.Load(); n != 2 {
				t.Fatalf("io running %d, want 2 (held)", n)
			}
			release(tag, "io")
			release(tag, "slowdefault")
			if _, err := futures.Gather(ctx, held...); err != nil {
				t.Fatal(err)
			}
			if p := gstat(tag, "io").peak.Load(); p != 2 {
				t.Errorf("io peak %d, want 2", p)
			}
		})
	}
}

// TestConcurrencyGroupErrors: a call naming a group its actor lacks fails at once with
// ErrUnknownGroup (also from a handle that travelled as JSON), and bad group declarations fail
// Ready with ErrBadOption.
func TestConcurrencyGroupErrors(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	groupedWorker(t, srv.ClientURL())
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	h := Grouped.Remote(ctx, drv, struct{}{})
	_, err := GIO.Options(actors.ConcurrencyGroup("nope")).Remote(ctx, h, GIn{Tag: "errors", Label: "x"}).Await(ctx)
	if !errors.Is(err, actors.ErrUnknownGroup) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown group: %v", err)
	}
	// An instance declared without groups: the methods' own groups are unknown to it.
	bare := Grouped.Options(actors.ConcurrencyGroups(nil)).Remote(ctx, drv, struct{}{})
	if _, err := GIO.Remote(ctx, bare, GIn{Tag: "errors", Label: "x"}).Await(ctx); !errors.Is(err, actors.ErrUnknownGroup) {
		t.Fatalf("group of an actor without groups: %v", err)
	}
	if _, err := GDefault.Remote(ctx, bare, GIn{Tag: "errors", Label: "x"}).Await(ctx); err != nil {
		t.Fatalf("default group of an actor without groups: %v", err)
	}
	// Through JSON, as a handle inside a task's input: the groups travel with it.
	data, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back actors.Handle[grouped]
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if g := back.ConcurrencyGroups(); g["io"] != 2 || g["compute"] != 4 {
		t.Fatalf("decoded handle groups %v", g)
	}
	for name, groups := range map[string]map[string]int{
		"zero limit":   {"io": 0},
		"empty name":   {"": 2},
		"reserved":     {"_io": 2},
		"bad chars":    {"i.o": 2},
		"limit too hi": {"io": actors.MaxGroupConcurrency + 1},
	} {
		bad := Grouped.Options(actors.ConcurrencyGroups(groups)).Remote(ctx, drv, struct{}{})
		if err := bad.Ready(ctx); !errors.Is(err, actors.ErrBadOption) {
			t.Errorf("%s: Ready %v, want ErrBadOption", name, err)
		}
	}
}

// TestConcurrencyGroupsKill: Kill fails the running and queued calls of every group, and the
// reap leaves no consumer of any group behind.
func TestConcurrencyGroupsKill(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	groupedWorker(t, srv.ClientURL())
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	const tag = "kill"
	h := Grouped.Options(actors.Async(), actors.MaxConcurrency(2)).Remote(ctx, drv, struct{}{})
	var fs []*futures.Future[int]
	for range 4 {
		fs = append(fs,
			GIO.Remote(ctx, h, GIn{Tag: tag, Label: "io", Hold: true}),
			GCompute.Remote(ctx, h, GIn{Tag: tag, Label: "compute", Hold: true}),
			GDefault.Remote(ctx, h, GIn{Tag: tag, Label: "default", Hold: true}))
	}
	waitRunning(t, tag, map[string]int{"io": 2, "compute": 4, "default": 2})
	if err := actors.Kill(ctx, h); err != nil {
		t.Fatal(err)
	}
	for i, f := range fs {
		if _, err := f.Await(ctx); !errors.Is(err, actors.ErrDied) {
			t.Fatalf("call %d after Kill: %v, want ErrDied", i, err)
		}
	}
	prefix := "actor-" + strings.ReplaceAll(h.ID(), ".", "-") + "-"
	testsupport.WaitFor(t, 30*time.Second, "every group's consumer deleted", func() bool {
		return len(groupConsumers(t, ctx, drv, prefix)) == 0
	})
}

// groupConsumers lists the consumers of the actors stream whose names start with prefix.
func groupConsumers(t *testing.T, ctx context.Context, c *framework.Client, prefix string) []string {
	t.Helper()
	var out []string
	for _, n := range actorConsumers(t, ctx, c) {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// TestConcurrencyGroupsHandOver: a worker's graceful stop hands an actor over with the queued
// calls of every group; each call is answered once, and no group ever ran more than its limit
// at once, on either worker.
func TestConcurrencyGroupsHandOver(t *testing.T) {
	srv := testsupport.Embedded(t, framework.EmbeddedConfig{})
	first := groupedWorker(t, srv.ClientURL())
	drv := testsupport.Connect(t, srv.ClientURL())
	ctx := testCtx(t)
	const tag = "handover"
	h := Grouped.Options(actors.Async(), actors.MaxConcurrency(3), actors.MaxRestarts(-1)).Remote(ctx, drv, struct{}{})
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	before := testsupport.ActorRecord(t, ctx, drv, h.ID())
	var fs []*futures.Future[int]
	d := 20 * time.Millisecond
	for range 30 {
		fs = append(fs,
			GIO.Remote(ctx, h, GIn{Tag: tag, Label: "io", Delay: d}),
			GCompute.Remote(ctx, h, GIn{Tag: tag, Label: "compute", Delay: d}),
			GDefault.Remote(ctx, h, GIn{Tag: tag, Label: "default", Delay: d}))
	}
	testsupport.WaitFor(t, 30*time.Second, "some calls of each group done", func() bool {
		return gstat(tag, "io").done.Load() > 2 && gstat(tag, "compute").done.Load() > 2
	})
	groupedWorker(t, srv.ClientURL())
	first.Stop()
	if _, err := futures.Gather(ctx, fs...); err != nil {
		t.Fatalf("calls across the hand-over: %v", err)
	}
	after := testsupport.ActorRecord(t, ctx, drv, h.ID())
	if after.Epoch == before.Epoch || after.Worker == before.Worker {
		t.Fatalf("actor not handed over: epoch %d -> %d, worker %s -> %s", before.Epoch, after.Epoch, before.Worker, after.Worker)
	}
	for label, limit := range map[string]int{"io": 2, "compute": 4, "default": 3} {
		s := gstat(tag, label)
		if p := int(s.peak.Load()); p > limit {
			t.Errorf("group %s: peak %d calls at once, limit %d", label, p, limit)
		}
		if n := s.done.Load(); n < 30 {
			t.Errorf("group %s: %d calls done, want at least 30", label, n)
		}
	}
	if len(after.Groups) != 2 || after.Groups["io"] != 2 {
		t.Errorf("record groups after hand-over: %v", after.Groups)
	}
	// The first placement's consumers, every group's, are gone.
	old := "actor-" + strings.ReplaceAll(h.ID(), ".", "-") + "-" + strconv.FormatUint(before.Epoch, 10)
	for _, n := range groupConsumers(t, ctx, drv, old) {
		if n == old || strings.HasPrefix(n, old+"+") {
			t.Errorf("consumer %s of the handed-over placement left", n)
		}
	}
}
