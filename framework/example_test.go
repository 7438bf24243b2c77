package framework_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// startLocal runs everything in this process: an embedded NATS server, a client, and a worker
// serving defs. shutdown stops them in order: worker (draining), client, server.
// In production the server runs on its own and workers are separate processes.
func startLocal(defs ...framework.Definition) (c *framework.Client, shutdown func()) {
	srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err = framework.Connect(ctx, srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	w := framework.NewWorker(c)
	if err := w.Register(defs...); err != nil {
		log.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	return c, func() {
		stop()
		if err := <-done; err != nil {
			log.Print(err)
		}
		_ = c.Close()
		srv.Shutdown()
	}
}

// Remote submits a call and returns its future at once; Await waits for the result
// (ray.get).
func ExampleTask_Remote() {
	someTask := framework.NewTask("some_task", func(ctx context.Context, _ struct{}) (int, error) {
		return 1, nil
	})
	c, shutdown := startLocal(someTask)
	defer shutdown()
	ctx := context.Background()

	v, err := someTask.Remote(ctx, c, struct{}{}).Await(ctx)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(v)
	// Output: 1
}

// futures.Wait (ray.wait) returns the futures that are ready, here one at a time, so results
// are handled in the order they finish.
func Example_wait() {
	square := framework.NewTask("square", func(ctx context.Context, n int) (int, error) {
		return n * n, nil
	})
	c, shutdown := startLocal(square)
	defer shutdown()
	ctx := context.Background()

	var pending []*futures.Future[int]
	for n := 1; n <= 4; n++ {
		pending = append(pending, square.Remote(ctx, c, n))
	}
	sum, handled := 0, 0
	for len(pending) > 0 {
		ready, rest, err := futures.Wait(ctx, pending, 1)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		for _, f := range ready {
			v, err := f.Await(ctx) // ready: returns at once
			if err != nil {
				fmt.Println("error:", err)
				return
			}
			sum += v
			handled++
		}
		pending = rest
	}
	fmt.Println("handled", handled, "results, sum of squares", sum)
	// Output: handled 4 results, sum of squares 30
}

// futures.Gather (ray.get on a list) waits for every future and returns their values in
// order, or the first error.
func Example_gather() {
	square := framework.NewTask("square", func(ctx context.Context, n int) (int, error) {
		return n * n, nil
	})
	c, shutdown := startLocal(square)
	defer shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var fs []*futures.Future[int]
	for n := 1; n <= 5; n++ {
		fs = append(fs, square.Remote(ctx, c, n))
	}
	vals, err := futures.Gather(ctx, fs...)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(vals)
	// Output: [1 4 9 16 25]
}

// StreamWindow bounds the values yielded and not yet read (Ray's generator backpressure):
// here the producer may run at most 4 values ahead of its reader, whatever its speed, so the
// reader's buffer never holds more than 4.
func ExampleStreamWindow() {
	squares := framework.NewStreamTask("squares", func(ctx context.Context, n int, yield func(int) error) error {
		for i := 1; i <= n; i++ {
			if err := yield(i * i); err != nil { // waits while 4 values are unread
				return err
			}
		}
		return nil
	}, framework.StreamWindow(4))
	c, shutdown := startLocal(squares)
	defer shutdown()
	ctx := context.Background()

	st := squares.Remote(ctx, c, 100)
	sum, most := 0, 0
	for v, err := range st.All(ctx) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		most = max(most, st.Buffered())
		sum += v
	}
	fmt.Println(sum, most <= 4)
	// Output: 338350 true
}
