package wire

import (
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// IdempotencyKVKey is the key of a caller's idempotency key in IdempotencyBucket:
// k.<base64url of the SHA-256 of key>. The caller's key may hold any bytes; its hash is a
// valid KV key of fixed length (45 characters).
func IdempotencyKVKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "k." + base64.RawURLEncoding.EncodeToString(sum[:])
}

// InputHash identifies what a call asks for: the base64url SHA-256 of its name, its codec
// and its encoded input. Two submissions under one idempotency key must have the same hash.
func InputHash(name, codec string, input []byte) string {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(codec))
	h.Write([]byte{0})
	h.Write(input)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// IdempotencyEntry is the value of IdempotencyKVKey(key) in IdempotencyBucket: the call that
// holds the key. It is created once (KV create, so one submitter wins) and never changed; the
// bucket's TTL (the results TTL) removes it. Its JSON is {"id","name","hash","at"}.
type IdempotencyEntry struct {
	ID   string    `json:"id"`   // the call ID
	Name string    `json:"name"` // the call's name (task name, or Class.method)
	Hash string    `json:"hash"` // InputHash of the call
	At   time.Time `json:"at"`   // when the key was claimed, UTC
}
