package framework

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/jetray/jetray/internal/wire"
	"github.com/nats-io/nats.go"
)

// FuzzDecodeCall feeds arbitrary headers and payloads through what a worker reads from a
// delivered call: it must never panic, and either terminate, answer with an error, or accept
// a call whose reply subject is its own result subject.
func FuzzDecodeCall(f *testing.F) {
	f.Add("abc.1", "jetray.result.abc.1", "3", "100", "", "", []byte(`{"a":1,"b":2}`))
	f.Add("", "", "", "", "", "", []byte(nil))
	f.Add("abc.1", "jetray.result.abc.2", "x", "-1", "msgpack", "1,2", []byte{0xff, 0})
	f.Add("a.b.c", "jetray.result.a.b.c", "-1", "0", "json", "", []byte(`null`))
	f.Add("*.>", "jetray.result.*.>", "9999999999999999999999", "", "", ",", []byte(`[`))
	codecs := codecSet{"json": JSONCodec{}}
	f.Fuzz(func(t *testing.T, id, reply, retries, timeout, codec, backoff string, data []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{wire.HeaderID: id, wire.HeaderReply: reply, wire.HeaderMaxRetries: retries,
			wire.HeaderTimeout: timeout, wire.HeaderCodec: codec, wire.HeaderBackoff: backoff} {
			if v != "" {
				h.Set(k, v)
			}
		}
		dc := decodeCall(wire.Names{}, "fuzz", h, data, 1, codecs)
		call := dc.call
		switch dc.outcome {
		case decodeTerminate:
			if call != nil || dc.reason == "" || dc.err != nil {
				t.Fatalf("terminated call %+v", dc)
			}
		case decodeBad:
			if call == nil || call.ID != id || dc.err == nil || dc.reason != "" {
				t.Fatalf("bad call without its ID or error: %+v", dc)
			}
		case decodeRun:
			if call == nil || dc.err != nil || dc.reason != "" ||
				call.ResultSubject() != reply || !wire.ValidCallID(call.ID) || dc.opts.Timeout < 0 || call.Codec == nil {
				t.Fatalf("accepted inconsistent call %+v", dc)
			}
			var v struct{ A, B int }
			_ = call.Codec.Unmarshal(data, &v) // errors are fine; panics are not
		default:
			t.Fatalf("unknown outcome %d", dc.outcome)
		}
		if opts, err := wire.DecodeCallOptions(h); err == nil {
			_ = backoffDelay(opts, 1+len(data)%40)
		}
	})
}

// FuzzDecodeResult feeds arbitrary result subjects and payloads through what a client reads.
func FuzzDecodeResult(f *testing.F) {
	f.Add("abc.1", []byte(`{"task":"t","task_id":"abc.1","message":"m","kind":"error"}`))
	f.Add("abc.1.7", []byte(`1`))
	f.Add("..", []byte(`{`))
	f.Add("abc", []byte(nil))
	f.Fuzz(func(t *testing.T, rest string, data []byte) {
		id, item, ok := wire.Names{}.SplitResultSubject(ResultSubjectPrefix + rest)
		if ok && (id == "" || len(id)+len(item) > len(rest)) {
			t.Fatalf("split %q into %q %q", rest, id, item)
		}
		err := decodeTaskError(id, data)
		var te *TaskError
		if !errors.As(err, &te) || te.TaskID == "" && id != "" {
			t.Fatalf("decodeTaskError(%q) = %v", data, err)
		}
		var v any
		_ = json.Unmarshal(data, &v)
	})
}
