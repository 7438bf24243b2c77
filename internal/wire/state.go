package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ActorStateKey is the key of durable actor id's state snapshot in StateBucket: a.<actor id>.
func ActorStateKey(id string) string { return "a." + id }

// StateCalls is how many call IDs a state snapshot keeps: the latest ones it includes.
const StateCalls = 64

// StateHeader is the first line of a state snapshot (the value of ActorStateKey in
// StateBucket), JSON; the actor's encoded state follows the newline, as it is.
type StateHeader struct {
	// Epoch is the placement epoch of the instance that wrote the snapshot. An instance
	// placed under a lower epoch never claims a snapshot of a higher one.
	Epoch uint64 `json:"epoch"`
	// Calls are the IDs of the latest calls whose effects the state includes, oldest first,
	// at most StateCalls.
	Calls []string `json:"calls,omitempty"`
	// Last is the answer of the last call included (Calls' last), nil if none.
	Last *StateAnswer `json:"last,omitempty"`
}

// StateAnswer is a call's answer kept in a state snapshot.
type StateAnswer struct {
	ID string `json:"id"`
	// Failed: Data is a JSON TaskError (kind, message, code, detail); otherwise Data is the
	// encoded output.
	Failed bool   `json:"failed,omitempty"`
	Data   []byte `json:"data,omitempty"`
}

// EncodeState returns the snapshot value of header h and state.
func EncodeState(h StateHeader, state []byte) []byte {
	head, _ := json.Marshal(h)
	out := make([]byte, 0, len(head)+1+len(state))
	out = append(append(append(out, head...), '\n'), state...)
	return out
}

// DecodeState splits a snapshot value into its header and state. The state aliases v.
func DecodeState(v []byte) (StateHeader, []byte, error) {
	var h StateHeader
	i := bytes.IndexByte(v, '\n')
	if i < 0 {
		return h, nil, errors.New("jetray: state snapshot without a header line")
	}
	if err := json.Unmarshal(v[:i], &h); err != nil {
		return h, nil, fmt.Errorf("jetray: state snapshot header: %w", err)
	}
	return h, v[i+1:], nil
}
