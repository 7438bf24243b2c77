package actors

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// StreamMethodDef is a remote method that yields many values, read by the caller as a
// futures.Stream while the method runs.
type StreamMethodDef[A, In, Out any] struct {
	name  string
	full  string
	fn    func(*A, context.Context, In, func(Out) error) error
	opts  []framework.TaskOption // call options of every call, after the handle's
	group string                 // concurrency group; "" the default group
}

// StreamMethod defines the streaming method name of class c: fn calls yield for each value;
// yield returns once the value is stored (see framework.NewStreamTask). Define it before
// registering the class. opts are call options for every call of the method, such as
// framework.StreamWindow(n) (yield then waits while n values are unread by the caller) or
// framework.Timeout; they apply after the class's MaxTaskRetries. Default: none.
func StreamMethod[A, CIn, In, Out any](c *Class[A, CIn], name string, fn func(*A, context.Context, In, func(Out) error) error, opts ...framework.TaskOption) *StreamMethodDef[A, In, Out] {
	m := &StreamMethodDef[A, In, Out]{name: name, full: c.name + "." + name, fn: fn, opts: opts}
	c.methods.add(name, m.invoke)
	return m
}

// Options returns a copy of m whose calls carry opts after m's own, for one call or a family
// of calls: Numbers.Options(framework.StreamWindow(64)).Remote(ctx, h, n). The copy is the same
// method on the wire (define methods with StreamMethod, not with Options).
func (m *StreamMethodDef[A, In, Out]) Options(opts ...framework.TaskOption) *StreamMethodDef[A, In, Out] {
	cp := *m
	cp.opts = append(append([]framework.TaskOption(nil), m.opts...), opts...)
	return &cp
}

// InGroup returns a copy of m whose calls run in the actor's concurrency group name
// (ConcurrencyGroups; "" the default group), for the method as a whole when kept from its
// definition (Numbers := actors.StreamMethod(...).InGroup("io")) or for some calls. A call
// naming a group its actor does not have fails with an error wrapping ErrUnknownGroup.
func (m *StreamMethodDef[A, In, Out]) InGroup(name string) *StreamMethodDef[A, In, Out] {
	cp := *m
	cp.group = name
	return &cp
}

// Group returns the concurrency group the method's calls run in ("" for the default group).
func (m *StreamMethodDef[A, In, Out]) Group() string { return m.group }

// Name returns "Class.method".
func (m *StreamMethodDef[A, In, Out]) Name() string { return m.full }

func (m *StreamMethodDef[A, In, Out]) invoke(obj *A, ctx context.Context, call *framework.Call) ([]byte, error) {
	var in In
	if err := call.Codec.Unmarshal(call.Data, &in); err != nil {
		return nil, framework.NewCallError(framework.KindDecode, fmt.Errorf("decode input of %s into %T: %w", m.full, in, err))
	}
	yield, count := framework.Yielder[Out](ctx)
	if err := m.fn(obj, ctx, in, yield); err != nil {
		return nil, err
	}
	return []byte(strconv.FormatUint(count(), 10)), nil
}

// Remote calls the streaming method on h's actor and returns its stream at once; failures
// (as for MethodDef.Remote) end the stream with the error.
func (m *StreamMethodDef[A, In, Out]) Remote(ctx context.Context, h *Handle[A], in In) *futures.Stream[Out] {
	c, err := clientFor(ctx, h.client)
	if err == nil {
		err = checkCall(ctx, c, h.ref(), h.limit(m.group), m.group, m.name, m.full)
	}
	if err != nil {
		st, w := futures.NewStream[Out](failedID(ctx, h))
		w.Close(err)
		return st
	}
	req, err := h.request(c, m.full, m.name, m.group, false) // streams are not counted against MaxPendingCalls
	if err != nil {
		st, w := futures.NewStream[Out](failedID(ctx, h))
		w.Close(err)
		return st
	}
	req.Options = append(req.Options, m.opts...)
	return framework.SubmitStream[Out](ctx, c, req, in)
}
