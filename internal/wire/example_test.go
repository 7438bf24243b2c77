package wire_test

import (
	"fmt"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// The default namespace has the names deployments have always had; a namespace scopes them.
func ExampleFor() {
	for _, ns := range []string{"", "ci-7"} {
		n, err := wire.For(ns)
		if err != nil {
			panic(err)
		}
		fmt.Println(n.TasksStream(), n.RegistryBucket(), n.TaskSubject("add", wire.TaskRoute{}))
	}
	_, err := wire.For("CI_7")
	fmt.Println(err)
	// Output:
	// JETRAY_TASKS jetray_registry jetray.task.add
	// JETRAY_CI-7_TASKS jetray_ci-7_registry jetray_ci-7.task.add
	// jetray: invalid namespace: "CI_7" (use 1-32 of a-z 0-9 -, starting and ending with a letter or digit)
}

// Routes other than the default use the long subject form and their own consumer.
func ExampleNames_TaskSubject() {
	var n wire.Names // the default namespace
	for _, r := range []wire.TaskRoute{{}, {Priority: wire.PriorityHigh}, {Labels: "gpu1", Priority: wire.PriorityLow}} {
		fmt.Println(n.TaskSubject("resize", r), n.TaskConsumer("resize", r))
	}
	// Output:
	// jetray.task.resize task-resize
	// jetray.task.resize._.high task-resize+_+high
	// jetray.task.resize.gpu1.low task-resize+gpu1+low
}

func ExampleNames_ActorSubject() {
	var n wire.Names
	id := wire.CallID("drv", 42)
	fmt.Println(n.ActorSubject(id, "", "incr"), n.ActorGroupFilter(id, ""), n.ActorConsumer(id, 1, ""))
	fmt.Println(n.ActorSubject(id, "io", "read"), n.ActorGroupFilter(id, "io"), n.ActorConsumer(id, 1, "io"))
	// Output:
	// jetray.actor.drv.16.incr jetray.actor.drv.16.* actor-drv-16-1
	// jetray.actor.drv.16.io.read jetray.actor.drv.16.io.* actor-drv-16-1+io
}

// Options at their defaults are not sent; a worker reads an absent header as the default.
func ExampleCallOptions_Encode() {
	o := wire.DefaultCallOptions()
	o.RetryErrors, o.BackoffMin, o.Timeout = true, 50*time.Millisecond, 2*time.Second
	h := nats.Header{}
	o.Encode(h)
	fmt.Println(h.Get(wire.HeaderMaxRetries) == "", h.Get(wire.HeaderRetryErrors), h.Get(wire.HeaderBackoff), h.Get(wire.HeaderTimeout))
	back, err := wire.DecodeCallOptions(h)
	fmt.Println(back == o, err)
	// Output:
	// true 1 50,10000 2000
	// true <nil>
}
