package tcpproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/jetray/jetray/internal/tcpproxy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoServer answers every line with the same line, until closed.
type echoServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln, conns: map[net.Conn]struct{}{}}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns[c] = struct{}{}
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(e.close)
	return e
}

func (e *echoServer) close() {
	_ = e.ln.Close()
	e.mu.Lock()
	for c := range e.conns {
		_ = c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes a line and reads it back within d.
func roundTrip(c net.Conn, line string, d time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(d))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestCutAndRestore(t *testing.T) {
	e := startEcho(t)
	p, err := tcpproxy.Start(e.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	c := dial(t, p.Addr())
	if got, err := roundTrip(c, "one", 5*time.Second); err != nil || got != "one" {
		t.Fatalf("before cut: %q, %v", got, err)
	}

	p.Cut()
	// The current connection is closed by the proxy.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read on a cut connection: %v, want EOF or reset", err)
	}
	// A new connection is accepted but never forwarded while cut.
	held := dial(t, p.Addr())
	if _, err := roundTrip(held, "two", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("round trip while cut: %v, want a timeout", err)
	}
	if !p.Partitioned() {
		t.Fatal("Partitioned() = false while cut")
	}

	p.Restore()
	// The held connection is closed; its client retries.
	_ = held.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read on a held connection after Restore: %v, want EOF", err)
	}
	c2 := dial(t, p.Addr())
	if got, err := roundTrip(c2, "three", 5*time.Second); err != nil || got != "three" {
		t.Fatalf("after restore: %q, %v", got, err)
	}
	if active, accepted, cuts := p.Stats(); active != 1 || accepted != 3 || cuts != 1 {
		t.Fatalf("Stats() = %d active, %d accepted, %d cuts; want 1, 3, 1", active, accepted, cuts)
	}
}

func TestBlackholeHoldsBytes(t *testing.T) {
	e := startEcho(t)
	p, err := tcpproxy.Start(e.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	c := dial(t, p.Addr())
	if got, err := roundTrip(c, "one", 5*time.Second); err != nil || got != "one" {
		t.Fatalf("before blackhole: %q, %v", got, err)
	}
	p.Blackhole()
	if _, err := io.WriteString(c, "two\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := r.ReadString('\n'); !isTimeout(err) {
		t.Fatalf("read while blackholed: %v, want a timeout", err)
	}
	p.Restore()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || got != "two\n" {
		t.Fatalf("after restore: %q, %v; want the held bytes", got, err)
	}
}

func TestCloseJoinsEverything(t *testing.T) {
	e := startEcho(t)
	p, err := tcpproxy.Start(e.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	open := dial(t, p.Addr())
	if _, err := roundTrip(open, "x", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	dial(t, p.Addr()) // held
	if _, err := io.WriteString(open, "stuck\n"); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

func TestTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	p, err := tcpproxy.Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dial(t, p.Addr())
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read with the target down: %v, want EOF", err)
	}
}

// waitStatus polls nc until it reports want, or fails after d.
func waitStatus(t *testing.T, nc *nats.Conn, want nats.Status, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for nc.Status() != want {
		if time.Now().After(deadline) {
			t.Fatalf("NATS status %v after %v, want %v", nc.Status(), d, want)
		}
		time.Sleep(20 * time.Millisecond) // poll interval of the deadline loop
	}
}

// TestNATSPartition (a real nats-server in this process): a NATS client behind the proxy loses its connection on Cut, cannot
// reconnect while cut (its connect hangs until its timeout), and reconnects after Restore.
func TestNATSPartition(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	target := strings.TrimPrefix(srv.ClientURL(), "nats://")
	p, err := tcpproxy.Start(target)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	direct, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	sub, err := direct.Subscribe("echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := direct.Flush(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var disconnects, reconnects int
	nc, err := nats.Connect("nats://"+p.Addr(),
		nats.Timeout(300*time.Millisecond),
		nats.ReconnectWait(50*time.Millisecond),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { mu.Lock(); disconnects++; mu.Unlock() }),
		nats.ReconnectHandler(func(*nats.Conn) { mu.Lock(); reconnects++; mu.Unlock() }),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Request("echo", []byte("a"), 5*time.Second); err != nil {
		t.Fatalf("request before cut: %v", err)
	}

	p.Cut()
	waitStatus(t, nc, nats.RECONNECTING, 5*time.Second)
	// While cut, every reconnect attempt hangs and fails: the client never gets back.
	until := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(until) {
		if s := nc.Status(); s == nats.CONNECTED {
			t.Fatal("client reconnected through a cut proxy")
		}
		time.Sleep(20 * time.Millisecond) // not a wait: samples the status through a 1.5 s window
	}
	if _, accepted, _ := p.Stats(); accepted < 2 {
		t.Fatalf("accepted %d connections; want the client's reconnect attempts held", accepted)
	}

	p.Restore()
	waitStatus(t, nc, nats.CONNECTED, 10*time.Second)
	if _, err := nc.Request("echo", []byte("b"), 5*time.Second); err != nil {
		t.Fatalf("request after restore: %v", err)
	}
	// The handlers run on the client's callback goroutine, possibly after the status changed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		d, r := disconnects, reconnects
		mu.Unlock()
		if d >= 1 && r >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d disconnects, %d reconnects; want at least 1 each", d, r)
		}
		time.Sleep(20 * time.Millisecond) // poll interval of the deadline loop
	}
}
