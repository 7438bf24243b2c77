package chaostest

import (
	"context"

	"github.com/jetray/jetray/actors"
)

// DurableState is ChaosDurable's state, kept in JetStream after each call (actors.Durable):
// a restarted or handed-over instance restores it instead of running the constructor.
type DurableState struct {
	Origin string `json:"origin"` // the instance whose constructor built the state
	Value  int    `json:"value"`
	Calls  int    `json:"calls"` // calls applied

	instance string // this instance (built or restored): not part of the state
}

// Resumed names the restored instance (actors.Resumer).
func (s *DurableState) Resumed(context.Context) error {
	s.instance = newInstance()
	return nil
}

// DurableIn is DurableAdd's input: add By, after sleeping SleepMs milliseconds.
type DurableIn struct {
	By      int `json:"by"`
	SleepMs int `json:"sleep_ms,omitempty"`
}

// DurableAnswer is DurableAdd's answer: the state after the call and who computed it.
type DurableAnswer struct {
	Origin   string `json:"origin"`
	Instance string `json:"instance"`
	Worker   string `json:"worker"`
	Value    int    `json:"value"`
	Calls    int    `json:"calls"`
}

var (
	// ChaosDurable is a durable plain actor restarted and retried without limit: a call
	// interrupted before its snapshot was written runs again on the stored state, and one
	// interrupted after is answered from the snapshot, whatever the retries allow.
	ChaosDurable = actors.Define("ChaosDurable", func(ctx context.Context, start int) (*DurableState, error) {
		inst := newInstance()
		return &DurableState{Origin: inst, Value: start, instance: inst}, nil
	}, actors.Durable(), actors.MaxRestarts(-1), actors.MaxTaskRetries(-1))
	// DurableAdd adds to the durable counter.
	DurableAdd = actors.Method(ChaosDurable, "add", func(s *DurableState, ctx context.Context, in DurableIn) (DurableAnswer, error) {
		if err := pause(ctx, in.SleepMs); err != nil {
			return DurableAnswer{}, err
		}
		s.Value += in.By
		s.Calls++
		return DurableAnswer{Origin: s.Origin, Instance: s.instance, Worker: WorkerName, Value: s.Value, Calls: s.Calls}, nil
	})
	// DurableGet reads the durable counter.
	DurableGet = actors.Method(ChaosDurable, "get", func(s *DurableState, ctx context.Context, _ struct{}) (DurableAnswer, error) {
		return DurableAnswer{Origin: s.Origin, Instance: s.instance, Worker: WorkerName, Value: s.Value, Calls: s.Calls}, nil
	})
)
