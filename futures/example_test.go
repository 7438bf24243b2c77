package futures_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetray/jetray/futures"
)

func ExampleFuture_Await() {
	p := futures.NewPromise[string]("task-1")
	go p.Resolve("hello") // the runtime resolves the promise when the result arrives

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := p.Future().Await(ctx) // ray.get(ref, timeout=5)
	fmt.Println(v, err)
	// Output: hello <nil>
}

func ExampleWait() {
	ps := make([]*futures.Promise[int], 3)
	fs := make([]*futures.Future[int], 3)
	for i := range ps {
		ps[i] = futures.NewPromise[int](fmt.Sprintf("task-%d", i))
		fs[i] = ps[i].Future()
	}
	go func() {
		ps[2].Resolve(20)
		ps[0].Resolve(0)
	}()

	// ray.wait(refs, num_returns=2)
	ready, notReady, err := futures.Wait(context.Background(), fs, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range ready {
		v, _ := f.Await(context.Background())
		fmt.Println("ready:", f.ID(), v)
	}
	for _, f := range notReady {
		fmt.Println("not ready:", f.ID())
	}
	// Output:
	// ready: task-0 0
	// ready: task-2 20
	// not ready: task-1
}

func ExampleGather() {
	ps := make([]*futures.Promise[int], 3)
	fs := make([]*futures.Future[int], 3)
	for i := range ps {
		ps[i] = futures.NewPromise[int](fmt.Sprintf("square-%d", i))
		fs[i] = ps[i].Future()
	}
	go func() {
		for i := len(ps) - 1; i >= 0; i-- { // resolved in reverse order
			ps[i].Resolve(i * i)
		}
	}()

	vals, err := futures.Gather(context.Background(), fs...) // ray.get(refs)
	fmt.Println(vals, err)

	errOOM := errors.New("out of memory")
	_, err = futures.Gather(context.Background(), futures.Ready("a", 1), futures.Failed[int]("b", errOOM))
	fmt.Println(err, errors.Is(err, errOOM))
	// Output:
	// [0 1 4] <nil>
	// futures: gather: future "b": out of memory true
}

func ExampleStream_All() {
	s, w := futures.NewStream[string]("gen-1")
	go func() {
		for _, word := range []string{"a", "b", "c"} {
			w.Send(word)
		}
		w.Close(nil)
	}()
	for v, err := range s.All(context.Background()) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Println(v)
	}
	// Output:
	// a
	// b
	// c
}
