package wire_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/internal/wire"
)

func TestPlacementToken(t *testing.T) {
	a := wire.Placement{Labels: map[string]string{"gpu": "a100", "region": "eu"}, Resources: map[string]float64{"gpu": 2, "cpu": 0}}
	b := wire.Placement{Labels: map[string]string{"region": "eu", "gpu": "a100"}, Resources: map[string]float64{"gpu": 2.0004}}
	if a.Token() != b.Token() {
		t.Errorf("equal placements (map order, zero need, rounding to thousandths) differ: %q %q", a.Token(), b.Token())
	}
	if err := wire.ValidLabelSet(a.Token()); err != nil || len(a.Token()) != 25 || !strings.HasPrefix(a.Token(), "p") {
		t.Errorf("token %q: %v", a.Token(), err)
	}
	// The token is part of the wire: a placement keeps its token across builds.
	if got, want := a.Token(), "pv7qodxx3c3wiol4ezr3tl3yv"; got != want {
		t.Errorf("token %q, want %q: tokens are subjects, consumer names and registry keys", got, want)
	}
	for _, other := range []wire.Placement{
		{Labels: map[string]string{"gpu": "a100"}, Resources: map[string]float64{"gpu": 2}},
		{Labels: map[string]string{"gpu": "a100", "region": "eu"}, Resources: map[string]float64{"gpu": 2.001}},
		{Labels: map[string]string{"gpu": "a100", "region": "eu"}, Resources: map[string]float64{"cpu": 2}},
	} {
		if other.Token() == a.Token() {
			t.Errorf("%v has the token of %v", other, a)
		}
	}
	if tok := (wire.Placement{Resources: map[string]float64{"gpu": 0}}).Token(); tok != "" {
		t.Errorf("a placement needing nothing has token %q", tok)
	}
}

func TestPlacementValidate(t *testing.T) {
	for _, p := range []wire.Placement{
		{Labels: map[string]string{"": "x"}},
		{Labels: map[string]string{"a b": "x"}},
		{Labels: map[string]string{"k": "a=b"}},
		{Labels: map[string]string{"k": strings.Repeat("v", 64)}},
		{Resources: map[string]float64{"gpu": -1}},
		{Resources: map[string]float64{"gpu": 1e300}},
		{Resources: map[string]float64{"a,b": 1}},
	} {
		if err := p.Validate(); !errors.Is(err, wire.ErrInvalidName) {
			t.Errorf("%v: err %v, want ErrInvalidName", p, err)
		}
	}
	ok := wire.Placement{Labels: map[string]string{"kubernetes.io/zone": "eu-west-1a", "empty": ""},
		Resources: map[string]float64{"nvidia.com/gpu": 0.25, "memory": 64 << 30}}
	if err := ok.Validate(); err != nil {
		t.Error(err)
	}
}

func TestPlacementSatisfied(t *testing.T) {
	shapes := []wire.WorkerShape{
		{Labels: map[string]string{"gpu": "a100"}, Capacity: map[string]float64{"gpu": 4}},
		{Labels: map[string]string{"region": "eu"}, Capacity: map[string]float64{"cpu": 8}},
	}
	tests := []struct {
		name string
		p    wire.Placement
		want string // "" when satisfied
	}{
		{"label", wire.Placement{Labels: map[string]string{"gpu": "a100"}}, ""},
		{"resource at capacity", wire.Placement{Resources: map[string]float64{"gpu": 4}}, ""},
		{"missing label", wire.Placement{Labels: map[string]string{"gpu": "h100"}}, "label gpu=h100"},
		{"too much", wire.Placement{Resources: map[string]float64{"gpu": 4.5}}, "resource gpu=4.5 (largest registered: 4)"},
		{"two misses", wire.Placement{Labels: map[string]string{"x": "1"}, Resources: map[string]float64{"tpu": 1}},
			"label x=1, resource tpu=1 (largest registered: 0)"},
		{"split over shapes", wire.Placement{Labels: map[string]string{"region": "eu"}, Resources: map[string]float64{"gpu": 1}},
			"all of region=eu; gpu:1 on one worker"},
	}
	for _, tt := range tests {
		if got := tt.p.Unsatisfied(shapes); got != tt.want {
			t.Errorf("%s: Unsatisfied = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := (wire.Placement{Labels: map[string]string{"a": "b"}}).Unsatisfied(nil); got != "label a=b" {
		t.Errorf("no shapes: %q", got)
	}
}

func TestAddShape(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s1 := wire.WorkerShape{Labels: map[string]string{"gpu": "a100"}, Worker: "w1", At: at}
	s2 := wire.WorkerShape{Capacity: map[string]float64{"gpu": 4}, Worker: "w2", At: at}
	shapes := wire.AddShape(wire.AddShape(nil, s1), s2)
	again := s1
	again.Worker, again.At = "w3", at.Add(time.Hour)
	shapes = wire.AddShape(shapes, again)
	if len(shapes) != 2 || shapes[1].Worker != "w3" || shapes[0].Worker != "w2" {
		t.Fatalf("shapes %+v: want the equal shape replaced by the newer registration", shapes)
	}
	for i := range wire.MaxShapes + 5 {
		shapes = wire.AddShape(shapes, wire.WorkerShape{Capacity: map[string]float64{"n": float64(i + 1)}, At: at.Add(time.Duration(i) * time.Minute)})
	}
	if len(shapes) != wire.MaxShapes {
		t.Fatalf("%d shapes kept, want %d", len(shapes), wire.MaxShapes)
	}
	for _, s := range shapes {
		if s.Worker == "w2" {
			t.Fatalf("the oldest shape was kept: %+v", s)
		}
	}
}

func TestRouteEntry(t *testing.T) {
	p := wire.Placement{Labels: map[string]string{"gpu": "a100"}}
	good := wire.RouteEntry{Name: "train", Labels: p.Token(), Priority: "high", Placement: p}
	r, err := good.Route()
	if err != nil || r.Labels != p.Token() || r.Priority != wire.PriorityHigh {
		t.Fatalf("Route() = %+v, %v", r, err)
	}
	if k := wire.RouteKey("train", r); k != "route.train."+p.Token()+".high" {
		t.Errorf("RouteKey = %q", k)
	}
	if k := wire.RouteKey("train", wire.TaskRoute{Priority: wire.PriorityLow}); k != "route.train._.low" {
		t.Errorf("RouteKey = %q", k)
	}
	b, _ := json.Marshal(wire.RouteEntry{Name: "t", Labels: wire.NoLabels, Priority: "low"})
	if string(b) != `{"name":"t","labels":"_","priority":"low","at":"0001-01-01T00:00:00Z"}` {
		t.Errorf("JSON %s", b)
	}
	for _, bad := range []wire.RouteEntry{
		{Name: "train", Labels: "pwrongtoken", Priority: "high", Placement: p},
		{Name: "train", Labels: wire.NoLabels, Priority: "normal"},
		{Name: "train", Labels: wire.NoLabels, Priority: "urgent"},
		{Name: "a.b", Labels: wire.NoLabels, Priority: "high"},
	} {
		if _, err := bad.Route(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
