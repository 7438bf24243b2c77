package futures_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jetray/jetray/futures"
)

func TestPromiseFirstResolutionWins(t *testing.T) {
	errBoom := errors.New("boom")
	load := func(context.Context) (int, error) { return 3, nil }
	tests := []struct {
		name    string
		first   func(p *futures.Promise[int]) bool
		want    int
		wantErr error
	}{
		{name: "resolve", first: func(p *futures.Promise[int]) bool { return p.Resolve(1) }, want: 1},
		{name: "reject", first: func(p *futures.Promise[int]) bool { return p.Reject(errBoom) }, wantErr: errBoom},
		{name: "lazy", first: func(p *futures.Promise[int]) bool { return p.ResolveLazy(load) }, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := futures.NewPromise[int]("f")
			if !tt.first(p) {
				t.Fatal("first resolution returned false")
			}
			if p.Resolve(2) {
				t.Error("later Resolve returned true")
			}
			if p.Reject(errors.New("late")) {
				t.Error("later Reject returned true")
			}
			if p.ResolveLazy(func(context.Context) (int, error) { return 4, nil }) {
				t.Error("later ResolveLazy returned true")
			}
			got, err := p.Future().Await(t.Context())
			if got != tt.want || err != tt.wantErr {
				t.Fatalf("Await() = %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPromiseFutureIsStable(t *testing.T) {
	p := futures.NewPromise[int]("f")
	if p.Future() != p.Future() {
		t.Fatal("Future() returned different pointers")
	}
}

func TestPromiseConcurrentResolveReject(t *testing.T) {
	const rounds = 200
	const writers = 8
	for range rounds {
		p := futures.NewPromise[int]("race")
		f := p.Future()
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins []int // writer ids whose call returned true
		)
		readers := make(chan error, writers)
		for i := range writers {
			wg.Go(func() {
				var won bool
				if i%2 == 0 {
					won = p.Resolve(i)
				} else {
					won = p.Reject(errors.New("writer"))
				}
				if won {
					mu.Lock()
					wins = append(wins, i)
					mu.Unlock()
				}
			})
			wg.Go(func() {
				_, err := f.Await(context.Background())
				readers <- err
			})
		}
		wg.Wait()
		if len(wins) != 1 {
			t.Fatalf("%d winners, want exactly 1", len(wins))
		}
		v, err := f.Await(t.Context())
		if w := wins[0]; w%2 == 0 {
			if err != nil || v != w {
				t.Fatalf("Await() = %d, %v; want winner's value %d", v, err, w)
			}
		} else if err == nil || v != 0 {
			t.Fatalf("Await() = %d, %v; want winner's error", v, err)
		}
		for range writers {
			if got := <-readers; (got == nil) != (err == nil) {
				t.Fatalf("a reader saw error %v, final error is %v", got, err)
			}
		}
	}
}

func TestPromiseRejectNil(t *testing.T) {
	p := futures.NewPromise[int]("f")
	if !p.Reject(nil) {
		t.Fatal("Reject(nil) returned false")
	}
	_, err := p.Future().Await(t.Context())
	if err == nil || err.Error() != "futures: nil error" {
		t.Fatalf("Await() error = %v, want futures: nil error", err)
	}
}

func TestReadyAndFailed(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		f       *futures.Future[string]
		want    string
		wantErr string
	}{
		{name: "ready", f: futures.Ready("a", "v"), want: "v"},
		{name: "failed", f: futures.Failed[string]("b", errBoom), wantErr: "boom"},
		{name: "failed nil", f: futures.Failed[string]("c", nil), wantErr: "futures: nil error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.f.Resolved() || !isClosed(tt.f.Done()) {
				t.Fatal("future not resolved at creation")
			}
			got, err := tt.f.Await(t.Context())
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tt.want || gotErr != tt.wantErr {
				t.Fatalf("Await() = %q, %v; want %q, %q", got, err, tt.want, tt.wantErr)
			}
			if (tt.f.Err() == nil) != (tt.wantErr == "") {
				t.Fatalf("Err() = %v, want error %q", tt.f.Err(), tt.wantErr)
			}
		})
	}
}
