package actors

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotInActor is returned by Exit called outside a running actor method.
var ErrNotInActor = errors.New("jetray: not inside an actor method")

// selfKey carries the running actor (selfCall) in a method's ctx.
type selfKey struct{}

// selfCall is the actor and placement a method runs in.
type selfCall struct {
	h     *host
	inst  *instance
	ln    *lane // the concurrency group the method runs in
	epoch uint64
}

// withSelf returns the ctx a method of inst's placement epoch runs with, in lane ln.
func withSelf(ctx context.Context, h *host, inst *instance, ln *lane, epoch uint64) context.Context {
	return context.WithValue(ctx, selfKey{}, &selfCall{h: h, inst: inst, ln: ln, epoch: epoch})
}

// Exit ends the actor whose method calls it (Ray's exit_actor): the actor is not restarted,
// whatever its MaxRestarts; its record goes DEAD with the reason "exited: <reason>", its name is
// freed, calls queued for it and later calls fail with ErrDied, and calls running on it,
// including the one that called Exit, see their ctx cancelled and fail with ErrDied, whatever
// they return. Exit returns an error wrapping ErrDied for the method to return.
//
// Exit is decided by a compare-and-swap on the actor's record naming this placement, so a
// method still running on a host that has lost the actor (a stale owner) cannot end the actor
// that lives elsewhere: Exit then changes nothing and returns an error (the new owner answers
// the placement's calls). Outside an actor method it returns ErrNotInActor.
func Exit(ctx context.Context) error { return ExitWithReason(ctx, "") }

// ExitWithReason is Exit with a reason recorded after "exited: " in the actor's record and in
// the ErrDied errors its calls fail with.
func ExitWithReason(ctx context.Context, reason string) error {
	sc, _ := ctx.Value(selfKey{}).(*selfCall)
	if sc == nil {
		return ErrNotInActor
	}
	h, inst := sc.h, sc.inst
	inst.mu.Lock()
	lease := inst.lease
	inst.mu.Unlock()
	s, err := storeOf(ctx, h.w.Client())
	if err != nil {
		return fmt.Errorf("jetray: exit actor %s: %w", inst.id, err)
	}
	why := "exited"
	if reason != "" {
		why += ": " + reason
	}
	var exited bool
	rec, err := s.update(context.WithoutCancel(ctx), inst.id, func(r *Record) bool {
		exited = false
		if r.terminal() || r.WorkerKey != lease || r.Epoch != sc.epoch {
			return false
		}
		r.State, r.Error = StateDead, why
		exited = true
		return true
	})
	if err != nil {
		return fmt.Errorf("jetray: exit actor %s: %w", inst.id, err)
	}
	if !exited {
		if rec != nil && rec.terminal() {
			return rec.deathError() // killed or exited meanwhile
		}
		return fmt.Errorf("%w: exit actor %s: this placement no longer owns it", errNotOwner, inst.id)
	}
	if rec.Name != "" {
		freeName(context.WithoutCancel(ctx), h.w.Client(), rec.Name, inst.id)
	}
	cause := rec.deathError()
	h.kill(inst, cause, true)
	return cause
}
