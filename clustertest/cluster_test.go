package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetray/jetray/internal/testsupport"
)

// TestMain removes the nats-server binary the tests built, if they built one.
func TestMain(m *testing.M) { testsupport.Main(m) }

// node is one nats-server process of a cluster.
type node struct {
	*testsupport.Proc
	name string
	url  string
	bin  string
	args []string
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
	ports := testsupport.FreePorts(t, 6)
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	cl := &cluster{}
	for i := range 3 {
		n := &node{name: fmt.Sprintf("n%d", i+1), url: testsupport.LocalURL(ports[i])}
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
		n.bin, n.args = bin, []string{"-c", path}
		n.Proc = testsupport.Start(t, n.name, bin, n.args, testsupport.CombinedOutput())
		cl.nodes = append(cl.nodes, n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range cl.nodes {
		// Polls account info with short timeouts: JetStream API calls made before the cluster
		// has a meta leader hang until their context ends.
		testsupport.WaitNoError(t, time.Until(deadline), n.name+" JetStream meta leader", func() error {
			if n.Exited() {
				t.Fatalf("%s exited while starting; log:\n%s", n.name, n.Stderr.String())
			}
			return accountInfo(n.url)
		})
	}
	return cl
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

// restart starts n again, with its configuration and store, after it exited, and waits until
// JetStream answers through it.
func (n *node) restart(t *testing.T) {
	t.Helper()
	n.Proc = testsupport.Start(t, n.name, n.bin, n.args, testsupport.CombinedOutput())
	testsupport.WaitNoError(t, 30*time.Second, n.name+" JetStream after a restart", func() error {
		if n.Exited() {
			t.Fatalf("%s exited while starting; log:\n%s", n.name, n.Stderr.String())
		}
		return accountInfo(n.url)
	})
}

func (cl *cluster) node(name string) *node {
	for _, n := range cl.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}
