package futures_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/jetray/jetray/futures"
	"go.uber.org/goleak"
)

// blockingResolver never finds a result: Resolve returns only when its ctx ends, like a
// Resolver waiting for a call that has not finished.
type blockingResolver struct{ calls chan string }

func (r blockingResolver) Resolve(ctx context.Context, id string, _ any) error {
	r.calls <- id
	<-ctx.Done()
	return ctx.Err()
}

// decodeRef returns a pending future reference to id, as a task receives it in its input.
func decodeRef(t *testing.T, id string) *futures.Future[int] {
	t.Helper()
	var f futures.Future[int]
	if err := json.Unmarshal([]byte(`{"jetray_future":"`+id+`"}`), &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// Gather that returns early on a failure stops the goroutines resolving the references it was
// given, although the caller's ctx lives on.
func TestGatherFailureStopsReferenceResolution(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r := blockingResolver{calls: make(chan string, 2)}
	ctx := futures.WithResolver(context.Background(), r) // never ends
	ref := decodeRef(t, "client.1")
	p := futures.NewPromise[int]("client.2")

	errc := make(chan error, 1)
	go func() {
		_, err := futures.Gather(ctx, ref, p.Future())
		errc <- err
	}()
	if id := receive(t, r.calls); id != "client.1" {
		t.Fatalf("resolver asked for %q", id)
	}
	boom := errors.New("boom")
	p.Reject(boom)
	if err := receive(t, errc); !errors.Is(err, boom) {
		t.Fatalf("Gather = %v, want the failure", err)
	}
	if ref.Resolved() {
		t.Fatal("the reference resolved although its result never came")
	}
}

// Gather ending with its ctx stops the reference goroutines too.
func TestGatherCtxEndStopsReferenceResolution(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r := blockingResolver{calls: make(chan string, 2)}
	ctx, cancel := context.WithCancel(futures.WithResolver(context.Background(), r))
	refs := []*futures.Future[int]{decodeRef(t, "client.1"), decodeRef(t, "client.2")}
	errc := make(chan error, 1)
	go func() {
		_, err := futures.Gather(ctx, refs...)
		errc <- err
	}()
	receive(t, r.calls)
	receive(t, r.calls)
	cancel()
	if err := receive(t, errc); !errors.Is(err, context.Canceled) {
		t.Fatalf("Gather = %v, want context.Canceled", err)
	}
}
