package wire_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jetray/jetray/internal/wire"
)

// TestRecordsJSON checks each record's JSON against what the framework and actors wrote
// before this package (maps and structs in worker.go, cancel.go, liveness.go, host.go).
func TestRecordsJSON(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.FixedZone("X", 3600))
	legacyRegistry, _ := json.Marshal(map[string]string{"name": "add", "kind": "task", "worker": "w1",
		"at": at.UTC().Format(time.RFC3339)})
	legacyCancel, _ := json.Marshal(map[string]string{"at": at.UTC().Format(time.RFC3339Nano), "by": "c"})
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"registry entry, as the worker's map", wire.NewRegistryEntry("add", wire.RegistryKindTask, "w1", at), string(legacyRegistry)},
		{"cancel entry, as Cancel's map", wire.CancelEntry{At: at.UTC(), By: "c"}, string(legacyCancel)},
		{"worker info", wire.WorkerInfo{Key: "w-c", Name: "w", Client: "c", Started: at.UTC(), Names: []string{"add"}},
			`{"key":"w-c","name":"w","client":"c","started":"2025-03-04T04:06:07.891011121Z","names":["add"]}`},
		{"worker info without names", wire.WorkerInfo{Key: "w-c", Name: "w", Client: "c", Started: at.UTC()},
			`{"key":"w-c","name":"w","client":"c","started":"2025-03-04T04:06:07.891011121Z"}`},
		{"ping", wire.ControlRequest{Op: wire.ControlPing, Lease: "w-c"}, `{"op":"ping","lease":"w-c"}`},
		{"kill", wire.ControlRequest{Op: wire.ControlKill, ID: "c.1", Cause: "killed"}, `{"op":"kill","id":"c.1","cause":"killed"}`},
		{"ok reply", wire.ControlReply{OK: true}, `{"ok":true}`},
		{"error reply", wire.ControlReply{Error: "lease lost"}, `{"error":"lease lost"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("JSON %s, want %s", b, tt.want)
			}
		})
	}
}

// TestRegistryEntryReadsLegacy reads an entry in the form cmd/driver's registryEntry decodes.
func TestRegistryEntryReadsLegacy(t *testing.T) {
	var e wire.RegistryEntry
	if err := json.Unmarshal([]byte(`{"at":"2025-03-04T04:06:07Z","kind":"actor","name":"_actor_C","worker":"w"}`), &e); err != nil {
		t.Fatal(err)
	}
	want := wire.RegistryEntry{At: time.Date(2025, 3, 4, 4, 6, 7, 0, time.UTC), Kind: wire.RegistryKindActor, Name: "_actor_C", Worker: "w"}
	if !e.At.Equal(want.At) || e.Kind != want.Kind || e.Name != want.Name || e.Worker != want.Worker {
		t.Fatalf("got %+v, want %+v", e, want)
	}
}
