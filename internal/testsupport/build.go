package testsupport

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

// Import paths of the programs tests build.
const (
	WorkerPkg      = "github.com/jetray/jetray/cmd/worker"
	DriverPkg      = "github.com/jetray/jetray/cmd/driver"
	ChaosWorkerPkg = "github.com/jetray/jetray/chaostest/chaosworker"
	NATSServerPkg  = "github.com/nats-io/nats-server/v2"
)

// NATSServerEnv names an environment variable holding the path of a nats-server binary to
// run instead of building one (make test sets it to bin/nats-server).
const NATSServerEnv = "JETRAY_NATS_SERVER"

// builds holds what this test binary has built: one entry per import path, built once.
var builds struct {
	mu   sync.Mutex
	dir  string
	err  error // creating dir failed
	bins map[string]*built
}

type built struct {
	once sync.Once
	path string
	err  error
}

// Build builds the Go program pkg (an import path) into a temporary directory the first time
// a test of this test binary asks for it, with -race when RaceEnabled (nats-server always
// without), and returns the binary's path. Tests calling it are skipped with -short: they
// build and run processes. The directory is removed by Main or RemoveBinaries.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	skipShort(t)
	builds.mu.Lock()
	if builds.dir == "" && builds.err == nil {
		builds.dir, builds.err = os.MkdirTemp("", "jetray-test-bin-*")
	}
	dir, err := builds.dir, builds.err
	if builds.bins == nil {
		builds.bins = map[string]*built{}
	}
	b := builds.bins[pkg]
	if b == nil {
		b = &built{}
		builds.bins[pkg] = b
	}
	builds.mu.Unlock()
	if err != nil {
		t.Fatalf("testsupport: build directory: %v", err)
	}
	b.once.Do(func() {
		name := path.Base(pkg)
		if pkg == NATSServerPkg {
			name = "nats-server"
		}
		b.path = filepath.Join(dir, name)
		args := []string{"build", "-o", b.path}
		if RaceEnabled && pkg != NATSServerPkg {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, pkg)...).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Worker returns the cmd/worker binary, built as Build does.
func Worker(t testing.TB) string {
	t.Helper()
	return Build(t, WorkerPkg)
}

// Driver returns the cmd/driver binary, built as Build does.
func Driver(t testing.TB) string {
	t.Helper()
	return Build(t, DriverPkg)
}

// NATSServer returns the nats-server binary: the one NATSServerEnv names, or one built from
// the version in go.mod. Tests calling it are skipped with -short.
func NATSServer(t testing.TB) string {
	t.Helper()
	skipShort(t)
	if p := os.Getenv(NATSServerEnv); p != "" {
		return p
	}
	return Build(t, NATSServerPkg)
}

func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs nats-server and jetray processes")
	}
}

// RemoveBinaries removes what Build built; a package's TestMain calls it after m.Run.
func RemoveBinaries() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
}

// Main runs the tests, removes what Build built and exits with the tests' status: the body
// of TestMain for a package with nothing else to set up.
func Main(m *testing.M) {
	code := m.Run()
	RemoveBinaries()
	os.Exit(code)
}
