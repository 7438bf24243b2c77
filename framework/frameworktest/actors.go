package frameworktest

import (
	"context"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
)

// ActorWait is how long WaitActor waits at most: placement after a worker's crash takes a
// lease period (5 s) and a judge round, so 30 s leaves room on a loaded machine.
const ActorWait = 30 * time.Second

// WaitActor polls the record of actor id (actors.Describe) until ok accepts it, and returns
// that record; it fails the test if ActorWait passes first or the record cannot be read.
func WaitActor(t testing.TB, c *framework.Client, id string, ok func(actors.Record) bool) actors.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ActorWait)
	defer cancel()
	var last *actors.Record
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		rec, err := actors.Describe(ctx, c, id)
		if err == nil && rec != nil {
			last = rec
			if ok(*rec) {
				return *rec
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("frameworktest: actor %s: condition not met within %s; last record %+v (err %v)", id, ActorWait, last, err)
			return actors.Record{}
		case <-tick.C:
		}
	}
}

// WaitActorState waits until actor id's record is in state (actors.StateAlive, StateDead,
// ...) and returns it; see WaitActor.
func WaitActorState(t testing.TB, c *framework.Client, id, state string) actors.Record {
	t.Helper()
	return WaitActor(t, c, id, func(r actors.Record) bool { return r.State == state })
}

// WaitActorOn waits until actor id is alive on the worker named worker (its WithWorkerName)
// and returns its record: for tests that move actors between workers.
func WaitActorOn(t testing.TB, c *framework.Client, id, worker string) actors.Record {
	t.Helper()
	return WaitActor(t, c, id, func(r actors.Record) bool { return r.State == actors.StateAlive && r.Worker == worker })
}
