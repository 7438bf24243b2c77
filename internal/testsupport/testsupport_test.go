package testsupport

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBuffer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    int
		writes int
		want   int // bytes String returns
	}{
		{"unbounded", 0, 100, 900},
		{"bounded", 64, 100, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Buffer{Max: tc.max}
			var wg sync.WaitGroup
			for i := range tc.writes {
				wg.Go(func() { fmt.Fprintf(b, "line %03d\n", i) })
				_ = b.String() // concurrent reads
			}
			wg.Wait()
			if got := len(b.String()); got != tc.want {
				t.Fatalf("String holds %d bytes, want %d", got, tc.want)
			}
			if tc.max == 0 && (!b.HasLine("line", "042") || b.HasLine("line", "100")) {
				t.Fatalf("HasLine wrong on:\n%s", b.String())
			}
			if got := b.Tail(9); !strings.HasPrefix(got, "line ") {
				t.Fatalf("Tail(9) = %q", got)
			}
		})
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if !Poll(time.Second, func() bool { n++; return n == 3 }) || n != 3 {
		t.Fatalf("Poll: cond checked %d times", n)
	}
	start := time.Now()
	if Poll(20*time.Millisecond, func() bool { return false }) || time.Since(start) < 20*time.Millisecond {
		t.Fatal("Poll held a false condition or gave up early")
	}
}

func TestFreePorts(t *testing.T) {
	ports := FreePorts(t, 4)
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v", ports)
		}
		seen[p] = true
	}
	if LocalURL(ports[0]) != fmt.Sprintf("nats://127.0.0.1:%d", ports[0]) {
		t.Fatal(LocalURL(ports[0]))
	}
}
