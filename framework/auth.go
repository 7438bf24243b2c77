package framework

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// Auth holds the credentials and TLS settings a client presents to NATS, for every kind of
// authentication nats-server offers. The zero value connects without credentials or TLS.
// Turn it into connection options with Options (pass them to WithNATSOptions) or
// ClientOptions; commands register it as flags with AuthFlags.
//
// At most one of Token, User, NKeySeedFile and CredsFile may be set. TLS is used when any of
// CAFile, CertFile or InsecureSkipVerify is set, or when the URL's scheme is tls://.
type Auth struct {
	// Token authenticates with a shared token (server: authorization { token: ... }).
	Token string
	// User and Password authenticate as a configured user (server: authorization { users }).
	User, Password string
	// NKeySeedFile is a file holding a user nkey seed (SU...); the client signs the server's
	// nonce with it (server: users = [{ nkey: U... }]).
	NKeySeedFile string
	// CredsFile is a .creds file holding a user JWT and its seed, for servers in operator
	// (decentralised JWT) mode, as written by nsc.
	CredsFile string
	// CAFile is a PEM file of the certificate authorities that sign the server's certificate.
	// Default: the system's roots (with a tls:// URL).
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and its key, for servers that
	// verify clients (mTLS: tls { verify: true }). Both or neither.
	CertFile, KeyFile string
	// InsecureSkipVerify accepts any server certificate. For tests only: it defeats TLS.
	InsecureSkipVerify bool
	// ClientID fixes the client ID (see WithClientID), which subject permissions of a driver
	// role key on: its results are jetray.result.<ClientID>.>. Default: random.
	ClientID string
	// InboxPrefix replaces "_INBOX" as the prefix of the connection's reply subjects, so a
	// user's subscribe permission can be limited to its own inboxes ("<prefix>.>"). Default:
	// "_INBOX.<ClientID>" when ClientID is set, otherwise nats.go's "_INBOX".
	InboxPrefix string
	// Namespace scopes the client to a deployment (see WithNamespace). Default "".
	Namespace string
}

// Options returns the nats.go options for a: credentials (nats.Token, nats.UserInfo,
// nats.NkeyOptionFromSeed, nats.UserCredentials), TLS (nats.Secure, nats.RootCAs,
// nats.ClientCert) and the inbox prefix (nats.CustomInboxPrefix). Files are read now, so a
// missing or malformed file fails here rather than at every connection attempt; certificate
// files are read again on each reconnect, so rotated certificates are picked up. Errors:
// ErrAuthConfig for contradictory settings, or the error reading a file.
func (a Auth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	kinds := 0
	for _, set := range []bool{a.Token != "", a.User != "", a.NKeySeedFile != "", a.CredsFile != ""} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		return nil, fmt.Errorf("%w: give only one of token, user/password, nkey seed and creds file", ErrAuthConfig)
	}
	if a.Password != "" && a.User == "" {
		return nil, fmt.Errorf("%w: a password needs a user", ErrAuthConfig)
	}
	switch {
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token))
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	case a.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("jetray: nkey seed %s: %w", a.NKeySeedFile, err)
		}
		opts = append(opts, o)
	case a.CredsFile != "":
		if _, err := os.ReadFile(a.CredsFile); err != nil {
			return nil, fmt.Errorf("jetray: creds: %w", err)
		}
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}

	if (a.CertFile == "") != (a.KeyFile == "") {
		return nil, fmt.Errorf("%w: a client certificate needs both the certificate and its key", ErrAuthConfig)
	}
	if a.InsecureSkipVerify {
		// First: RootCAs and ClientCert below add to this config instead of replacing it.
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}))
	}
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("jetray: TLS CA: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: TLS CA %s holds no PEM certificate", ErrAuthConfig, a.CAFile)
		}
		opts = append(opts, nats.RootCAs(a.CAFile))
	}
	if a.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(a.CertFile, a.KeyFile); err != nil {
			return nil, fmt.Errorf("jetray: TLS client certificate: %w", err)
		}
		opts = append(opts, nats.ClientCert(a.CertFile, a.KeyFile))
	}

	prefix := a.InboxPrefix
	if prefix == "" && a.ClientID != "" {
		prefix = "_INBOX." + a.ClientID
	}
	if prefix != "" {
		if err := nats.CustomInboxPrefix(prefix)(&nats.Options{}); err != nil {
			return nil, fmt.Errorf("%w: inbox prefix %q: no wildcards, no trailing dot", ErrAuthConfig, prefix)
		}
		opts = append(opts, nats.CustomInboxPrefix(prefix))
	}
	return opts, nil
}

// ClientOptions returns the options to pass to Connect: WithNATSOptions(a.Options()...) and,
// when a.ClientID is set, WithClientID. Errors: as for Options, or an invalid ClientID.
func (a Auth) ClientOptions() ([]Option, error) {
	if a.ClientID != "" {
		if err := ValidName(a.ClientID); err != nil {
			return nil, fmt.Errorf("jetray: client id: %w", err)
		}
	}
	nopts, err := a.Options()
	if err != nil {
		return nil, err
	}
	opts := []Option{WithNATSOptions(nopts...)}
	if a.ClientID != "" {
		opts = append(opts, WithClientID(a.ClientID))
	}
	if a.Namespace != "" {
		opts = append(opts, WithNamespace(a.Namespace))
	}
	return opts, nil
}

// AuthFlags registers the connection flags of a command on fs and returns the Auth they fill
// when fs is parsed:
//
//	-token T           token authentication (default $NATS_TOKEN)
//	-user U            user name, with -password (default $NATS_PASSWORD)
//	-nkey FILE         nkey seed file
//	-creds FILE        JWT credentials file (operator mode)
//	-tlsca FILE        CA certificates that sign the server's certificate
//	-tlscert FILE      client certificate, with -tlskey FILE, for mTLS
//	-client-id ID      fixed client ID, for subject permissions per driver
//	-inbox-prefix P    reply subject prefix (default _INBOX.<client id>, or _INBOX)
//	-namespace NS      the deployment's namespace (default $JETRAY_NAMESPACE; see WithNamespace)
//
// The token and password may come from the environment ($NATS_TOKEN, $NATS_PASSWORD) so they
// stay out of the process list; help output never shows them. A token from the environment
// is dropped when -user, -nkey or -creds is given.
func AuthFlags(fs *flag.FlagSet) *Auth {
	a := &Auth{Token: os.Getenv("NATS_TOKEN"), Password: os.Getenv("NATS_PASSWORD")}
	tokenFlag := false
	fs.Func("token", "authenticate with `TOKEN` (default $NATS_TOKEN)", func(v string) error {
		a.Token, tokenFlag = v, true
		return nil
	})
	other := func(dst *string) func(string) error { // another kind of credentials
		return func(v string) error {
			*dst = v
			if !tokenFlag {
				a.Token = ""
			}
			return nil
		}
	}
	fs.Func("user", "authenticate as `USER`, with -password", other(&a.User))
	fs.Func("password", "the `PASSWORD` of -user (default $NATS_PASSWORD)", func(v string) error {
		a.Password = v
		return nil
	})
	fs.Func("nkey", "authenticate with the nkey seed in `FILE`", other(&a.NKeySeedFile))
	fs.Func("creds", "authenticate with the JWT credentials in `FILE` (operator mode)", other(&a.CredsFile))
	fs.StringVar(&a.CAFile, "tlsca", "", "verify the server's TLS certificate with the CA certificates in `FILE`")
	fs.StringVar(&a.CertFile, "tlscert", "", "present the TLS client certificate in `FILE` (mTLS), with -tlskey")
	fs.StringVar(&a.KeyFile, "tlskey", "", "the key of -tlscert, in `FILE`")
	fs.StringVar(&a.ClientID, "client-id", "", "fixed client `ID` (result subjects jetray.result.ID.>), for subject permissions")
	fs.StringVar(&a.InboxPrefix, "inbox-prefix", "", "reply subject `PREFIX` (default _INBOX.<client-id>, or _INBOX)")
	fs.StringVar(&a.Namespace, "namespace", os.Getenv("JETRAY_NAMESPACE"), "deployment `NAMESPACE`: its own streams, buckets and subjects on a shared NATS account (default $JETRAY_NAMESPACE, else none)")
	return a
}
