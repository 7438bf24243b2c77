package framework

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
)

// callParams are the per-call options a worker reads from a call's headers.
type callParams struct {
	maxRetries int
	timeoutMS  int
}

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
	call    *Call      // the call; nil for decodeTerminate
	params  callParams // its options; complete for decodeRun only
	reason  string     // decodeTerminate: why the message is terminated
	err     error      // decodeBad: the error the call is answered with
}

// decodeCall reads a delivered call: see decodeOutcome for what it can yield.
func decodeCall(name string, hdr nats.Header, data []byte, attempt int, codecs codecSet) decoded {
	id := hdr.Get(HeaderID)
	reply := hdr.Get(HeaderReply)
	if !validCallID(id) || reply != ResultSubject(id) {
		return decoded{outcome: decodeTerminate,
			reason: fmt.Sprintf("malformed call: id %q reply %q", truncate(id, 64), truncate(reply, 80))}
	}
	dc := decoded{call: &Call{ID: id, Name: name, Attempt: attempt, Data: data, Header: hdr, Parent: hdr.Get(HeaderParent)}}
	bad := func(err error) decoded { dc.outcome, dc.err = decodeBad, err; return dc }
	var err error
	if dc.params.maxRetries, err = headerInt(hdr, HeaderMaxRetries, 3); err != nil {
		return bad(err)
	}
	if dc.params.timeoutMS, err = headerInt(hdr, HeaderTimeout, 0); err != nil {
		return bad(err)
	}
	if dc.params.timeoutMS < 0 {
		return bad(fmt.Errorf("header %s: negative timeout %d", HeaderTimeout, dc.params.timeoutMS))
	}
	if dc.call.Codec, err = codecs.lookup(hdr.Get(HeaderCodec)); err != nil {
		return bad(err)
	}
	return dc
}

// validCallID accepts <client id>.<sequence>: two non-empty parts of A-Z a-z 0-9 _ -.
func validCallID(id string) bool {
	if len(id) < 3 || len(id) > 200 {
		return false
	}
	dots := 0
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case ch == '.':
			dots++
			if i == 0 || i == len(id)-1 {
				return false
			}
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '_', ch == '-':
		default:
			return false
		}
	}
	return dots == 1
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// splitResultSubject splits the part of a result subject after ResultSubjectPrefix into the
// call ID and, for a stream item, its index ("" for a final result). ok is false for a
// subject that is neither.
func splitResultSubject(rest string) (id, item string, ok bool) {
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return "", "", false
	}
	if j := strings.IndexByte(rest[i+1:], '.'); j >= 0 {
		return rest[:i+1+j], rest[i+2+j:], j > 0 && i+2+j < len(rest)
	}
	return rest, "", i+1 < len(rest)
}
