package wire_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/jetray/jetray/internal/wire"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"simple", "add", true},
		{"all classes", "A-z_0-9", true},
		{"runtime name", "_actor_Counter", true},
		{"max length", strings.Repeat("a", wire.MaxNameLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", wire.MaxNameLen+1), false},
		{"dot", "a.b", false},
		{"wildcard", "a*", false},
		{"plus", "a+b", false},
		{"space", "a b", false},
		{"newline at end", "a\n", false},
		{"non-ASCII", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wire.ValidName(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidName(%q) = %v, want ok %v", tt.in, err, tt.ok)
			}
			if !tt.ok && (!errors.Is(err, wire.ErrInvalidName) || !strings.Contains(err.Error(), "(use 1-128 of A-Z a-z 0-9 _ -)")) {
				t.Fatalf("ValidName(%q) error %q", tt.in, err)
			}
		})
	}
}

// FuzzValidName checks ValidName against the regular expression the framework used.
func FuzzValidName(f *testing.F) {
	re := regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	f.Add("add")
	f.Add("a\n")
	f.Fuzz(func(t *testing.T, s string) {
		if (wire.ValidName(s) == nil) != re.MatchString(s) {
			t.Fatalf("ValidName(%q) disagrees with %s", s, re)
		}
	})
}

func TestValidGroupAndLabelSet(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"empty is the default", "", true},
		{"simple", "io", true},
		{"dash and underscore", "a-b_c", true},
		{"max length", strings.Repeat("g", wire.MaxTokenLen), true},
		{"too long", strings.Repeat("g", wire.MaxTokenLen+1), false},
		{"reserved prefix", "_x", false},
		{"NoLabels itself", wire.NoLabels, false},
		{"dot", "a.b", false},
		{"plus", "a+b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for what, err := range map[string]error{"ValidGroup": wire.ValidGroup(tt.in), "ValidLabelSet": wire.ValidLabelSet(tt.in)} {
				if (err == nil) != tt.ok || (err != nil && !errors.Is(err, wire.ErrInvalidName)) {
					t.Fatalf("%s(%q) = %v, want ok %v", what, tt.in, err, tt.ok)
				}
			}
		})
	}
}

func TestCallIDs(t *testing.T) {
	tests := []struct {
		name, id string
		valid    bool
		client   string
	}{
		{"generated", wire.CallID("AbC123xyz789", 36*36), true, "AbC123xyz789"},
		{"custom client", "drv-1.z", true, "drv-1"},
		{"no dot", "abc", false, ""},
		{"two dots", "a.b.c", false, "a"},
		{"leading dot", ".ab", false, ""},
		{"trailing dot", "ab.", false, "ab"},
		{"too short", "a.", false, "a"},
		{"bad character", "a.b*", false, "a"},
		{"too long", strings.Repeat("a", wire.MaxCallIDLen) + ".1", false, strings.Repeat("a", wire.MaxCallIDLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wire.ValidCallID(tt.id); got != tt.valid {
				t.Fatalf("ValidCallID(%q) = %v", tt.id, got)
			}
			if got := wire.ClientIDOf(tt.id); got != tt.client {
				t.Fatalf("ClientIDOf(%q) = %q, want %q", tt.id, got, tt.client)
			}
		})
	}
	if got := wire.CallID("c", 36*36); got != "c.100" {
		t.Fatalf("CallID base 36 = %q", got)
	}
}

func TestSubjectSafe(t *testing.T) {
	tests := map[string]string{
		"host.123.abcd": "host_123_abcd",
		"a*b>c d":       "a_b_c_d",
		"plain-name":    "plain-name",
		"tab\tstays":    "tab\tstays",
		"\xff.":         "\xff_",
	}
	for in, want := range tests {
		if got := wire.SubjectSafe(in); got != want {
			t.Errorf("SubjectSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeysAndNames(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"registry key", wire.RegistryKey("add"), "task.add"},
		{"actor record key", wire.ActorRecordKey("c.1"), "a.c.1"},
		{"actor name key", wire.ActorNameKey("counter"), "n.counter"},
		{"lease key", wire.LeaseKey("host.12.ab cd", "c", 0), "host_12_ab_cd-c"},
		{"lease key, generation 2", wire.LeaseKey("w", "c", 2), "w-c-2"},
		{"input object", wire.InputObject("c.1"), "c.1.in"},
		{"output object", wire.OutputObject("c.1"), "c.1.out"},
		{"put object", wire.PutObject("c.2"), "c.2.put"},
		{"cancel msg id", wire.CancelMsgID("c.1"), "c.1.cancel"},
		{"dead msg id", wire.DeadMsgID("c.1"), "dead.c.1"},
		{"creation name", wire.ActorCreationName("Counter"), "_actor_Counter"},
		{"method call name", wire.MethodCallName("Counter", "incr"), "Counter.incr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if id, ok := wire.ActorIDOfRecordKey("a.c.1"); !ok || id != "c.1" {
		t.Errorf("ActorIDOfRecordKey = %q %v", id, ok)
	}
	for _, k := range []string{"n.x", "a.", "task.a"} {
		if _, ok := wire.ActorIDOfRecordKey(k); ok {
			t.Errorf("ActorIDOfRecordKey(%q) ok", k)
		}
	}
	if c, ok := wire.ActorClassOf("_actor_Counter"); !ok || c != "Counter" {
		t.Errorf("ActorClassOf = %q %v", c, ok)
	}
	for _, n := range []string{"add", "_actor_", "_actorX"} {
		if _, ok := wire.ActorClassOf(n); ok {
			t.Errorf("ActorClassOf(%q) ok", n)
		}
	}
}
