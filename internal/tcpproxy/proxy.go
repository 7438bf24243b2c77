// Package tcpproxy is a TCP proxy for fault-injection tests: it forwards connections to one
// target and can cut them (a network partition) and let them through again.
//
//	p, err := tcpproxy.Start("127.0.0.1:4222")
//	nc, _ := nats.Connect("nats://" + p.Addr())
//	p.Cut()     // every connection closed; new ones hang until Restore
//	p.Restore() // connections go through again
//	p.Close()   // stop, and wait for every goroutine
//
// Two kinds of partition are offered. Cut closes the current connections at once, as a
// router that resets them would; the client notices immediately and its reconnects hang.
// Blackhole keeps the current connections open but stops moving bytes in both directions,
// as a silent link would: neither side notices until its own keep-alive gives up, and bytes
// held back are delivered in order if Restore comes first. In both states a new connection
// is accepted and then held without being forwarded (the client's connect times out or its
// handshake never completes); Restore closes the held ones, and later connections are
// forwarded normally.
//
// Every goroutine belongs to the Proxy; Close stops and joins them all.
package tcpproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DialTimeout bounds how long a forwarded connection waits to reach the target.
const DialTimeout = 5 * time.Second

type state int

const (
	open state = iota
	cut
	blackhole
)

func (s state) String() string {
	switch s {
	case open:
		return "open"
	case cut:
		return "cut"
	default:
		return "blackhole"
	}
}

// Proxy forwards TCP connections from its own loopback address to a target address.
type Proxy struct {
	target string
	ln     net.Listener
	ctx    context.Context // ends on Close; cancels dials to the target
	stop   context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	st       state
	gate     chan struct{} // closed while bytes may flow; open (blocking) in blackhole
	links    map[*link]struct{}
	held     map[net.Conn]struct{}
	accepted int
	cuts     int
}

// link is one forwarded connection: the client's side and the target's side.
type link struct {
	client, server net.Conn
	dead           chan struct{}
	once           sync.Once
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.dead)
		_ = l.client.Close()
		if l.server != nil {
			_ = l.server.Close()
		}
	})
}

// Start listens on 127.0.0.1 at a free port and forwards every connection to target.
func Start(target string) (*Proxy, error) {
	return Listen("127.0.0.1:0", target)
}

// Listen is Start on a given listen address, such as "127.0.0.1:14222".
func Listen(addr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcpproxy: listen %s: %w", addr, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	gate := make(chan struct{})
	close(gate)
	p := &Proxy{
		target: target,
		ln:     ln,
		ctx:    ctx,
		stop:   stop,
		gate:   gate,
		links:  make(map[*link]struct{}),
		held:   make(map[net.Conn]struct{}),
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listen address, host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address connections are forwarded to.
func (p *Proxy) Target() string { return p.target }

// Cut closes every current connection and holds new ones (they are accepted but never
// forwarded) until Restore: a partition the client notices at once.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.cuts++
	p.closeGateLocked(cut)
	for l := range p.links {
		l.close()
	}
}

// Blackhole stops forwarding bytes on every current connection, without closing them, and
// holds new connections until Restore: a partition neither side notices until a keep-alive
// gives up.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.cuts++
	p.closeGateLocked(blackhole)
}

// closeGateLocked enters a partitioned state; bytes stop flowing.
func (p *Proxy) closeGateLocked(s state) {
	if p.st == open {
		p.gate = make(chan struct{})
	}
	p.st = s
}

// Restore ends a Cut or Blackhole: held connections are closed (their clients retry), bytes
// held back on open connections flow again, and new connections are forwarded.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.st == open {
		return
	}
	p.st = open
	close(p.gate)
	for c := range p.held {
		_ = c.Close()
		delete(p.held, c)
	}
}

// Partitioned reports whether the proxy is cut or blackholed.
func (p *Proxy) Partitioned() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st != open
}

// Stats reports the connections forwarded now, the connections accepted since Start (held
// ones included) and the number of Cut and Blackhole calls.
func (p *Proxy) Stats() (active, accepted, cuts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links), p.accepted, p.cuts
}

// Close stops listening, closes every connection and waits for the proxy's goroutines.
// Safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.stop()
		_ = p.ln.Close()
		for l := range p.links {
			l.close()
		}
		for c := range p.held {
			_ = c.Close()
			delete(p.held, c)
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed, or a listener that cannot go on
		}
		p.mu.Lock()
		p.accepted++
		switch {
		case p.closed:
			_ = c.Close()
		case p.st != open:
			p.held[c] = struct{}{}
		default:
			l := &link{client: c, dead: make(chan struct{})}
			p.links[l] = struct{}{}
			p.wg.Add(1)
			go p.serve(l)
		}
		p.mu.Unlock()
	}
}

// serve dials the target for one accepted connection and copies both ways until either side
// ends or the link is cut.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(p.ctx, DialTimeout)
	watched := make(chan struct{})
	go func() { // ends the dial early if the link is cut meanwhile; joined below
		defer close(watched)
		select {
		case <-l.dead:
			cancel()
		case <-ctx.Done():
		}
	}()
	var d net.Dialer
	s, err := d.DialContext(ctx, "tcp", p.target)
	cancel()
	<-watched
	if err != nil {
		return
	}
	p.mu.Lock()
	select {
	case <-l.dead: // cut while dialing
		p.mu.Unlock()
		_ = s.Close()
		return
	default:
	}
	l.server = s
	p.mu.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		p.pipe(l, l.server, l.client)
	}()
	p.pipe(l, l.client, l.server)
	l.close()
	<-done
}

// pipe copies src to dst, waiting at the gate while the proxy is blackholed.
func (p *Proxy) pipe(l *link, src, dst net.Conn) {
	defer l.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			p.mu.Unlock()
			select {
			case <-gate:
			case <-l.dead:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a closed connection: either way the link ends
			return
		}
	}
}
