package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jetray/jetray/internal/wire"
)

func TestCheckVersion(t *testing.T) {
	tests := []struct {
		name string
		meta map[string]string
		have string // "" when no error is expected
	}{
		{"no metadata: made before versions were recorded", nil, ""},
		{"server metadata only", map[string]string{"_nats.req.level": "0"}, ""},
		{"this version", (wire.Names{}).Metadata(), ""},
		{"newer", map[string]string{wire.MetadataVersion: "2"}, "2"},
		{"garbage", map[string]string{wire.MetadataVersion: "x"}, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wire.CheckVersion("stream JETRAY_TASKS", tt.meta)
			if tt.have == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *wire.VersionError
			if !errors.Is(err, wire.ErrWireVersion) || !errors.As(err, &ve) || ve.Have != tt.have || ve.Want != wire.Version {
				t.Fatalf("CheckVersion = %v", err)
			}
			for _, s := range []string{"stream JETRAY_TASKS", "wire version " + tt.have, "wire version 1"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}
