package futures_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jetray/jetray/futures"
)

func TestFutureAwait(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		resolve func(p *futures.Promise[int])
		want    int
		wantErr error
	}{
		{name: "value", resolve: func(p *futures.Promise[int]) { p.Resolve(42) }, want: 42},
		{name: "zero value", resolve: func(p *futures.Promise[int]) { p.Resolve(0) }, want: 0},
		{name: "error", resolve: func(p *futures.Promise[int]) { p.Reject(errBoom) }, wantErr: errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := futures.NewPromise[int]("f1")
			f := p.Future()
			if f.Resolved() {
				t.Fatal("Resolved() = true before resolution")
			}
			if err := f.Err(); err != nil {
				t.Fatalf("Err() before resolution = %v, want nil", err)
			}
			go tt.resolve(p)
			got, err := f.Await(t.Context())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Await() error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Await() = %d, want %d", got, tt.want)
			}
			if !f.Resolved() {
				t.Fatal("Resolved() = false after Await")
			}
			if err := f.Err(); err != tt.wantErr {
				t.Fatalf("Err() = %v, want %v", err, tt.wantErr)
			}
			if f.ID() != "f1" {
				t.Fatalf("ID() = %q, want f1", f.ID())
			}
		})
	}
}

func TestFutureAwaitTimeoutThenAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := futures.NewPromise[string]("slow")
		f := p.Future()

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		v, err := f.Await(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Await() error = %v, want context.DeadlineExceeded", err)
		}
		if v != "" {
			t.Fatalf("Await() = %q, want zero value", v)
		}
		if f.Resolved() {
			t.Fatal("timeout resolved the future")
		}

		p.Resolve("late")
		v, err = f.Await(t.Context())
		if err != nil || v != "late" {
			t.Fatalf("second Await() = %q, %v; want late, nil", v, err)
		}
	})
}

func TestFutureAwaitCanceledContext(t *testing.T) {
	f := futures.NewPromise[int]("f").Future()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.Await(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Await() error = %v, want context.Canceled", err)
	}
}

func TestFutureAwaitResolvedIgnoresEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	v, err := futures.Ready("r", 7).Await(ctx)
	if err != nil || v != 7 {
		t.Fatalf("Await() = %d, %v; want 7, nil", v, err)
	}
}

func TestFutureDoneInSelect(t *testing.T) {
	p := futures.NewPromise[int]("f")
	f := p.Future()
	if isClosed(f.Done()) {
		t.Fatal("Done closed before resolution")
	}
	if f.Done() != f.Done() {
		t.Fatal("Done returned different channels")
	}
	go p.Resolve(1)
	other := make(chan struct{})
	select {
	case <-f.Done():
	case <-other:
		t.Fatal("unexpected")
	case <-time.After(testTimeout):
		t.Fatal("Done not closed")
	}
	if !f.Resolved() {
		t.Fatal("Resolved() = false after Done closed")
	}
}

func BenchmarkAwaitResolved(b *testing.B) {
	f := futures.Ready("r", 42)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if v, err := f.Await(ctx); err != nil || v != 42 {
			b.Fatal(v, err)
		}
	}
}
