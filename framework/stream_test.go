package framework_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

func TestStreamTask(t *testing.T) {
	firstRead := make(chan struct{})
	progressive := framework.NewStreamTask("stream_progressive", func(ctx context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				return err
			}
			if i == 0 {
				select { // the caller must read value 0 while this call is still running
				case <-firstRead:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	})
	failing := framework.NewStreamTask("stream_failing", func(ctx context.Context, _ struct{}, yield func(string) error) error {
		if err := yield("one"); err != nil {
			return err
		}
		return errors.New("broke after one")
	})
	c := frameworktest.New(t, progressive, failing)
	ctx := testCtx(t)

	s := progressive.Remote(ctx, c, 500)
	v, err := s.Next(ctx)
	if err != nil || v != 0 {
		t.Fatalf("first value = %d, %v", v, err)
	}
	close(firstRead)
	want := 1
	for v, err := range s.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if v != want {
			t.Fatalf("value %d, want %d (order)", v, want)
		}
		want++
		if want%100 == 0 { // a slow reader: the worker is never more than one value ahead of the broker
			<-time.After(time.Millisecond)
		}
	}
	if want != 500 {
		t.Fatalf("got %d values, want 500", want)
	}
	if _, err := s.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: %v", err)
	}

	fs := failing.Remote(ctx, c, struct{}{})
	if v, err := fs.Next(ctx); err != nil || v != "one" {
		t.Fatalf("failing first = %q, %v", v, err)
	}
	_, err = fs.Next(ctx)
	var te *framework.TaskError
	if !errors.As(err, &te) || te.Message != "broke after one" {
		t.Fatalf("failing end = %v", err)
	}
}

// A worker lost mid-stream ends the stream with an error, not a hang.
func TestStreamWorkerLost(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	c := connect(t, srv.ClientURL())
	ctx := testCtx(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stuck := framework.NewStreamTask("stream_stuck", func(ctx context.Context, _ int, yield func(int) error) error {
		if err := yield(1); err != nil {
			return err
		}
		<-release // ignores ctx: only the drain deadline gets rid of it
		return nil
	})
	first := runWorker(t, newWorker(t, c, []framework.WorkerOption{framework.WithDrainTimeout(200 * time.Millisecond)}, stuck))
	s := stuck.Remote(ctx, c, 0)
	if v, err := s.Next(ctx); err != nil || v != 1 {
		t.Fatalf("first value = %d, %v", v, err)
	}
	first.cancel()
	<-first.done
	runWorker(t, newWorker(t, c, nil, stuck))
	_, err := s.Next(ctx)
	if err == nil || errors.Is(err, io.EOF) || !errors.Is(err, framework.ErrWorkerLost) {
		t.Fatalf("after the worker was lost: %v", err)
	}
}
