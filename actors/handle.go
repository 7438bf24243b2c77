package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// Handle refers to one actor. It is safe for concurrent use and serialisable: a handle inside
// a task's or method's input reaches the worker and can be called there (the call then uses
// the client of the running task, from its ctx).
type Handle[A any] struct {
	id      string
	class   string
	maxConc int
	groups  map[string]int            // concurrency groups besides the default one; nil: none
	client  *framework.Client         // nil for a handle decoded from a value
	ready   *futures.Future[struct{}] // creation result; nil for Get and decoded handles

	maxTaskRetries int
	maxPending     int           // 0: no limit
	pending        *atomic.Int64 // unresolved calls of this handle (shared by copies)
}

// Ref is any actor handle, whatever its type.
type Ref interface {
	ID() string
	ref() *handleData
}

type handleData struct {
	id     string
	class  string
	client *framework.Client
	ready  *futures.Future[struct{}]
}

func (h *Handle[A]) ref() *handleData {
	return &handleData{id: h.id, class: h.class, client: h.client, ready: h.ready}
}

// ID returns the actor's ID, stable for its lifetime.
func (h *Handle[A]) ID() string { return h.id }

// Class returns the actor's class name.
func (h *Handle[A]) Class() string { return h.class }

// MaxConcurrency returns the actor's max_concurrency.
func (h *Handle[A]) MaxConcurrency() int { return h.maxConc }

// ConcurrencyGroups returns the actor's concurrency groups besides the default one (group
// name -> limit), nil if it has none. The map is a copy.
func (h *Handle[A]) ConcurrencyGroups() map[string]int {
	if len(h.groups) == 0 {
		return nil
	}
	out := make(map[string]int, len(h.groups))
	for g, n := range h.groups {
		out[g] = n
	}
	return out
}

// limit is how many calls of concurrency group group run at once (0 for a group the actor
// does not have).
func (h *Handle[A]) limit(group string) int {
	if group == "" {
		return h.maxConc
	}
	return h.groups[group]
}

// Ready waits until the actor is constructed and placed. It returns the constructor's error
// (a *framework.TaskError), ErrNameTaken, ErrActorDied if the actor was killed, or ctx's error.
func (h *Handle[A]) Ready(ctx context.Context) error {
	if h.ready != nil {
		_, err := h.ready.Await(ctx)
		return err
	}
	c, err := clientFor(ctx, h.client)
	if err != nil {
		return err
	}
	s, err := storeOf(ctx, c)
	if err != nil {
		return err
	}
	for delay := 2 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
		rec, _, err := s.get(ctx, h.id)
		if err != nil {
			return err
		}
		switch {
		case rec == nil:
			return fmt.Errorf("%w: %s", ErrNotFound, h.id)
		case rec.State == StateAlive:
			return nil
		case rec.terminal():
			return rec.deathError()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

type handleJSON struct {
	ID             string         `json:"actor_id"`
	Class          string         `json:"class"`
	MaxConcurrency int            `json:"max_concurrency"`
	MaxTaskRetries int            `json:"max_task_retries,omitempty"`
	Groups         map[string]int `json:"groups,omitempty"`
}

// MarshalJSON encodes the handle as {"actor_id","class","max_concurrency"}, with
// "max_task_retries" and "groups" (concurrency groups) when set.
func (h *Handle[A]) MarshalJSON() ([]byte, error) {
	return json.Marshal(handleJSON{ID: h.id, Class: h.class, MaxConcurrency: h.maxConc, MaxTaskRetries: h.maxTaskRetries,
		Groups: h.groups})
}

// UnmarshalJSON decodes a handle encoded by MarshalJSON.
func (h *Handle[A]) UnmarshalJSON(data []byte) error {
	var j handleJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	if j.ID == "" {
		return errors.New("jetray: actor handle without actor_id")
	}
	*h = Handle[A]{id: j.ID, class: j.Class, maxConc: j.MaxConcurrency, maxTaskRetries: j.MaxTaskRetries, groups: j.Groups,
		pending: new(atomic.Int64)}
	return nil
}

// clientFor picks the handle's client, or the client of the running task in ctx.
func clientFor(ctx context.Context, c *framework.Client) (*framework.Client, error) {
	if c != nil {
		return c, nil
	}
	if c = framework.ClientFromContext(ctx); c != nil {
		return c, nil
	}
	return nil, ErrNoClient
}

// Get returns a handle to the live actor named name (ray.get_actor). Errors:
// ErrNotFound when no live actor has that name; an error when it is of another class.
func Get[A, In any](ctx context.Context, cl *framework.Client, c *Class[A, In], name string) (*Handle[A], error) {
	s, err := storeOf(ctx, cl)
	if err != nil {
		return nil, err
	}
	id, _, found, err := s.holder(ctx, name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	rec, _, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.terminal() {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if rec.Class != c.name {
		return nil, fmt.Errorf("jetray: actor %q is a %s, not a %s", name, rec.Class, c.name)
	}
	return &Handle[A]{id: rec.ID, class: rec.Class, maxConc: rec.MaxConcurrency, groups: rec.Groups, client: cl,
		maxTaskRetries: rec.MaxTaskRetries, pending: new(atomic.Int64)}, nil
}
