// Connection: dialling NATS with the client's options, and telling TLS failures apart.
// Owner: Connect.

package framework

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// connectNATS dials, retrying until ctx ends (a server may still be starting).
func connectNATS(ctx context.Context, url string, opts []nats.Option) (*nats.Conn, error) {
	var lastErr error
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, time.Second) {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		lastErr = err
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || isTLSError(err) {
			break // retrying cannot help
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("jetray: connect %s: %w (last error: %v)", url, ctx.Err(), lastErr)
		case <-time.After(delay):
		}
	}
	return nil, fmt.Errorf("jetray: connect %s: %w", url, lastErr)
}

// isTLSError reports certificate and handshake failures, which a retry cannot fix.
func isTLSError(err error) bool {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var re *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &re) ||
		errors.Is(err, nats.ErrSecureConnRequired) || errors.Is(err, nats.ErrSecureConnWanted) ||
		strings.Contains(err.Error(), "tls: ")
}
