package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// Registration is one name in the registry of a deployment: a task, or the creation calls of
// an actor class, that some worker serves.
type Registration struct {
	Name   string    // the task name, or _actor_<Class> for an actor class
	Kind   string    // "task" or "actor"; "?" for an entry that does not decode
	Worker string    // the name of the worker that registered it last
	At     time.Time // when that worker registered it (whole seconds)
}

// Registrations lists every name registered in c's namespace, sorted by name: the names
// clients accept calls to. Names stay registered after their workers stop (a call to them
// waits in the queue for the next worker). Errors: the registry cannot be read before ctx
// ends.
func Registrations(ctx context.Context, c *Client) ([]Registration, error) {
	bucket := c.names.RegistryBucket()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := c.registry.Watch(wctx, wire.RegistryKey(">"), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("jetray: read %s: %w", bucket, err)
	}
	defer func() { _ = watch.Stop() }()
	var out []Registration
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("jetray: read %s: %w", bucket, ctx.Err())
		case kve, ok := <-watch.Updates():
			if !ok || kve == nil { // nil marks the end of the current values
				slices.SortFunc(out, func(a, b Registration) int { return strings.Compare(a.Name, b.Name) })
				return out, nil
			}
			var e wire.RegistryEntry
			if err := json.Unmarshal(kve.Value(), &e); err != nil || e.Name == "" {
				_, name, _ := strings.Cut(kve.Key(), ".")
				e = wire.RegistryEntry{Name: name, Kind: "?", Worker: "?", At: kve.Created().UTC()}
			}
			out = append(out, Registration{Name: e.Name, Kind: e.Kind, Worker: e.Worker, At: e.At})
		}
	}
}
