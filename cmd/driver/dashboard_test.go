package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/testsupport"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "TestDashboard writes its screenshot to docs/dashboard.png")

const chromiumPath = "/usr/bin/chromium"

// startDashboard serves the dashboard for c on a free port until the test ends; it returns
// the base URL.
func startDashboard(t *testing.T, c *framework.Client) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := testsupport.Background(t, func(ctx context.Context) error { return serveDashboard(ctx, ln, c) })
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("dashboard: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func getJSON(ctx context.Context, t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// chromium runs headless Chromium (flags for root and a closed network) with args.
func chromium(ctx context.Context, t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--virtual-time-budget=3000"}
	cmd := exec.CommandContext(ctx, chromiumPath, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, errors.Join(err, errors.New(stderr.String()))
	}
	return out, nil
}

// TestDashboard loads the dashboard in headless Chromium against a server with a live actor
// and a failed task, checks that both show, and keeps a screenshot in $JETRAY_ARTIFACTS (or
// the test's temporary directory; with -update-screenshot, docs/dashboard.png).
func TestDashboard(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("headless Chromium not installed (%v): apt-get install chromium chromium-driver; .ci/run does", err)
	}
	env, actorID := stateEnv(t)
	url := startDashboard(t, env.Client) + "/"
	ctx := testCtx(t)

	var dom string
	for { // the page renders after its first round of API calls, marked by data-ready
		out, err := chromium(ctx, t, "--dump-dom", url)
		if err != nil {
			t.Fatalf("chromium --dump-dom: %v", err)
		}
		dom = string(out)
		if strings.Contains(dom, `data-ready="1"`) || ctx.Err() != nil {
			break
		}
	}
	for _, want := range []string{`data-ready="1"`, actorID, ">Counter<", ">ALIVE<", ">fail<", ">FAILED<", ">on purpose<", ">test-worker<", "<polyline"} {
		if !strings.Contains(dom, want) {
			t.Errorf("dashboard DOM lacks %q:\n%s", want, dom)
		}
	}

	dir := os.Getenv("JETRAY_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "dashboard.png")
	if *updateScreenshot {
		shot, _ = filepath.Abs(filepath.Join("..", "..", "docs", "dashboard.png"))
	}
	if _, err := chromium(ctx, t, "--hide-scrollbars", "--window-size=1280,900", "--screenshot="+shot, url); err != nil {
		t.Fatalf("chromium --screenshot: %v", err)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("dashboard screenshot: %s", shot)
}
