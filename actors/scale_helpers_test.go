package actors_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/testsupport"
)

// Helpers of BenchmarkActors100k: a nats-server process whose heap, goroutines and CPU are
// read apart from this process's (workers and driver), and workers that can be stopped one at
// a time.

// scaleServer is a nats-server process with its profiling port open.
type scaleServer struct {
	*testsupport.NATS
	prof string // http://127.0.0.1:<port>
}

// startScaleServer starts nats-server (testsupport.NATSServer: $JETRAY_NATS_SERVER or built
// from go.mod) with JetStream and its pprof endpoint; cleanup kills it (a graceful stop of a
// server holding many file-backed consumers takes minutes).
func startScaleServer(b *testing.B) *scaleServer {
	b.Helper()
	port := testsupport.FreePort(b)
	n := testsupport.StartNATS(b, testsupport.NATSConfig{Args: []string{"--profile", strconv.Itoa(port)}})
	return &scaleServer{NATS: n, prof: "http://" + fmt.Sprintf("127.0.0.1:%d", port)}
}

// serverUsage is the server process's Go heap after a GC, goroutine stacks, goroutines and
// CPU time so far.
type serverUsage struct {
	heap, stack uint64
	goroutines  int
	cpu         time.Duration
}

// usage reads the server's heap and stacks from its pprof endpoint (gc=1 collects first),
// its goroutines from the goroutine profile and its CPU time from /proc.
func (s *scaleServer) usage(b *testing.B) serverUsage {
	b.Helper()
	var u serverUsage
	body := s.get(b, "/debug/pprof/heap?debug=1&gc=1")
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			u.heap, _ = strconv.ParseUint(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(line, "# Stack = "); ok { // "inuse / sys"
			inuse, _, _ := strings.Cut(v, " ")
			u.stack, _ = strconv.ParseUint(inuse, 10, 64)
		}
	}
	first, _, _ := strings.Cut(s.get(b, "/debug/pprof/goroutine?debug=1"), "\n")
	if v, ok := strings.CutPrefix(first, "goroutine profile: total "); ok {
		u.goroutines, _ = strconv.Atoi(v)
	}
	if u.heap == 0 || u.stack == 0 || u.goroutines == 0 {
		b.Fatalf("server profile unreadable: heap %d, stacks %d, goroutines %d", u.heap, u.stack, u.goroutines)
	}
	u.cpu = procCPU(b, s.Pid())
	return u
}

func (s *scaleServer) get(b *testing.B, path string) string {
	b.Helper()
	body, err := s.fetch(path)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// fetch reads path from the server's profiling port.
func (s *scaleServer) fetch(path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.prof+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("server profile %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	if err != nil {
		return "", fmt.Errorf("server profile %s: %w", path, err)
	}
	return string(body), nil
}

// profileWindow starts CPU profiles of this process and of the server for window, written to
// path.workers.pprof and path.server.pprof; the returned stop waits for both. An empty path
// profiles nothing.
func profileWindow(b *testing.B, srv *scaleServer, window time.Duration, path string) (stop func()) {
	b.Helper()
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path + ".workers.pprof")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() { // the server's profile endpoint answers after window
		body, err := srv.fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(window.Seconds())))
		done <- result{body, err}
	}()
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
		r := <-done
		if r.err == nil {
			r.err = os.WriteFile(path+".server.pprof", []byte(r.body), 0o644)
		}
		if r.err != nil {
			b.Error(r.err)
		}
		b.Logf("idle-window CPU profiles: %s.workers.pprof, %s.server.pprof", path, path)
	}
}

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// procCPU returns the user plus system CPU time of process pid, all its threads, from
// /proc/<pid>/stat (fields 14 and 15, after the parenthesised command name).
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		b.Fatalf("unexpected /proc/%d/stat: %q", pid, s)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		b.Fatal(err)
	}
	return time.Duration(utime+stime) * clockTick
}

// stopWorker cancels a worker's Run and waits up to 30 minutes for it to return (a graceful
// stop hands over or stops every actor the worker hosts).
type stopWorker func() error

// runWorker runs w until the returned stop is called or the benchmark ends; stopping twice
// returns the first result.
func runWorker(b *testing.B, w *framework.Worker) stopWorker {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
				if errors.Is(result, context.Canceled) {
					result = nil
				}
			case <-time.After(30 * time.Minute):
				result = errors.New("worker did not stop within 30 minutes")
			}
		})
		return result
	}
	b.Cleanup(func() {
		if err := stop(); err != nil {
			b.Errorf("worker run: %v", err)
		}
	})
	return stop
}

// envInt reads an integer from the environment variable name, or def if it is unset.
func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// envDuration reads a duration from the environment variable name, or def if it is unset.
func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration", name, v)
	}
	return d
}
