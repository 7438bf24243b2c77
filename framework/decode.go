package framework

import (
	"fmt"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// decodeOutcome is what a worker does with a delivered call, as decodeCall read it.
type decodeOutcome int

const (
	// decodeRun: the call is well formed; the worker runs it.
	decodeRun decodeOutcome = iota
	// decodeTerminate: the message cannot be answered (no usable ID or reply subject); the
	// worker terminates it for the decoded reason.
	decodeTerminate
	// decodeBad: the call can be answered but is bad (malformed options, unknown codec); the
	// worker answers it with a KindBadCall error of the decoded err.
	decodeBad
)

// decoded is a delivered call as decodeCall read it.
type decoded struct {
	outcome decodeOutcome
	call    *Call            // the call; nil for decodeTerminate
	opts    wire.CallOptions // its options; complete for decodeRun only
	dl      wire.Deadlines   // its deadlines; complete for decodeRun only
	reason  string           // decodeTerminate: why the message is terminated
	err     error            // decodeBad: the error the call is answered with
}

// decodeCall reads a delivered call: see decodeOutcome for what it can yield.
func decodeCall(names wire.Names, name string, hdr nats.Header, data []byte, attempt int, codecs codecSet) decoded {
	id := hdr.Get(wire.HeaderID)
	reply := hdr.Get(wire.HeaderReply)
	if id == "" { // maybe a periodic schedule's call, named by its run (schedule.go)
		var err error
		if id, reply, err = nameTick(names, hdr); err != nil {
			return decoded{outcome: decodeTerminate, reason: err.Error()}
		}
	}
	if !wire.ValidCallID(id) || !names.IsResultSubject(reply, id) {
		return decoded{outcome: decodeTerminate,
			reason: fmt.Sprintf("malformed call: id %q reply %q", truncate(id, 64), truncate(reply, 80))}
	}
	dc := decoded{call: &Call{ID: id, Name: name, Attempt: attempt, Data: data, Header: hdr, Parent: hdr.Get(wire.HeaderParent)}}
	bad := func(err error) decoded { dc.outcome, dc.err = decodeBad, err; return dc }
	var err error
	if dc.opts, err = wire.DecodeCallOptions(hdr); err != nil {
		return bad(err)
	}
	if dc.dl, err = wire.DecodeDeadlines(hdr); err != nil {
		return bad(err)
	}
	if dc.call.Codec, err = codecs.lookup(hdr.Get(wire.HeaderCodec)); err != nil {
		return bad(err)
	}
	return dc
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
