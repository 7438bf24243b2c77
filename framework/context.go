package framework

import (
	"context"

	"github.com/jetray/jetray/futures"
	"github.com/jetray/jetray/internal/wire"

	"github.com/nats-io/nats.go"
)

// Call is one delivery of a call to a worker, as a Handler sees it.
type Call struct {
	ID      string      // the call's ID, also its future's ID
	Name    string      // the task or method name
	Attempt int         // 1 for the first attempt
	Codec   Codec       // the codec the caller encoded Data with
	Data    []byte      // the encoded input
	Header  nats.Header // the message headers (read only)
	Parent  string      // ID of the task that submitted this call, if any
}

type ctxKey int

const (
	clientKey ctxKey = iota
	callKey
	childHookKey
	workerKey
)

// registerChild tells the worker running the task in ctx (if any) that it submitted call id,
// so cancelling the task cancels the call too.
func registerChild(ctx context.Context, id string) {
	if cw, ok := ctx.Value(childHookKey).(*cancelWatch); ok {
		if call := CallFromContext(ctx); call != nil {
			cw.child(call.ID, id)
		}
	}
}

// ClientFromContext returns the client of the worker running the current task, so a task can
// submit nested tasks and call actors (Ray's tasks-in-tasks). Nil outside a running task.
func ClientFromContext(ctx context.Context) *Client {
	c, _ := ctx.Value(clientKey).(*Client)
	return c
}

// CallFromContext returns the call the current task is running, or nil outside a task.
func CallFromContext(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey).(*Call)
	return c
}

// WithCallContext returns ctx carrying c and call the way a worker sets them up. Runtimes that
// run calls outside Worker (such as actor hosts) use it so ClientFromContext keeps working.
func WithCallContext(ctx context.Context, c *Client, call *Call) context.Context {
	return futures.WithResolver(context.WithValue(context.WithValue(ctx, clientKey, c), callKey, call), c)
}

func parentID(ctx context.Context) string {
	if call := CallFromContext(ctx); call != nil {
		return call.ID
	}
	return ""
}

// ResultSubject returns the subject the call's result is published to (its Jetray-Reply
// header, checked against the call ID and the worker's namespace before the handler runs).
func (c *Call) ResultSubject() string { return c.Header.Get(wire.HeaderReply) }
