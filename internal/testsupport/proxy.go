package testsupport

import (
	"strings"
	"testing"

	"github.com/jetray/jetray/internal/tcpproxy"
)

// Proxy starts a TCP proxy in front of the NATS server at url (nats://host:port or
// host:port), so that a test can cut or stall one client's connection; it returns the proxy
// and the NATS URL through it. t.Cleanup closes the proxy.
func Proxy(t testing.TB, url string) (p *tcpproxy.Proxy, proxied string) {
	t.Helper()
	p, err := tcpproxy.Start(strings.TrimPrefix(url, "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, "nats://" + p.Addr()
}
