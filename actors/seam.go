package actors

import (
	"context"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/lease"
	"github.com/jetray/jetray/internal/seam"
	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// The framework's seams (internal/seam), asserted to their types once: package framework set
// them in its init, which ran before this package's variables were initialised.
var (
	serve           = seam.Serve.(func(*framework.Worker, jetstream.Msg, string, framework.Handler, error))
	onRun           = seam.OnRun.(func(*framework.Worker, func(context.Context) error))
	workerExtension = seam.WorkerExtension.(func(*framework.Worker, any, func() any) any)
	handle          = seam.Handle.(func(*framework.Worker, string, string, framework.Handler) error)
	workerLease     = seam.Lease.(func(*framework.Worker) *lease.Lease)
	drainTimeout    = seam.DrainTimeout.(func(*framework.Worker) time.Duration)
	clientExtension = seam.ClientExtension.(func(*framework.Client, any, func() (any, error)) (any, error))
	onClose         = seam.OnClose.(func(*framework.Client, func()))
	publishFailure  = seam.PublishFailure.(func(*framework.Client, context.Context, *framework.TaskError) error)
	connectedFor    = seam.ConnectedFor.(func(*framework.Client) time.Duration)
	resultStored    = seam.ResultStored.(func(*framework.Client, context.Context, string) (bool, error))
	setRoute        = seam.SetRoute.(func(*framework.Request, seam.Route))
	namesOf         = seam.Names.(func(*framework.Client) wire.Names)
	actorState      = seam.ActorState.(func(*framework.Worker, string, string, string))
	keepResources   = seam.KeepResources.(func(context.Context) func())
	clientsGone     = seam.ClientsGone.(func(*framework.Client, context.Context, []string) map[string]bool)
	treeOwner       = seam.TreeOwner.(func(context.Context) string)
	waitLive        = seam.WaitLive.(func(*framework.Client, context.Context))
	stateBucket     = seam.StateBucket.(func(*framework.Client, context.Context) (jetstream.KeyValue, error))
	failureOf       = seam.FailureOf.(func(error) *framework.TaskError)
)

// errNotOwner is the handler signal of a host that no longer owns the actor (see seam).
var errNotOwner = seam.ErrNotOwner

func init() {
	seam.RegisterKind(string(KindDied), ErrDied)
	seam.RegisterKind(string(KindStateTooLarge), ErrStateTooLarge)
}
