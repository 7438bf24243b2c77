package framework

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// marshalTaskEvent is what json.Marshal writes for the event appendTaskEvent encodes.
func marshalTaskEvent(t testing.TB, id, name, actor, state string, attempt int, worker string, kind Kind, msg string, started, now time.Time) []byte {
	t.Helper()
	ev := TaskEvent{ID: id, Name: name, Actor: actor, State: state, Attempt: attempt, Worker: worker, Time: now.UTC()}
	if kind != "" {
		ev.ErrorKind, ev.Error = kind, shortError(msg)
	}
	if !started.IsZero() {
		ev.Started = started.UTC()
	}
	want, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func TestAppendTaskEventIsJSON(t *testing.T) {
	started := time.Date(2026, 12, 2, 9, 0, 0, 123456789, time.UTC)
	now := started.Add(3 * time.Millisecond)
	tests := []struct {
		name, text string
	}{
		{"plain", "boom"},
		{"empty", ""},
		{"control characters", "a\x00b\x01c\x1f\td\re\bf\fg\x7f"},
		{"invalid UTF-8", "bad \xff\xfe bytes \xc3 and \xed\xa0\x80 surrogate"},
		{"quotes and backslashes", `say "hi" \ \u0041 \x01`},
		{"HTML and line separators", "<a href='x'>&amp;</a> \u2028 \u2029"},
		{"multi-byte", "héllo wörld ✓ 𝄞 日本"},
		{"cut at 200 bytes inside a rune", string(bytes.Repeat([]byte("é"), 150))},
		{"second line dropped", "first\x01line\nsecond line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, actor := range []string{"", "actor\x02-1"} {
				got := appendTaskEvent(nil, "abc.1", "task\xff"+tt.text, actor, TaskFailed, 2, "w\x01", KindPanic, tt.text, started, now)
				want := marshalTaskEvent(t, "abc.1", "task\xff"+tt.text, actor, TaskFailed, 2, "w\x01", KindPanic, tt.text, started, now)
				if !bytes.Equal(got, want) {
					t.Fatalf("appendTaskEvent =\n%s\njson.Marshal =\n%s", got, want)
				}
				var ev TaskEvent
				if err := json.Unmarshal(got, &ev); err != nil {
					t.Fatalf("event %q does not decode: %v", got, err)
				}
			}
		})
	}
	got := appendTaskEvent(nil, "abc.1", "t", "", TaskFinished, 1, "w", "", "ignored", time.Time{}, now)
	if want := marshalTaskEvent(t, "abc.1", "t", "", TaskFinished, 1, "w", "", "", time.Time{}, now); !bytes.Equal(got, want) {
		t.Fatalf("finished event without start =\n%s\nwant\n%s", got, want)
	}
}

// FuzzAppendTaskEvent checks that events are the bytes json.Marshal writes, whatever the
// names and error text.
func FuzzAppendTaskEvent(f *testing.F) {
	f.Add("abc.1", "task", "", "w", "error", "boom\nline two", 1)
	f.Add("a\x01", "t\xff", "act\u2028", "<w>", "panic", "\x00\"\\\xed\xa0\x80", 7)
	started := time.Date(2026, 12, 2, 9, 0, 0, 5, time.UTC)
	f.Fuzz(func(t *testing.T, id, name, actor, worker, kind, msg string, attempt int) {
		got := appendTaskEvent(nil, id, name, actor, TaskRetrying, attempt, worker, Kind(kind), msg, started, started)
		if want := marshalTaskEvent(t, id, name, actor, TaskRetrying, attempt, worker, Kind(kind), msg, started, started); !bytes.Equal(got, want) {
			t.Fatalf("appendTaskEvent =\n%q\njson.Marshal =\n%q", got, want)
		}
	})
}

// BenchmarkTaskEventEncode is the encoding of one FAILED event, as a worker publishes it for
// a failed call (the longest event: it carries an error kind and text).
func BenchmarkTaskEventEncode(b *testing.B) {
	started := time.Date(2026, 12, 2, 9, 0, 0, 123456789, time.UTC)
	now := started.Add(3 * time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		buf := appendTaskEvent(make([]byte, 0, 256), "Kx3f9QzPa1bC.12345", "bench_echo", "", TaskFailed,
			1, "worker-7f3a", KindError, "boom: the input was not what it should be\nsecond line", started, now)
		if len(buf) == 0 {
			b.Fatal("empty event")
		}
	}
}

// BenchmarkTaskEventMarshal is the same event through json.Marshal, for comparison.
func BenchmarkTaskEventMarshal(b *testing.B) {
	started := time.Date(2026, 12, 2, 9, 0, 0, 123456789, time.UTC)
	now := started.Add(3 * time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		buf := marshalTaskEvent(b, "Kx3f9QzPa1bC.12345", "bench_echo", "", TaskFailed,
			1, "worker-7f3a", KindError, "boom: the input was not what it should be\nsecond line", started, now)
		if len(buf) == 0 {
			b.Fatal("empty event")
		}
	}
}
