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

// decodeCall reads a delivered call. A message that cannot be answered (no usable ID or reply
// subject) yields a non-empty reason to terminate it; a call that can be answered but is bad
// (malformed options, unknown codec) yields call and bad, the error to answer it with.
func decodeCall(name string, hdr nats.Header, data []byte, attempt int, codecs codecSet) (call *Call, p callParams, reason string, bad error) {
	id := hdr.Get(HeaderID)
	reply := hdr.Get(HeaderReply)
	if !validCallID(id) || reply != ResultSubject(id) {
		return nil, p, fmt.Sprintf("malformed call: id %q reply %q", truncate(id, 64), truncate(reply, 80)), nil
	}
	call = &Call{ID: id, Name: name, Attempt: attempt, Data: data, Header: hdr, Parent: hdr.Get(HeaderParent)}
	var err error
	if p.maxRetries, err = headerInt(hdr, HeaderMaxRetries, 3); err != nil {
		return call, p, "", err
	}
	if p.timeoutMS, err = headerInt(hdr, HeaderTimeout, 0); err != nil {
		return call, p, "", err
	}
	if p.timeoutMS < 0 {
		return call, p, "", fmt.Errorf("header %s: negative timeout %d", HeaderTimeout, p.timeoutMS)
	}
	if call.Codec, err = codecs.lookup(hdr.Get(HeaderCodec)); err != nil {
		return call, p, "", err
	}
	return call, p, "", nil
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
