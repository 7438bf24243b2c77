package demo_test

import (
	"context"
	"fmt"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// A driver and a worker in one process, on an embedded NATS server.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	c, err := framework.Connect(ctx, srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	w := framework.NewWorker(c)
	if err := w.Register(demo.Catalog()...); err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(runCtx) }()
	defer func() { stop(); <-ran }()

	one, err := demo.SomeTask.Remote(ctx, c, nil).Await(ctx) // ray.get(some_task.remote())
	fmt.Println(one, err)

	fs := []*futures.Future[int]{
		demo.Add.Remote(ctx, c, demo.AddInput{A: 1, B: 2}),
		demo.Add.Remote(ctx, c, demo.AddInput{A: 3, B: 4}),
	}
	sums, err := futures.Gather(ctx, fs...) // ray.get([...])
	fmt.Println(sums, err)

	_, err = demo.Fail.Remote(ctx, c, demo.FailInput{Message: "no"}).Await(ctx)
	fmt.Println(err != nil)
	// Output:
	// 1 <nil>
	// [3 7] <nil>
	// true
}
