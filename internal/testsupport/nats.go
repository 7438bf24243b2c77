package testsupport

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// NATSConfig describes a nats-server process with JetStream on 127.0.0.1.
type NATSConfig struct {
	// Name names the process in failures; "nats-server" if empty.
	Name string
	// Port is the client port; StartNATS picks a free one if it is 0.
	Port int
	// StoreDir holds JetStream's file storage; StartNATS uses a test temporary directory if
	// it is empty.
	StoreDir string
	// Args are more command-line arguments.
	Args []string
	// Ready bounds the wait for the server to accept connections; 30 s if 0.
	Ready time.Duration
	// Opts are more options for the process (FailureLog, for example).
	Opts []ProcOption
}

// NATS is a running nats-server process.
type NATS struct {
	*Proc
	// Config is the configuration it was started with, port and store filled in.
	Config NATSConfig
	// URL is its client URL.
	URL string
}

// StartNATS starts nats-server (the NATSServer binary) with JetStream as cfg says and waits
// until it accepts TCP connections, failing the test if it exits or does not within
// cfg.Ready. t.Cleanup kills it.
func StartNATS(t testing.TB, cfg NATSConfig) *NATS {
	t.Helper()
	bin := NATSServer(t)
	if cfg.Name == "" {
		cfg.Name = "nats-server"
	}
	if cfg.Port == 0 {
		cfg.Port = FreePort(t)
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	if cfg.Ready == 0 {
		cfg.Ready = 30 * time.Second
	}
	args := append([]string{"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(cfg.Port), "-sd", cfg.StoreDir}, cfg.Args...)
	p := Start(t, cfg.Name, bin, args, cfg.Opts...)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port))
	p.WaitFor(t, cfg.Ready, cfg.Name+" listening on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
	return &NATS{Proc: p, Config: cfg, URL: LocalURL(cfg.Port)}
}

// Restart starts another nats-server with the same configuration (port and store) as n,
// which must have exited. To name the new process apart, start one with n.Config and another
// Name instead.
func (n *NATS) Restart(t testing.TB) *NATS {
	t.Helper()
	return StartNATS(t, n.Config)
}
