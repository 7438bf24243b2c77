package futures

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNoResolver: a future that arrived as a reference inside a value was awaited with a ctx
// that carries no Resolver. The ctx of a running jetray task or method always has one.
var ErrNoResolver = errors.New("futures: no resolver in ctx for a future reference")

// Resolver fetches the value of a future by ID from wherever results are kept. The runtime
// puts one in the ctx of every task and method it runs (see WithResolver), so a future that
// travelled inside a task's input can be awaited there.
type Resolver interface {
	// Resolve waits until the result with id exists or ctx ends, then decodes the value into
	// into (a pointer) or returns the error the result carries.
	Resolve(ctx context.Context, id string, into any) error
}

type resolverKey struct{}

// WithResolver returns ctx carrying r.
func WithResolver(ctx context.Context, r Resolver) context.Context {
	return context.WithValue(ctx, resolverKey{}, r)
}

// ResolverFrom returns the Resolver in ctx, or nil.
func ResolverFrom(ctx context.Context) Resolver {
	r, _ := ctx.Value(resolverKey{}).(Resolver)
	return r
}

// refJSON is the wire form of a future inside a value.
type refJSON struct {
	ID string `json:"jetray_future"`
}

// MarshalJSON encodes the future as a reference, {"jetray_future":"<id>"}, never its value:
// the receiver fetches the value by ID. Only futures whose results the runtime stores (those
// returned by Remote, RemoteFrom and Put) can be resolved on the other side.
func (f *Future[T]) MarshalJSON() ([]byte, error) {
	if f == nil || f.id == "" {
		return nil, errors.New("futures: cannot encode a future without an ID")
	}
	f.markShared()
	return json.Marshal(refJSON{ID: f.id})
}

// UnmarshalJSON decodes a reference made by MarshalJSON into a pending future. Await resolves
// it through the Resolver in its ctx (ErrNoResolver without one); Done closes once it has been
// awaited or tracked with Track.
func (f *Future[T]) UnmarshalJSON(data []byte) error {
	var r refJSON
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("futures: decode future reference: %w", err)
	}
	if r.ID == "" {
		return errors.New("futures: future reference without jetray_future ID")
	}
	if f.ev.valid() {
		return errors.New("futures: decoding into a future that is already in use")
	}
	f.id = r.ID
	f.ref = true
	f.ev.initPending()
	return nil
}

// IsRef reports whether f arrived as a reference (decoded from a value) rather than being
// created by this process.
func (f *Future[T]) IsRef() bool { return f.ref }

// resolveRef resolves a reference through ctx's resolver; concurrent callers may both fetch,
// the first to finish wins.
func (f *Future[T]) resolveRef(ctx context.Context) {
	r := ResolverFrom(ctx)
	if r == nil {
		var zero T
		f.complete(zero, fmt.Errorf("%w (future %s)", ErrNoResolver, f.id), nil)
		return
	}
	var v T
	err := r.Resolve(ctx, f.id, &v)
	if err != nil && ctx.Err() != nil {
		return // ctx ended: leave it pending for a later Await
	}
	f.complete(v, err, nil)
}

// Track makes Done of a future reference close once its result exists, by resolving it in a
// goroutine with ctx's Resolver; the goroutine ends when it resolves or ctx ends. Use it
// before Wait on references. For other futures it does nothing.
func Track[T any](ctx context.Context, f *Future[T]) {
	if f == nil || !f.ref || f.ev.isFired() {
		return
	}
	go f.resolveRef(ctx)
}

type blockKey struct{}

// WithBlockHook returns ctx carrying hook, which Await, Gather and Wait call just before they
// block, and whose returned func they call when they stop blocking. A worker uses it to lend
// the task slot of a task that waits on other work to another call (as Ray releases a
// worker's CPU while it is blocked in ray.get), so nested waits cannot starve the worker.
func WithBlockHook(ctx context.Context, hook func() (done func())) context.Context {
	return context.WithValue(ctx, blockKey{}, hook)
}

// Blocking calls the block hook of ctx (WithBlockHook) for a wait outside this package, such
// as a streaming producer waiting for its reader, and returns the function to call when the
// wait ends: a no-op when ctx has no hook.
func Blocking(ctx context.Context) (done func()) {
	if done = blocking(ctx); done == nil {
		done = func() {}
	}
	return done
}

// blocking calls ctx's block hook, if any.
func blocking(ctx context.Context) func() {
	if hook, ok := ctx.Value(blockKey{}).(func() func()); ok && hook != nil {
		return hook()
	}
	return nil
}
