package clustertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServer returns the nats-server binary: $JETRAY_NATS_SERVER, or one built from the
// module in go.mod into a temporary directory.
func natsServer(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("JETRAY_NATS_SERVER"); p != "" {
		return p
	}
	bin := filepath.Join(t.TempDir(), "nats-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	return bin
}

// node is one nats-server process of a cluster.
type node struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  tailBuffer
	done chan struct{} // closed when the process has exited
}

// cluster is three nats-server processes, n1 to n3, routed to each other as cluster "jetray".
type cluster struct {
	nodes []*node
}

// startCluster writes a config per node into a temporary directory (file storage there too),
// starts the three servers, and waits until JetStream answers on each (a meta leader exists
// and every node reaches it). t.Cleanup kills what still runs.
func startCluster(t *testing.T, bin string) *cluster {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 6)
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	cl := &cluster{}
	for i := range 3 {
		n := &node{name: fmt.Sprintf("n%d", i+1), url: fmt.Sprintf("nats://127.0.0.1:%d", ports[i]), done: make(chan struct{})}
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
jetstream { store_dir: %q }
cluster {
  name: jetray
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, n.name, ports[i], filepath.Join(dir, n.name), ports[3+i], strings.Join(routes, ", "))
		path := filepath.Join(dir, n.name+".conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n.cmd = exec.Command(bin, "-c", path)
		n.cmd.Stdout, n.cmd.Stderr = &n.log, &n.log
		if err := n.cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", n.name, err)
		}
		go func() { _ = n.cmd.Wait(); close(n.done) }()
		t.Cleanup(func() {
			n.kill()
			if t.Failed() {
				t.Logf("%s log (tail):\n%s", n.name, n.log.String())
			}
		})
		cl.nodes = append(cl.nodes, n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range cl.nodes {
		cl.waitJetStream(t, n, deadline)
	}
	return cl
}

// waitJetStream polls account info through n, with short timeouts: JetStream API calls made
// before the cluster has a meta leader hang until their context ends.
func (cl *cluster) waitJetStream(t *testing.T, n *node, deadline time.Time) {
	t.Helper()
	var lastErr error
	for time.Now().Before(deadline) {
		if n.exited() {
			t.Fatalf("%s exited while starting; log:\n%s", n.name, n.log.String())
		}
		lastErr = accountInfo(n.url)
		if lastErr == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	t.Fatalf("%s: no JetStream meta leader within 30s: %v", n.name, lastErr)
}

func accountInfo(url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// urls returns the client URLs of the nodes, first's first, comma-separated.
func (cl *cluster) urls(first string) string {
	var head, rest []string
	for _, n := range cl.nodes {
		if n.name == first {
			head = append(head, n.url)
		} else {
			rest = append(rest, n.url)
		}
	}
	return strings.Join(append(head, rest...), ",")
}

func (cl *cluster) node(name string) *node {
	for _, n := range cl.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// kill sends SIGKILL and waits for the process to exit.
func (n *node) kill() {
	if !n.exited() {
		_ = n.cmd.Process.Kill()
	}
	<-n.done
}

func (n *node) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// freePorts returns n TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// tailBuffer keeps the last size bytes written to it (16 KiB if size is 0); safe for
// concurrent use.
type tailBuffer struct {
	size int
	mu   sync.Mutex
	b    []byte
}

func (tb *tailBuffer) Write(p []byte) (int, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.size == 0 {
		tb.size = 16 << 10
	}
	tb.b = append(tb.b, p...)
	if len(tb.b) > 2*tb.size {
		tb.b = append(tb.b[:0], tb.b[len(tb.b)-tb.size:]...)
	}
	return len(p), nil
}

func (tb *tailBuffer) String() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return string(tb.b[max(0, len(tb.b)-max(tb.size, 16<<10)):])
}
