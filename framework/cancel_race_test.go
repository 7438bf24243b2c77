package framework_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
)

// outcome is what a reader got for a call: a value or an error.
type outcome struct {
	v   int
	err error
}

func (o outcome) String() string {
	if o.err != nil {
		return "error " + o.err.Error()
	}
	return fmt.Sprint("value ", o.v)
}

// same reports whether two readers agree: the same value, or both cancelled, or both the
// same other error kind.
func (o outcome) same(p outcome) bool {
	if o.err == nil || p.err == nil {
		return o.err == nil && p.err == nil && o.v == p.v
	}
	return errors.Is(o.err, framework.ErrCancelled) == errors.Is(p.err, framework.ErrCancelled)
}

// Cancel is decisive: handlers that return a value as soon as they see their ctx cancelled
// cannot turn a cancelled call into a value. For every call (blocked in its handler, or
// racing to finish) the caller's future, Resolve on another client and a reference agree
// once Cancel has returned nil, the caller's future is resolved by then, and every call
// whose handler was blocked at Cancel time reads ErrCancelled.
func TestCancelRaceDecisive(t *testing.T) {
	const calls, batch = 200, 20
	started := make(chan int, calls)
	eager := framework.NewTask("race_eager", func(ctx context.Context, i int) (int, error) {
		started <- i
		<-ctx.Done()
		return i, nil // a value, right after seeing the cancellation
	})
	quick := framework.NewTask("race_quick", func(_ context.Context, i int) (int, error) { return i, nil })
	env := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithConcurrency(2 * batch)}, eager, quick)
	c := env.Client
	other := connect(t, env.Server.ClientURL())
	ctx := testCtx(t)

	for b := 0; b < calls; b += batch {
		blocked := make([]*futures.Future[int], batch)
		racing := make([]*futures.Future[int], batch)
		for i := range blocked {
			blocked[i] = eager.Remote(ctx, c, b+i)
		}
		for range blocked {
			recv(t, started, 30*time.Second, "a call to start")
		}
		for i := range racing {
			racing[i] = quick.Remote(ctx, c, b+i)
		}
		var wg sync.WaitGroup
		for i := range batch {
			for _, f := range []*futures.Future[int]{blocked[i], racing[i]} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if (b/batch)%2 == 1 && f == blocked[i] {
						// Every other batch, the blocked calls are cancelled by another
						// client through a reference.
						if err := framework.Cancel(ctx, other, refTo[int](t, f.ID())); err != nil {
							t.Errorf("Cancel(ref %s): %v", f.ID(), err)
						}
						return
					}
					if err := framework.Cancel(ctx, c, f); err != nil {
						t.Errorf("Cancel(%s): %v", f.ID(), err)
						return
					}
					if !f.Resolved() {
						t.Errorf("%s: Cancel returned nil and the caller's future is still pending", f.ID())
					}
				}()
			}
		}
		wg.Wait()
		for i := range batch {
			for _, f := range []*futures.Future[int]{blocked[i], racing[i]} {
				var mine, theirs, ref outcome
				mine.v, mine.err = f.Await(ctx)
				theirs.err = other.Resolve(ctx, f.ID(), &theirs.v)
				ref.v, ref.err = refTo[int](t, f.ID()).Await(futures.WithResolver(ctx, other))
				if !mine.same(theirs) || !mine.same(ref) {
					t.Errorf("%s: caller's future read %v, Resolve %v, a reference %v", f.ID(), mine, theirs, ref)
				}
				if f == blocked[i] && !errors.Is(mine.err, framework.ErrCancelled) {
					t.Errorf("%s blocked in its handler at Cancel: read %v, want ErrCancelled", f.ID(), mine)
				}
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}

// A cancelled streaming call ends with ErrCancelled for its reader and for Resolve, even
// though its handler ends normally (an ok final result) after seeing the cancellation.
func TestCancelStreamDecisive(t *testing.T) {
	started := make(chan struct{}, 1)
	ticker := framework.NewStreamTask("race_stream", func(ctx context.Context, n int, yield func(int) error) error {
		for i := 0; ; i++ {
			if i == n {
				started <- struct{}{}
			}
			if err := yield(i); err != nil {
				return nil // ends normally: the stream's final result would be ok
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Millisecond):
			}
		}
	})
	env := frameworktest.NewEnv(t, nil, ticker)
	c := env.Client
	other := connect(t, env.Server.ClientURL())
	ctx := testCtx(t)

	st := ticker.Remote(ctx, c, 3)
	recv(t, started, 30*time.Second, "the stream to start")
	if err := framework.Cancel(ctx, c, st); err != nil {
		t.Fatal(err)
	}
	var err error
	for err == nil {
		_, err = st.Next(ctx)
	}
	if err == io.EOF || !errors.Is(err, framework.ErrCancelled) {
		t.Fatalf("stream ended with %v, want ErrCancelled", err)
	}
	var v int
	if err := other.Resolve(ctx, st.ID(), &v); !errors.Is(err, framework.ErrCancelled) {
		t.Fatalf("Resolve: %v, %v; want ErrCancelled", v, err)
	}
}
