package framework

import (
	"encoding/json"
	"fmt"
)

// Codec turns values into payload bytes and back. Drivers name their codec in the
// Jetray-Codec header and workers pick the matching one, so both sides must know it.
// The default is JSONCodec, which lets the CLI and other languages call tasks by name.
type Codec interface {
	// Name is the codec's wire name, such as "json".
	Name() string
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into the value v points to.
	Unmarshal(data []byte, v any) error
}

// JSONCodec encodes with encoding/json. Its wire name is "json".
type JSONCodec struct{}

// Name returns "json".
func (JSONCodec) Name() string { return "json" }

// Marshal encodes v as JSON.
func (JSONCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON into v. An empty payload decodes as JSON null (the zero value).
func (JSONCodec) Unmarshal(data []byte, v any) error {
	if len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, v)
}

// codecSet maps wire names to codecs; the empty name means JSON.
type codecSet map[string]Codec

func (s codecSet) lookup(name string) (Codec, error) {
	if name == "" {
		name = "json"
	}
	if c, ok := s[name]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("unknown codec %q", name)
}
