package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxNameLen is the longest task, class, method or client name ValidName accepts.
const MaxNameLen = 128

// MaxTokenLen is the longest group name or label-set token ValidGroup and ValidLabelSet accept:
// short enough that every consumer name stays under the server's 255 characters.
const MaxTokenLen = 64

// MaxCallIDLen is the longest call ID ValidCallID accepts.
const MaxCallIDLen = 200

// NoLabels is the label-set token of a long-form task subject whose call needs no labels.
const NoLabels = "_"

// ValidName reports whether name can be used as a task, class, method or client name: 1 to
// MaxNameLen characters from A-Z, a-z, 0-9, '_' and '-'. Names become subject tokens, KV keys
// and consumer names. Names starting with '_' are the runtime's (ActorCreationName). The error
// wraps ErrInvalidName.
func ValidName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLen || !tokenChars(name) {
		return fmt.Errorf("%w: %q (use 1-128 of A-Z a-z 0-9 _ -)", ErrInvalidName, name)
	}
	return nil
}

// ValidGroup reports whether group can name an actor concurrency group: "" (the default
// group, which has no token), or 1 to MaxTokenLen characters from A-Z, a-z, 0-9, '_' and '-'
// not starting with '_' (reserved for the runtime). The error wraps ErrInvalidName.
func ValidGroup(group string) error {
	if group == "" {
		return nil
	}
	if len(group) > MaxTokenLen || group[0] == '_' || !tokenChars(group) {
		return fmt.Errorf("%w: group %q (use 1-64 of A-Z a-z 0-9 _ -, not starting with _)", ErrInvalidName, group)
	}
	return nil
}

// ValidLabelSet reports whether token can stand for a label set in a task subject: "" (no
// labels), or 1 to MaxTokenLen characters from A-Z, a-z, 0-9, '_' and '-' not starting with
// '_' (NoLabels and later reserved tokens start with it). The token is opaque here: the
// scheduling layer decides how a set of labels maps to it (for example a short hash of the
// sorted selector). The error wraps ErrInvalidName.
func ValidLabelSet(token string) error {
	if token == "" {
		return nil
	}
	if len(token) > MaxTokenLen || token[0] == '_' || !tokenChars(token) {
		return fmt.Errorf("%w: label set %q (use 1-64 of A-Z a-z 0-9 _ -, not starting with _)", ErrInvalidName, token)
	}
	return nil
}

// tokenChars reports whether s holds only A-Z a-z 0-9 _ -.
func tokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '_', ch == '-':
		default:
			return false
		}
	}
	return true
}

// CallID returns the call ID <clientID>.<seq in base36>: the form Client.NewID hands out.
func CallID(clientID string, seq uint64) string {
	buf := make([]byte, 0, len(clientID)+1+13)
	buf = append(buf, clientID...)
	buf = append(buf, '.')
	return string(strconv.AppendUint(buf, seq, 36))
}

// ValidCallID reports whether id has the form of a call ID, <client id>.<sequence>: two
// non-empty parts of A-Z a-z 0-9 _ - joined by one dot, at most MaxCallIDLen characters. A
// call ID is always exactly two subject tokens.
func ValidCallID(id string) bool {
	if len(id) < 3 || len(id) > MaxCallIDLen {
		return false
	}
	i := strings.IndexByte(id, '.')
	return i > 0 && i < len(id)-1 && tokenChars(id[:i]) && tokenChars(id[i+1:])
}

// ClientIDOf returns the client part of a call ID, or "" if id has no dot or starts with one.
func ClientIDOf(id string) string {
	i := strings.IndexByte(id, '.')
	if i <= 0 {
		return ""
	}
	return id[:i]
}

// SubjectSafe returns s with '.', '*', '>' and ' ' replaced by '_', so that a free-form
// name (a worker name such as host.pid.abcd) fits in one subject token or KV key part.
func SubjectSafe(s string) string {
	i := strings.IndexAny(s, ".*> ")
	if i < 0 {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		switch b[i] {
		case '.', '*', '>', ' ':
			b[i] = '_'
		}
	}
	return string(b)
}
