package framework_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// The test credentials and server configs of testdata/ (go run ./testdata/gencerts).
const (
	authData = "../testdata/"
	authCA   = authData + "certs/ca.pem"
	authCert = authData + "certs/client.pem"
	authKey  = authData + "certs/client-key.pem"
)

var authEcho = framework.NewTask("auth_echo", func(_ context.Context, s string) (string, error) { return s + "!", nil })

// authDeref awaits a future passed inside its input: the worker reads another client's result.
var authDeref = framework.NewTask("auth_deref", func(ctx context.Context, f *futures.Future[string]) (string, error) {
	return f.Await(ctx)
})

var authCount = framework.NewStreamTask("auth_count", func(_ context.Context, n int, yield func(int) error) error {
	for i := range n {
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

// startAuthConf starts an embedded server configured by testdata/nats/<conf>.
func startAuthConf(t *testing.T, conf string, cfg framework.EmbeddedConfig) *framework.EmbeddedServer {
	t.Helper()
	opts, err := server.ProcessConfigFile(authData + "nats/" + conf)
	if err != nil {
		t.Fatalf("config %s: %v", conf, err)
	}
	cfg.Options = opts
	return startServer(t, cfg)
}

// authClientOpts turns a into Connect options, failing the test on an error.
func authClientOpts(t *testing.T, a framework.Auth, extra ...nats.Option) []framework.Option {
	t.Helper()
	opts, err := a.ClientOptions()
	if err != nil {
		t.Fatalf("auth options: %v", err)
	}
	return append(opts, framework.WithNATSOptions(extra...))
}

func TestAuthKinds(t *testing.T) {
	otherSeed := filepath.Join(t.TempDir(), "other.nk")
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	if err := os.WriteFile(otherSeed, seed, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, conf string
		good, bad  framework.Auth
		badErr     string // in the error of a client with bad credentials
	}{
		{"token", "token.conf", framework.Auth{Token: "jetray-test-token"}, framework.Auth{Token: "wrong"},
			"Authorization Violation"},
		{"user-password", "roles.conf", framework.Auth{User: "admin", Password: "admin-pass"},
			framework.Auth{User: "admin", Password: "wrong"}, "Authorization Violation"},
		{"nkey", "nkey.conf", framework.Auth{NKeySeedFile: authData + "nkeys/user.nk"},
			framework.Auth{NKeySeedFile: otherSeed}, "Authorization Violation"},
		{"creds", "creds.conf", framework.Auth{CredsFile: authData + "creds/user.creds"},
			framework.Auth{}, "Authorization Violation"},
		{"tls", "tls.conf", framework.Auth{CAFile: authCA}, framework.Auth{},
			"certificate signed by unknown authority"},
		{"mtls", "mtls.conf", framework.Auth{CAFile: authCA, CertFile: authCert, KeyFile: authKey},
			framework.Auth{CAFile: authCA}, "tls"}, // "certificate required", or the connection closed after the handshake
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startAuthConf(t, tc.conf, framework.EmbeddedConfig{})
			wc := connect(t, srv.ClientURL(), authClientOpts(t, tc.good)...)
			runWorker(t, newWorker(t, wc, nil, authEcho))
			dc := connect(t, srv.ClientURL(), authClientOpts(t, tc.good)...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if out, err := authEcho.Remote(ctx, dc, "hi").Await(ctx); err != nil || out != "hi!" {
				t.Fatalf("round trip = %q, %v", out, err)
			}

			// Authorization failures end Connect at once; TLS failures are retried until
			// ctx ends, with the cause in the error.
			bctx, bcancel := context.WithTimeout(context.Background(), time.Second)
			defer bcancel()
			c, err := framework.Connect(bctx, srv.ClientURL(), authClientOpts(t, tc.bad)...)
			if err == nil {
				_ = c.Close()
				t.Fatal("connected with bad credentials")
			}
			if !strings.Contains(err.Error(), tc.badErr) {
				t.Fatalf("bad credentials: err = %v, want it to mention %q", err, tc.badErr)
			}
		})
	}
}

func TestAuthOptionsErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name   string
		a      framework.Auth
		config bool // ErrAuthConfig; otherwise a file error
	}{
		{"token and user", framework.Auth{Token: "t", User: "u"}, true},
		{"nkey and creds", framework.Auth{NKeySeedFile: "a", CredsFile: "b"}, true},
		{"password without user", framework.Auth{Password: "p"}, true},
		{"cert without key", framework.Auth{CertFile: authCert}, true},
		{"CA not PEM", framework.Auth{CAFile: notPEM}, true},
		{"inbox prefix with wildcard", framework.Auth{InboxPrefix: "_INBOX.*"}, true},
		{"missing CA", framework.Auth{CAFile: missing}, false},
		{"missing nkey seed", framework.Auth{NKeySeedFile: missing}, false},
		{"missing creds", framework.Auth{CredsFile: missing}, false},
		{"key does not match cert", framework.Auth{CertFile: authCert, KeyFile: authData + "certs/server-key.pem"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.a.Options()
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, framework.ErrAuthConfig) != tc.config {
				t.Fatalf("err = %v; ErrAuthConfig: %v, want %v", err, errors.Is(err, framework.ErrAuthConfig), tc.config)
			}
		})
	}
	if _, err := (framework.Auth{ClientID: "a.b"}).ClientOptions(); !errors.Is(err, framework.ErrInvalidName) {
		t.Fatalf("client id a.b: err = %v", err)
	}
}

func TestAuthFlags(t *testing.T) {
	t.Setenv("NATS_TOKEN", "secret-token-env")
	t.Setenv("NATS_PASSWORD", "secret-password-env")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var help strings.Builder
	fs.SetOutput(&help)
	a := framework.AuthFlags(fs)
	err := fs.Parse([]string{"-user", "u", "-nkey", "n", "-creds", "c", "-tlsca", "ca", "-tlscert", "cert",
		"-tlskey", "key", "-client-id", "drv1", "-inbox-prefix", "_INBOX.x"})
	if err != nil {
		t.Fatal(err)
	}
	want := framework.Auth{User: "u", Password: "secret-password-env", NKeySeedFile: "n", CredsFile: "c", CAFile: "ca",
		CertFile: "cert", KeyFile: "key", ClientID: "drv1", InboxPrefix: "_INBOX.x"}
	if *a != want { // the token from the environment gave way to -user
		t.Fatalf("parsed %+v, want %+v", *a, want)
	}
	if err := fs.Parse([]string{"-token", "secret-token-flag", "-password", "secret-password-flag"}); err != nil {
		t.Fatal(err)
	}
	if a.Token != "secret-token-flag" || a.Password != "secret-password-flag" {
		t.Fatalf("token %q password %q", a.Token, a.Password)
	}
	fs.PrintDefaults()
	if strings.Contains(help.String(), "secret-") {
		t.Fatalf("help shows a secret:\n%s", help.String())
	}
}

// permViolations records the permission permViolations the server reports to one connection.
type permViolations chan string

func (v permViolations) option() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			select {
			case v <- err.Error():
			default:
			}
		}
	})
}

// none fails the test if a violation was reported.
func (v permViolations) none(t *testing.T, who string) {
	t.Helper()
	select {
	case s := <-v:
		t.Fatalf("%s: unexpected %s", who, s)
	default:
	}
}

// denied runs op, which the server must refuse: it waits for the violation report naming
// subject (publish, or subscribe when sub is set), then cancels op's ctx and checks that op
// failed. Requests to a denied subject get no answer, so op would otherwise wait until its
// ctx ends.
func (v permViolations) denied(t *testing.T, subject string, sub bool, op func(ctx context.Context) error) {
	t.Helper()
	kind := "Publish to"
	if sub {
		kind = "Subscription to"
	}
	want := kind + ` "` + subject
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- op(ctx) }()
	for {
		select {
		case s := <-v:
			if !strings.Contains(s, want) {
				continue // an earlier denial's retry
			}
			cancel()
			if err := <-done; !sub && err == nil {
				t.Fatalf("%s: allowed", want)
			}
			return
		case <-ctx.Done():
			t.Fatalf("no violation %s...", want)
		}
	}
}

// authRawConn is a plain NATS connection with a's credentials whose permViolations are recorded.
func authRawConn(t *testing.T, url string, a framework.Auth) (*nats.Conn, jetstream.JetStream, permViolations) {
	t.Helper()
	v := make(permViolations, 64)
	opts, err := a.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, append(opts, v.option())...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, v
}

// TestPermissions checks the roles of testdata/nats/roles.conf (docs/security.md): drivers
// submit tasks and read their own results only; workers take tasks and cannot submit them.
func TestPermissions(t *testing.T) {
	// A small max payload sends the big value below through the object store.
	srv := startAuthConf(t, "roles.conf", framework.EmbeddedConfig{MaxPayload: 128 << 10})
	url := srv.ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The admin creates the streams and buckets once; the roles use them.
	admin := connect(t, url, authClientOpts(t, framework.Auth{User: "admin", Password: "admin-pass"})...)
	if _, err := admin.JetStream().CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: framework.ObjectsBucket}); err != nil {
		t.Fatal(err)
	}

	workerAuth := framework.Auth{User: "worker", Password: "worker-pass", InboxPrefix: "_INBOX.worker"}
	drv1Auth := framework.Auth{User: "drv1", Password: "drv1-pass", ClientID: "drv1"}
	drv2Auth := framework.Auth{User: "drv2", Password: "drv2-pass", ClientID: "drv2"}
	wv, d1v, d2v := make(permViolations, 64), make(permViolations, 64), make(permViolations, 64)
	wc := connect(t, url, authClientOpts(t, workerAuth, wv.option())...)
	rw := runWorker(t, newWorker(t, wc, nil, authEcho, authDeref, authCount))
	drv1 := connect(t, url, authClientOpts(t, drv1Auth, d1v.option())...)
	drv2 := connect(t, url, authClientOpts(t, drv2Auth, d2v.option())...)

	t.Run("drivers submit and read their results", func(t *testing.T) {
		for _, c := range []*framework.Client{drv1, drv2} {
			if out, err := authEcho.Remote(ctx, c, c.ID()).Await(ctx); err != nil || out != c.ID()+"!" {
				t.Fatalf("%s: round trip = %q, %v", c.ID(), out, err)
			}
		}
		big := strings.Repeat("x", 100<<10) // through the object store, both ways
		if out, err := authEcho.Remote(ctx, drv1, big).Await(ctx); err != nil || len(out) != len(big)+1 {
			t.Fatalf("big value: %d bytes, %v", len(out), err)
		}
		put := framework.Put(ctx, drv1, "put")
		if out, err := authDeref.Remote(ctx, drv1, put).Await(ctx); err != nil || out != "put" {
			t.Fatalf("future passed to a task: %q, %v", out, err)
		}
		n := 0
		for v, err := range authCount.Remote(ctx, drv1, 3).All(ctx) {
			if err != nil || v != n {
				t.Fatalf("stream item %d = %d, %v", n, v, err)
			}
			n++
		}
		if n != 3 {
			t.Fatalf("stream: %d items", n)
		}
		// With a window the worker asks drv1 for credit, and drv1 answers.
		st := authCount.Options(framework.StreamWindow(2)).Remote(ctx, drv1, 20)
		waitFor(t, 10*time.Second, "the producer to wait for credit", func() bool { return st.Buffered() == 2 })
		n = 0
		for v, err := range st.All(ctx) {
			if err != nil || v != n {
				t.Fatalf("windowed stream item %d = %d, %v", n, v, err)
			}
			n++
		}
		if taken, _ := framework.CreditRequests(drv1); n != 20 || taken == 0 {
			t.Fatalf("windowed stream: %d items, %d credit requests", n, taken)
		}
		// A priority call: the driver announces its route, the worker follows the
		// announcements and pulls from the route's own consumer.
		if out, err := authEcho.Options(framework.Priority(framework.High)).Remote(ctx, drv1, "hi").Await(ctx); err != nil || out != "hi!" {
			t.Fatalf("high priority call: %q, %v", out, err)
		}
		if err := framework.Cancel(ctx, drv1, authEcho.Remote(ctx, drv1, "x")); err != nil {
			t.Fatalf("cancel own call: %v", err)
		}
		// Deadlines (schedules on its own result subjects, a start record by the worker) and
		// idempotency keys.
		dl := authEcho.Options(framework.StartWithin(time.Minute), framework.FinishWithin(time.Minute))
		if out, err := dl.Remote(ctx, drv1, "dl").Await(ctx); err != nil || out != "dl!" {
			t.Fatalf("call with deadlines: %q, %v", out, err)
		}
		k1 := authEcho.Options(framework.IdempotencyKey("perm")).Remote(ctx, drv1, "k")
		k2 := authEcho.Options(framework.IdempotencyKey("perm")).Remote(ctx, drv1, "k")
		if out, err := k2.Await(ctx); err != nil || out != "k!" || k1.ID() != k2.ID() {
			t.Fatalf("keyed call: %s %q, %v; want the first call %s", k2.ID(), out, err, k1.ID())
		}
		// Delayed calls, cancelling one, and a periodic schedule that both drivers declare,
		// whose runs the worker serves and whose results a driver reads.
		if out, err := authEcho.Options(framework.Delay(100*time.Millisecond)).Remote(ctx, drv1, "later").Await(ctx); err != nil || out != "later!" {
			t.Fatalf("delayed call: %q, %v", out, err)
		}
		if err := framework.Cancel(ctx, drv1, authEcho.Options(framework.Delay(time.Hour)).Remote(ctx, drv1, "never")); err != nil {
			t.Fatalf("cancel a delayed call: %v", err)
		}
		for _, c := range []*framework.Client{drv1, drv2} {
			if err := authEcho.Schedule(ctx, c, "auth-every", framework.Every(time.Second), "run"); err != nil {
				t.Fatalf("%s: declare: %v", c.ID(), err)
			}
		}
		ss, err := framework.Schedules(ctx, drv2)
		if err != nil || len(ss) != 1 {
			t.Fatalf("Schedules = %+v, %v", ss, err)
		}
		var out string
		if err := drv1.Resolve(ctx, framework.TickID("auth-every", ss[0].Next), &out); err != nil || out != "run!" {
			t.Fatalf("a run's result: %q, %v", out, err)
		}
		if err := framework.DeleteSchedule(ctx, drv2, "auth-every"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		// Shutting down cleans up (consumer deletes): allowed too.
		if err := rw.stop(t, 10*time.Second); err != nil {
			t.Fatalf("worker: %v", err)
		}
		for _, c := range []*framework.Client{drv1, drv2, wc} {
			_ = c.Close()
		}
		wv.none(t, "worker")
		d1v.none(t, "drv1")
		d2v.none(t, "drv2")
	})

	t.Run("driver cannot consume tasks", func(t *testing.T) {
		nc, js, v := authRawConn(t, url, drv1Auth)
		v.denied(t, "jetray.task.>", true, func(context.Context) error {
			_, err := nc.SubscribeSync("jetray.task.>")
			return err
		})
		v.denied(t, "$JS.API.CONSUMER.CREATE.JETRAY_TASKS", false, func(ctx context.Context) error {
			_, err := js.CreateConsumer(ctx, framework.TasksStream, jetstream.ConsumerConfig{FilterSubject: "jetray.task.auth_echo"})
			return err
		})
		// The workers' durable consumer: pulling from it would steal calls.
		v.denied(t, "$JS.API.CONSUMER.MSG.NEXT.JETRAY_TASKS.task-auth_echo", false, func(ctx context.Context) error {
			_, err := nc.RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT.JETRAY_TASKS.task-auth_echo", []byte(`{"batch":1}`))
			return err
		})
	})

	t.Run("driver cannot read another driver's results", func(t *testing.T) {
		// drv2 has results stored (above); the admin sees them.
		rs, err := admin.JetStream().Stream(ctx, framework.ResultsStream)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rs.GetLastMsgForSubject(ctx, framework.ResultSubjectPrefix+"drv2.>"); err != nil {
			t.Fatalf("drv2's result: %v", err)
		}
		nc, js, v := authRawConn(t, url, drv1Auth)
		v.denied(t, "jetray.result.drv2.>", true, func(context.Context) error {
			_, err := nc.SubscribeSync("jetray.result.drv2.>")
			return err
		})
		v.denied(t, "$JS.API.CONSUMER.CREATE.JETRAY_RESULTS", false, func(ctx context.Context) error {
			_, err := js.OrderedConsumer(ctx, framework.ResultsStream, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{"jetray.result.drv2.>"}})
			return err
		})
		v.denied(t, "$JS.API.CONSUMER.CREATE.JETRAY_RESULTS", false, func(ctx context.Context) error {
			_, err := js.OrderedConsumer(ctx, framework.ResultsStream, jetstream.OrderedConsumerConfig{}) // every result
			return err
		})
		v.denied(t, "$JS.API.DIRECT.GET.JETRAY_RESULTS.jetray.result.drv2.1", false, func(ctx context.Context) error {
			_, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET.JETRAY_RESULTS.jetray.result.drv2.1", nil)
			return err
		})
		// Nor forge them, nor cancel drv2's calls, nor listen on drv2's inboxes.
		v.denied(t, "jetray.result.drv2.99", false, func(ctx context.Context) error {
			_, err := js.Publish(ctx, "jetray.result.drv2.99", []byte(`"forged"`))
			return err
		})
		v.denied(t, "$KV.jetray_cancel.drv2.1", false, func(ctx context.Context) error {
			_, err := js.Publish(ctx, "$KV.jetray_cancel.drv2.1", nil)
			return err
		})
		v.denied(t, "_INBOX.drv2.>", true, func(context.Context) error {
			_, err := nc.SubscribeSync("_INBOX.drv2.>")
			return err
		})
		// Nor take (and answer) the credit requests of drv2's streams.
		v.denied(t, "jetray.ctl.credit.drv2.*", true, func(context.Context) error {
			_, err := nc.SubscribeSync("jetray.ctl.credit.drv2.*")
			return err
		})
	})

	t.Run("worker cannot submit tasks", func(t *testing.T) {
		ts, err := admin.JetStream().Stream(ctx, framework.TasksStream)
		if err != nil {
			t.Fatal(err)
		}
		before, err := ts.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, js, v := authRawConn(t, url, workerAuth)
		v.denied(t, "jetray.task.auth_echo", false, func(ctx context.Context) error {
			_, err := js.Publish(ctx, "jetray.task.auth_echo", []byte(`"x"`))
			return err
		})
		after, err := ts.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after.State.LastSeq != before.State.LastSeq {
			t.Fatalf("a call was stored: last sequence %d -> %d", before.State.LastSeq, after.State.LastSeq)
		}
	})
}

// TestTestCertsValid fails well before the test certificates expire.
func TestTestCertsValid(t *testing.T) {
	for _, name := range []string{"ca.pem", "server.pem", "client.pem"} {
		data, err := os.ReadFile(authData + "certs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(data)
		if block == nil {
			t.Fatalf("%s: no PEM block", name)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if time.Until(cert.NotAfter) < 90*24*time.Hour {
			t.Errorf("%s expires %s: regenerate with go run ./testdata/gencerts", name, cert.NotAfter.Format(time.DateOnly))
		}
	}
}

// TestSecurityDocRoles checks that docs/security.md gives the role blocks of roles.conf, which
// TestPermissions exercises, verbatim.
func TestSecurityDocRoles(t *testing.T) {
	conf, err := os.ReadFile(authData + "nats/roles.conf")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(conf)
	begin, end := strings.Index(s, "# BEGIN ROLES\n"), strings.Index(s, "# END ROLES")
	if begin < 0 || end < begin {
		t.Fatal("roles.conf: no # BEGIN ROLES ... # END ROLES")
	}
	roles := s[begin+len("# BEGIN ROLES\n") : end]
	if !strings.Contains(string(doc), roles) {
		t.Fatal("docs/security.md does not hold the role blocks of testdata/nats/roles.conf verbatim")
	}
}

// TestFixedClientIDAcrossRestarts: a driver process restarting with the same WithClientID
// (as subject permissions per driver require) must not reuse its call IDs. It does today:
// sequences restart at 1, so within the streams' 2-minute duplicate window the new
// process's first calls are dropped as duplicates of the old ones (and Put is answered with
// the old value).
func TestFixedClientIDAcrossRestarts(t *testing.T) {
	srv := startServer(t, framework.EmbeddedConfig{})
	runWorker(t, newWorker(t, connect(t, srv.ClientURL()), nil, authEcho))
	for _, in := range []string{"first", "second"} {
		c := connect(t, srv.ClientURL(), framework.WithClientID("drv1"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := authEcho.Remote(ctx, c, in).Await(ctx)
		cancel()
		if err != nil || out != in+"!" {
			t.Fatalf("%s process: %q, %v", in, out, err)
		}
		_ = c.Close()
	}
}
