package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// config is the parsed command line.
type config struct {
	natsURL        string
	concurrency    int
	logLevel       string
	logFormat      string
	embedded       string
	name           string
	drain          time.Duration
	connectTimeout time.Duration
	metrics        string             // -metrics: serve /metrics here
	replicas       int                // -replicas: of the streams and buckets it creates
	auth           *framework.Auth    // credentials and TLS (framework.AuthFlags)
	connOpts       []framework.Option // from auth
	labels         map[string]string  // -label k=v, repeated
	resources      map[string]float64 // -resource name=amount, repeated
}

// usageError is a bad command line; main exits 2 for it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.natsURL, "nats", "nats://127.0.0.1:4222", "NATS server `URL` (comma-separated for a cluster)")
	fs.IntVar(&cfg.concurrency, "concurrency", runtime.NumCPU(), "task calls run at once")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log `level`: trace, debug, info, warn, error, disabled")
	fs.StringVar(&cfg.logFormat, "log-format", "console", "log format: console or json (logs go to stderr)")
	fs.StringVar(&cfg.embedded, "embedded", "", "also run an embedded NATS server listening on `host:port` and use it (ignores -nats)")
	fs.StringVar(&cfg.name, "name", "", "worker name in logs, results and the registry (default host.pid.client)")
	fs.DurationVar(&cfg.drain, "drain", 30*time.Second, "on SIGINT/SIGTERM, how long running calls may take to finish")
	fs.DurationVar(&cfg.connectTimeout, "connect-timeout", 30*time.Second, "how long to keep trying to reach NATS at startup")
	fs.StringVar(&cfg.metrics, "metrics", "", "serve Prometheus metrics on `host:port` at /metrics (docs/operations.md)")
	fs.IntVar(&cfg.replicas, "replicas", 1, "replica count of the streams and buckets this worker creates (3 on a 3-node cluster; existing ones keep theirs)")
	fs.Func("label", "advertise label `key=value` (repeat the flag for more): calls and actors with a matching label selector run here", func(v string) error {
		k, val, err := parseLabel(v)
		if err != nil {
			return err
		}
		if cfg.labels == nil {
			cfg.labels = map[string]string{}
		}
		cfg.labels[k] = val
		return nil
	})
	fs.Func("resource", "advertise a resource capacity `name=amount` such as gpu=4, cpu=8 or memory=64Gi (repeat the flag for more)", func(v string) error {
		k, amount, err := parseResource(v)
		if err != nil {
			return err
		}
		if cfg.resources == nil {
			cfg.resources = map[string]float64{}
		}
		cfg.resources[k] = amount
		return nil
	})
	cfg.auth = framework.AuthFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: worker [flags]\n\nServes the demo tasks and actors until SIGINT or SIGTERM.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return cfg, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if cfg.logFormat != "console" && cfg.logFormat != "json" {
		return cfg, usageError{fmt.Sprintf("-log-format %q: want console or json", cfg.logFormat)}
	}
	if _, err := zerolog.ParseLevel(cfg.logLevel); err != nil {
		return cfg, usageError{fmt.Sprintf("-log-level: %v", err)}
	}
	if cfg.replicas < 1 {
		return cfg, usageError{fmt.Sprintf("-replicas %d: want 1 or more", cfg.replicas)}
	}
	if cfg.name != "" {
		if err := framework.ValidName(cfg.name); err != nil {
			return cfg, usageError{fmt.Sprintf("-name: %v", err)}
		}
	}
	opts, err := cfg.auth.ClientOptions()
	if err != nil {
		return cfg, usageError{err.Error()}
	}
	cfg.connOpts = opts
	return cfg, nil
}

// newLogger writes to w as JSON lines or, for "console", human-readable lines (coloured
// when w is a terminal).
func newLogger(w io.Writer, format, level string) zerolog.Logger {
	lvl, _ := zerolog.ParseLevel(level) // checked by parseFlags
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// run is the whole worker: it returns when ctx ends and the worker has drained, or on a
// startup error. Logs go to stderr; the "started" and "ended" lines of the AsyncActor actors
// it hosts go to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.logFormat, cfg.logLevel)

	url := cfg.natsURL
	if cfg.embedded != "" {
		srv, err := startEmbedded(cfg.embedded)
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		url = srv.ClientURL()
		log.Info().Str("url", url).Str("store", srv.StoreDir()).Msg("embedded NATS server running")
	}

	cctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout)
	defer cancel()
	// Asynchronous NATS errors (a permission violation above all) go to the log, not to
	// nats.go's default of bare lines on stderr.
	logNATS := nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
		ev := log.Warn().Err(err)
		if sub != nil {
			ev = ev.Str("subject", sub.Subject)
		}
		ev.Msg("NATS error")
	})
	c, err := framework.Connect(cctx, url, append([]framework.Option{framework.WithLogger(log),
		framework.WithName("jetray-worker"), framework.WithReplicas(cfg.replicas),
		framework.WithNATSOptions(logNATS)}, cfg.connOpts...)...)
	if err != nil {
		return err
	}
	defer c.Close()

	opts := []framework.WorkerOption{
		framework.WithConcurrency(cfg.concurrency),
		framework.WithDrainTimeout(cfg.drain),
	}
	if cfg.name != "" {
		opts = append(opts, framework.WithWorkerName(cfg.name))
	}
	if cfg.labels != nil {
		opts = append(opts, framework.WithLabels(cfg.labels))
	}
	if cfg.resources != nil {
		opts = append(opts, framework.WithResources(cfg.resources))
	}
	if cfg.metrics != "" {
		m := framework.NewMetrics()
		opts = append(opts, framework.WithMetrics(m))
		mctx, stopMetrics := context.WithCancel(context.Background())
		wait, err := serveMetrics(mctx, cfg.metrics, m, c, log)
		if err != nil {
			stopMetrics()
			return err
		}
		defer wait()
		defer stopMetrics() // after the worker drained: the last scrape sees the final counts
	}
	w := framework.NewWorker(c, opts...)
	if err := w.Register(demo.CatalogWithOutput(stdout)...); err != nil {
		return err
	}
	return w.Run(ctx)
}

// startEmbedded starts a NATS server listening on addr (host:port; an empty host means
// 127.0.0.1, port 0 a random free port).
func startEmbedded(addr string) (*framework.EmbeddedServer, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, usageError{fmt.Sprintf("-embedded %q: %v", addr, err)}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, usageError{fmt.Sprintf("-embedded %q: bad port", addr)}
	}
	return framework.StartEmbedded(framework.EmbeddedConfig{Host: host, Port: port})
}
