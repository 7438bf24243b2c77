package wire

import "testing"

func TestIsResultSubject(t *testing.T) {
	blue, err := For("blue")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		n           Names
		subject, id string
		want        bool
	}{
		{"default", Names{}, "jetray.result.abc.1", "abc.1", true},
		{"other id", Names{}, "jetray.result.abc.2", "abc.1", false},
		{"longer", Names{}, "jetray.result.abc.1.0", "abc.1", false},
		{"other namespace", Names{}, "jetray_blue.result.abc.1", "abc.1", false},
		{"namespace", blue, "jetray_blue.result.abc.1", "abc.1", true},
		{"task subject", Names{}, "jetray.task.abc.1.", "abc.1", false},
		{"empty", Names{}, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.n.IsResultSubject(tc.subject, tc.id); got != tc.want {
				t.Fatalf("IsResultSubject(%q, %q) = %v", tc.subject, tc.id, got)
			}
			if tc.want != (tc.n.ResultSubject(tc.id) == tc.subject) {
				t.Fatalf("disagrees with ResultSubject")
			}
		})
	}
}
