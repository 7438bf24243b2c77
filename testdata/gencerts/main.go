// Command gencerts writes the test-only credentials under testdata/ that the auth tests and
// the server configs in testdata/nats use. Run it from the repository root:
//
//	go run ./testdata/gencerts
//
// It (re)generates, each valid for 10 years:
//
//	testdata/certs/ca.pem                  a test CA (its key is not kept)
//	testdata/certs/server.pem, -key.pem    server certificate for 127.0.0.1, ::1 and localhost
//	testdata/certs/client.pem, -key.pem    client certificate for mTLS (CN jetray-test-client)
//	testdata/nkeys/user.nk                 the seed of the nkey test user
//	testdata/nats/nkey.conf                server config admitting that nkey user
//	testdata/creds/user.creds              a JWT user of a test operator/account
//	testdata/nats/creds.conf               operator-mode server config trusting that operator
//
// Everything here is public and for tests only: never use it to protect anything.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

const validity = 10 * 365 * 24 * time.Hour

func main() {
	out := flag.String("out", "testdata", "the testdata `directory` to write into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gencerts:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	for _, sub := range []string{"certs", "nkeys", "creds", "nats"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	if err := writeCerts(filepath.Join(dir, "certs")); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	if err := writeNkeyUser(dir); err != nil {
		return fmt.Errorf("nkey user: %w", err)
	}
	if err := writeCreds(dir); err != nil {
		return fmt.Errorf("creds: %w", err)
	}
	return nil
}

// writeCerts writes a CA, a server certificate signed by it and a client certificate.
func writeCerts(dir string) error {
	now := time.Now().Add(-time.Hour).UTC()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "jetray test CA", Organization: []string{"jetray tests"}},
		NotBefore:             now,
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER, 0o644); err != nil {
		return err
	}
	leaves := []struct {
		name string
		tmpl *x509.Certificate
	}{
		{"server", &x509.Certificate{
			Subject:     pkix.Name{CommonName: "localhost", Organization: []string{"jetray tests"}},
			DNSNames:    []string{"localhost"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}},
		{"client", &x509.Certificate{
			Subject:        pkix.Name{CommonName: "jetray-test-client", Organization: []string{"jetray tests"}},
			EmailAddresses: []string{"client@jetray.test"},
			ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}},
	}
	for _, l := range leaves {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		l.tmpl.SerialNumber = serial()
		l.tmpl.NotBefore, l.tmpl.NotAfter = now, now.Add(validity)
		l.tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, l.tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, l.name+".pem"), "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, l.name+"-key.pem"), "PRIVATE KEY", keyDER, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

// writeNkeyUser writes a user seed and a server config admitting its public key.
func writeNkeyUser(dir string) error {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	seed, err := kp.Seed()
	if err != nil {
		return err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "nkeys", "user.nk"), append(seed, '\n'), 0o600); err != nil {
		return err
	}
	conf := fmt.Sprintf(`# Generated by go run ./testdata/gencerts: do not edit. Test only.
# One nkey user; a client proves it holds the seed in testdata/nkeys/user.nk
# (worker/driver -nkey testdata/nkeys/user.nk).
authorization {
  users = [
    { nkey: %s }
  ]
}
`, pub)
	return os.WriteFile(filepath.Join(dir, "nats", "nkey.conf"), []byte(conf), 0o644)
}

// writeCreds makes an operator, an account with JetStream and a user of it, then writes the
// user's creds file and an operator-mode server config (memory resolver) trusting them.
func writeCreds(dir string) error {
	expires := time.Now().Add(validity).Unix()
	okp, err := nkeys.CreateOperator()
	if err != nil {
		return err
	}
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "jetray-test-operator"
	oc.Expires = expires

	// The system account lets the server report on itself; the server wants one.
	sys, sysJWT, _, err := account(okp, "SYS", false, expires)
	if err != nil {
		return err
	}
	oc.SystemAccount = sys
	ojwt, err := oc.Encode(okp)
	if err != nil {
		return err
	}
	acct, acctJWT, akp, err := account(okp, "JETRAY", true, expires)
	if err != nil {
		return err
	}

	ukp, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "jetray-test-user"
	uc.IssuerAccount = acct
	uc.Expires = expires
	ujwt, err := uc.Encode(akp)
	if err != nil {
		return err
	}
	useed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "creds", "user.creds"), creds, 0o600); err != nil {
		return err
	}
	conf := fmt.Sprintf(`# Generated by go run ./testdata/gencerts: do not edit. Test only.
# Operator mode (decentralised JWT auth): the server trusts the test operator; accounts are
# preloaded in a memory resolver. The user of account JETRAY connects with
# testdata/creds/user.creds (worker/driver -creds testdata/creds/user.creds).
operator: %s
system_account: %s
resolver: MEMORY
resolver_preload: {
  %s: %s
  %s: %s
}
`, ojwt, sys, sys, sysJWT, acct, acctJWT)
	return os.WriteFile(filepath.Join(dir, "nats", "creds.conf"), []byte(conf), 0o644)
}

// account makes an account signed by the operator; js turns JetStream on (no limits). It
// returns the account's public key, its JWT and its key pair (to sign users).
func account(okp nkeys.KeyPair, name string, js bool, expires int64) (pub, token string, akp nkeys.KeyPair, err error) {
	akp, err = nkeys.CreateAccount()
	if err != nil {
		return "", "", nil, err
	}
	pub, _ = akp.PublicKey()
	ac := jwt.NewAccountClaims(pub)
	ac.Name = name
	ac.Expires = expires
	if js {
		ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	}
	token, err = ac.Encode(okp)
	if err != nil {
		return "", "", nil, err
	}
	return pub, token, akp, nil
}
