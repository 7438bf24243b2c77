package framework_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
	"github.com/jetray/jetray/futures"
)

type sumIn struct {
	Parts []*futures.Future[int] `json:"parts"`
}

var sumRefs = framework.NewTask("sum_refs", func(ctx context.Context, in sumIn) (int, error) {
	total := 0
	for _, f := range in.Parts {
		v, err := f.Await(ctx)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
})

var inc = framework.NewTask("inc", func(_ context.Context, n int) (int, error) { return n + 1, nil })

var failIf = framework.NewTask("fail_if", func(_ context.Context, n int) (int, error) {
	if n < 0 {
		return 0, fmt.Errorf("negative %d", n)
	}
	return n, nil
})

func TestFuturesAsArgumentsAndPut(t *testing.T) {
	env := frameworktest.NewEnv(t, nil, sumRefs, inc, failIf)
	c := env.Client
	ctx := testCtx(t)
	a := inc.Remote(ctx, c, 1) // 2
	b := framework.Put(ctx, c, 40)
	if b.Err() != nil {
		t.Fatal(b.Err())
	}
	v, err := sumRefs.Remote(ctx, c, sumIn{Parts: []*futures.Future[int]{a, b}}).Await(ctx)
	if err != nil || v != 42 {
		t.Fatalf("sum of refs = %d, %v; want 42", v, err)
	}
	// A reference to a failed call carries its error.
	bad := failIf.Remote(ctx, c, -1)
	_, err = sumRefs.Remote(ctx, c, sumIn{Parts: []*futures.Future[int]{bad}}).Await(ctx)
	var te *framework.TaskError
	if !errors.As(err, &te) || te.Task != "sum_refs" {
		t.Fatalf("sum with failed ref: %v", err)
	}

	// Another client (another process in production) resolves a result by ID.
	other, err := framework.Connect(ctx, env.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var got int
	if err := other.Resolve(ctx, a.ID(), &got); err != nil || got != 2 {
		t.Fatalf("Resolve from another client = %d, %v", got, err)
	}
}

func TestRemoteFromChainAndFailure(t *testing.T) {
	c := frameworktest.New(t, inc, failIf)
	ctx := testCtx(t)
	f := inc.Remote(ctx, c, 0)
	for range 20 {
		f = inc.RemoteFrom(ctx, c, f)
	}
	if v, err := f.Await(ctx); err != nil || v != 21 {
		t.Fatalf("chain = %d, %v; want 21", v, err)
	}
	bad := failIf.Remote(ctx, c, -5)
	dependent := inc.RemoteFrom(ctx, c, bad)
	_, err := dependent.Await(ctx)
	var te *framework.TaskError
	if !errors.As(err, &te) || te.Task != "fail_if" {
		t.Fatalf("dependent of failed call: %v (want it to wrap the dependency's TaskError)", err)
	}
}

// A diamond of 1,000 tasks: each stage fans out to two calls of the previous value and joins
// them; the driver awaits only the last future.
func TestDiamondThousandTasks(t *testing.T) {
	join := framework.NewTask("join_refs", func(ctx context.Context, in sumIn) (int, error) {
		total := 0
		for _, f := range in.Parts {
			v, err := f.Await(ctx)
			if err != nil {
				return 0, err
			}
			total += v
		}
		return total % 1000003, nil
	})
	c := frameworktest.NewEnv(t, []framework.WorkerOption{framework.WithConcurrency(1)}, inc, join).Client
	// About 35 s under -race on a quiet 2-core machine, the calls being mostly one after
	// another: room for a loaded one (this checks the result, not the speed).
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := inc.Remote(ctx, c, 0)
	n := 1
	for n < 1000 {
		l := inc.RemoteFrom(ctx, c, f)
		r := inc.RemoteFrom(ctx, c, f)
		f = join.Remote(ctx, c, sumIn{Parts: []*futures.Future[int]{l, r}})
		n += 3
	}
	want := 1
	for i := 1; i < n; i += 3 {
		want = (2 * (want + 1)) % 1000003
	}
	if v, err := f.Await(ctx); err != nil || v != want {
		t.Fatalf("diamond (%d tasks) = %d, %v; want %d", n, v, err, want)
	}
}
