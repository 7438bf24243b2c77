package seed_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/asyncactor/seed"
	"github.com/jetray/jetray/framework/frameworktest"
)

func TestRun(t *testing.T) {
	c := frameworktest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	res, err := seed.Run(ctx, c, &out)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	sections := strings.Split(out.String(), "actor = AsyncActor")
	if len(sections) != 3 {
		t.Fatalf("want two scenario headings in:\n%s", out.String())
	}

	t.Run("default", func(t *testing.T) {
		started, ended, beforeFirstEnd := countLines(sections[1])
		if started != seed.Calls || ended != seed.Calls || beforeFirstEnd != seed.Calls {
			t.Errorf("started %d, ended %d, started before the first ended %d; want %d each",
				started, ended, beforeFirstEnd, seed.Calls)
		}
		d := res.Default
		if d.MaxConcurrency != 1000 || d.Elapsed >= 2500*time.Millisecond || d.Stats.Peak != seed.Calls {
			t.Errorf("max_concurrency %d, %d calls took %v, peak %d; want 1000, under 2.5s, peak %d",
				d.MaxConcurrency, d.Calls, d.Elapsed, d.Stats.Peak, seed.Calls)
		}
	})
	t.Run("max_concurrency=10", func(t *testing.T) {
		started, ended, beforeFirstEnd := countLines(sections[2])
		if started != seed.Calls || ended != seed.Calls || beforeFirstEnd > 10 {
			t.Errorf("started %d, ended %d, started before the first ended %d; want %d, %d, at most 10",
				started, ended, beforeFirstEnd, seed.Calls, seed.Calls)
		}
		l := res.Limited
		if l.MaxConcurrency != 10 || l.Elapsed < 4900*time.Millisecond || l.Elapsed >= 8*time.Second || l.Stats.Peak != 10 {
			t.Errorf("max_concurrency %d, %d calls took %v, peak %d; want 10, in [4.9s, 8s), peak 10",
				l.MaxConcurrency, l.Calls, l.Elapsed, l.Stats.Peak)
		}
	})
}

// countLines counts the "started" and "ended" lines of one scenario's output, and the
// "started" lines before the first "ended".
func countLines(section string) (started, ended, beforeFirstEnd int) {
	for _, line := range strings.Split(section, "\n") {
		switch line {
		case "started":
			started++
			if ended == 0 {
				beforeFirstEnd++
			}
		case "ended":
			ended++
		}
	}
	return started, ended, beforeFirstEnd
}
