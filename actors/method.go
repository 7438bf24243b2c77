package actors

import (
	"context"
	"fmt"

	"github.com/jetray/jetray/internal/seam"
	"github.com/jetray/jetray/internal/wire"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/nats-io/nats.go"
)

// MethodDef is a remote method of actor type A with input In and output Out.
type MethodDef[A, In, Out any] struct {
	class string
	name  string // wire name of the method
	full  string // Class.method
	fn    func(*A, context.Context, In) (Out, error)
	copts *classConfig
	cfg   methodConfig
}

// Method defines the method name (see framework.ValidName) of class c, run by fn, usually a
// method expression such as (*counter).Incr. Define methods before registering the class on
// a worker: Register binds the methods defined at that moment. opts configure every call of
// the method, such as ConcurrencyGroup("io"). Default: the default concurrency group.
func Method[A, CIn, In, Out any](c *Class[A, CIn], name string, fn func(*A, context.Context, In) (Out, error), opts ...MethodOption) *MethodDef[A, In, Out] {
	m := &MethodDef[A, In, Out]{class: c.name, name: name, full: c.name + "." + name, fn: fn, copts: &c.cfg}
	for _, o := range opts {
		o(&m.cfg)
	}
	c.methods.add(name, m.invoke)
	return m
}

// Options returns a copy of m whose calls use opts after m's own, for one call or a family of
// calls (Ray's method.options): Fetch.Options(actors.ConcurrencyGroup("io")).Remote(ctx, h, in).
// The copy is the same method on the wire (define methods with Method, not with Options).
func (m *MethodDef[A, In, Out]) Options(opts ...MethodOption) *MethodDef[A, In, Out] {
	cp := *m
	for _, o := range opts {
		o(&cp.cfg)
	}
	return &cp
}

// Group returns the concurrency group the method's calls run in ("" for the default group).
func (m *MethodDef[A, In, Out]) Group() string { return m.cfg.group }

// Name returns "Class.method".
func (m *MethodDef[A, In, Out]) Name() string { return m.full }

func (m *MethodDef[A, In, Out]) invoke(obj *A, ctx context.Context, call *framework.Call) ([]byte, error) {
	var in In
	if err := call.Codec.Unmarshal(call.Data, &in); err != nil {
		return nil, framework.NewCallError(framework.KindDecode, fmt.Errorf("decode input of %s into %T: %w", m.full, in, err))
	}
	out, err := m.fn(obj, ctx, in)
	if err != nil {
		return nil, err
	}
	data, err := call.Codec.Marshal(out)
	if err != nil {
		return nil, framework.NewCallError(framework.KindEncode, fmt.Errorf("encode output of %s: %w", m.full, err))
	}
	return data, nil
}

// Remote calls the method on the actor h refers to and returns the future of its result at
// once. Calls from one client to a max_concurrency-1 actor run in the order submitted. It
// fails fast (through the future) with an error wrapping ErrActorDied when the actor is known
// dead or its constructor failed, ErrSelfDeadlock for a max_concurrency-1 actor calling
// itself, and ErrNoClient for a decoded handle called outside a task.
func (m *MethodDef[A, In, Out]) Remote(ctx context.Context, h *Handle[A], in In) *futures.Future[Out] {
	c, err := clientFor(ctx, h.client)
	if err != nil {
		return futures.Failed[Out](failedID(ctx, h), err)
	}
	if err := m.check(ctx, c, h); err != nil {
		return futures.Failed[Out](failedID(ctx, h), err)
	}
	req, err := h.request(c, m.full, m.name, m.cfg.group, true)
	if err != nil {
		return futures.Failed[Out](failedID(ctx, h), err)
	}
	return framework.Submit[Out](ctx, c, req, in)
}

// request describes a call of method name on h in concurrency group group, counting it
// against MaxPendingCalls. Streams are not counted (counted false). A group the actor does
// not have is an error wrapping ErrUnknownGroup.
func (h *Handle[A]) request(c *framework.Client, full, name, group string, counted bool) (framework.Request, error) {
	req := framework.Request{
		Name:    full,
		Header:  nats.Header{wire.HeaderActor: []string{h.id}},
		Options: []framework.TaskOption{framework.MaxRetries(h.maxTaskRetries)},
	}
	if group != "" && h.groups[group] == 0 {
		return req, fmt.Errorf("%w: %s runs in group %q, which actor %s (%s) does not have (its groups: %v)",
			ErrUnknownGroup, full, group, h.class, h.id, sortedGroups(h.groups))
	}
	route := seam.Route{Subject: namesOf(c).ActorSubject(h.id, group, name), Unregistered: true}
	if h.pending != nil && counted {
		if n := h.pending.Add(1); h.maxPending > 0 && n > int64(h.maxPending) {
			h.pending.Add(-1)
			return req, fmt.Errorf("%w: %d calls of %s (%s) unresolved", ErrPendingCallsLimit, h.maxPending, h.class, h.id)
		}
		route.OnDone = func() { h.pending.Add(-1) }
	}
	setRoute(&req, route)
	return req, nil
}

// Pending returns the calls of this handle that have not resolved yet.
func (h *Handle[A]) Pending() int {
	if h.pending == nil {
		return 0
	}
	return int(h.pending.Load())
}

// RemoteFrom calls the method with dep's value once dep resolves, without sending anything
// while it is pending (like framework.Task.RemoteFrom); if dep fails the call never runs and
// its future fails with an error wrapping dep's error.
func (m *MethodDef[A, In, Out]) RemoteFrom(ctx context.Context, h *Handle[A], dep *futures.Future[In]) *futures.Future[Out] {
	c, err := clientFor(ctx, h.client)
	if err != nil {
		return futures.Failed[Out](failedID(ctx, h), err)
	}
	if err := m.check(ctx, c, h); err != nil {
		return futures.Failed[Out](failedID(ctx, h), err)
	}
	req, err := h.request(c, m.full, m.name, m.cfg.group, true)
	if err != nil {
		return futures.Failed[Out](failedID(ctx, h), err)
	}
	return framework.SubmitFrom[In, Out](ctx, c, req, dep)
}

// failedID gives a call that fails before it is sent an ID of its own, so several such futures
// can be waited on together.
func failedID[A any](ctx context.Context, h *Handle[A]) string {
	if c, err := clientFor(ctx, h.client); err == nil {
		return c.NewID()
	}
	return h.id + ".failed"
}

// check fails fast for calls that cannot succeed: a bad name, an actor known dead or whose
// constructor failed, or a max_concurrency-1 actor calling itself.
func (m *MethodDef[A, In, Out]) check(ctx context.Context, c *framework.Client, h *Handle[A]) error {
	return checkCall(ctx, c, h.ref(), h.limit(m.cfg.group), m.cfg.group, m.name, m.full)
}

// checkCall checks a call of method name (full: Class.method) in concurrency group group,
// whose limit is maxConc, on the actor h.
func checkCall(ctx context.Context, c *framework.Client, h *handleData, maxConc int, group, name, full string) error {
	if err := framework.ValidName(name); err != nil {
		return err
	}
	if h.ready != nil && h.ready.Resolved() {
		if err := h.ready.Err(); err != nil {
			return fmt.Errorf("%w: %s (%s): constructor failed: %w", ErrActorDied, h.class, h.id, err)
		}
	}
	s, err := storeOf(ctx, c)
	if err != nil {
		return err
	}
	if err := s.deadErr(h.id); err != nil {
		return err
	}
	if call := framework.CallFromContext(ctx); call != nil && maxConc == 1 && call.Header.Get(wire.HeaderActor) == h.id &&
		!isCreation(call.Name) && currentGroup(ctx) == group {
		return fmt.Errorf("%w: %s calls itself from %s", ErrSelfDeadlock, full, call.Name)
	}
	return nil
}

// currentGroup is the concurrency group of the actor method running in ctx ("" for the
// default group, or outside a method).
func currentGroup(ctx context.Context) string {
	if sc, _ := ctx.Value(selfKey{}).(*selfCall); sc != nil && sc.ln != nil {
		return sc.ln.group
	}
	return ""
}

// isCreation reports whether name is an actor creation call's.
func isCreation(name string) bool {
	_, ok := wire.ActorClassOf(name)
	return ok
}
