package testsupport

import (
	"strings"
	"sync"
)

// Buffer collects what is written to it and is safe for concurrent writers and readers: a
// process's output read by the test while the process runs. The zero value keeps everything;
// with Max set it keeps at least the last Max bytes (and at most twice that).
type Buffer struct {
	// Max bounds what is kept; 0 keeps everything.
	Max int

	mu sync.Mutex
	b  []byte
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	if b.Max > 0 && len(b.b) > 2*b.Max {
		b.b = append(b.b[:0], b.b[len(b.b)-b.Max:]...)
	}
	return len(p), nil
}

// String returns what the buffer holds (the last Max bytes when Max is set).
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Max > 0 {
		return string(b.b[max(0, len(b.b)-b.Max):])
	}
	return string(b.b)
}

// Tail returns the last n bytes the buffer holds.
func (b *Buffer) Tail(n int) string {
	return Tail(b.String(), n)
}

// HasLine reports whether one line of the buffer contains every one of substrs.
func (b *Buffer) HasLine(substrs ...string) bool {
	for line := range strings.Lines(b.String()) {
		if containsAll(line, substrs) {
			return true
		}
	}
	return false
}

func containsAll(s string, substrs []string) bool {
	for _, sub := range substrs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// Tail returns the last n bytes of s.
func Tail(s string, n int) string { return s[max(0, len(s)-n):] }
