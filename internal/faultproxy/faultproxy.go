package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// MaxConns bounds the connections a Proxy holds at once; connections beyond
// it are accepted and reset at once.
const MaxConns = 1024

// chunkSize is the largest chunk a direction reads and forwards at a time.
const chunkSize = 16 << 10

// closeTimeout bounds Close's wait for the proxy's goroutines.
const closeTimeout = 5 * time.Second

// dialTimeout bounds the proxy's own dial to the target (loopback: a live
// target answers at once, a dead one refuses at once).
const dialTimeout = 5 * time.Second

type mode uint8

const (
	forwarding mode = iota
	cut
	blackhole
	keepMode mode = 255 // set: leave the mode as it is
)

// state is the proxy's fault setting. It is replaced, never modified: a
// change stores a new state and closes the old one's changed channel, which
// wakes every direction waiting under the old setting.
type state struct {
	mode    mode
	latency time.Duration
	changed chan struct{}
}

// Proxy is a loopback TCP proxy with injectable faults. Build it with Start.
type Proxy struct {
	target string
	ln     net.Listener
	dialer net.Dialer
	ctx    context.Context // cancelled by Close: ends dials in progress
	cancel context.CancelFunc

	st atomic.Pointer[state] // read once per chunk; written under mu

	mu     sync.Mutex
	conns  map[*link]struct{}
	closed bool

	wg        sync.WaitGroup // the accept loop and every connection's goroutines
	closeOnce sync.Once
	closeErr  error
}

// link is one proxied connection: the client's socket and, once dialled, the
// proxy's socket to the target.
type link struct {
	client net.Conn
	server net.Conn      // nil until dialled; set and read under Proxy.mu
	done   chan struct{} // closed by teardown
	torn   bool          // under Proxy.mu
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// Start starts a proxy on 127.0.0.1:0 forwarding to target (a loopback
// host:port), closed when t ends. It fails t if target is not loopback or
// the proxy cannot listen.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	if err := checkTarget(target); err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: listen: %v", err)
	}
	p := &Proxy{
		target: target,
		ln:     ln,
		dialer: net.Dialer{Timeout: dialTimeout},
		conns:  make(map[*link]struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.st.Store(&state{changed: make(chan struct{})})
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// checkTarget accepts only loopback addresses: an IP literal in 127.0.0.0/8
// or ::1, or localhost.
func checkTarget(target string) error {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	if port == "" {
		return fmt.Errorf("target %q: no port", target)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("target %q is not a loopback address", target)
}

// Addr is the proxy's address, 127.0.0.1:PORT. It does not change.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Conns is the number of connections open now (see the package
// documentation).
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Cut resets every open connection and resets new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.setLocked(cut, p.st.Load().latency)
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		p.teardown(l, true)
	}
}

// Blackhole stops forwarding, silently, until Restore: connections stay
// open and new ones are accepted and kept.
func (p *Proxy) Blackhole() { p.set(blackhole, -1) }

// Restore ends a Cut or a Blackhole. The latency is unchanged.
func (p *Proxy) Restore() { p.set(forwarding, -1) }

// SetLatency delays every chunk forwarded from now on, in either direction
// and on open connections too, by d after the proxy read it; d <= 0 removes
// the delay.
func (p *Proxy) SetLatency(d time.Duration) { p.set(keepMode, max(d, 0)) }

// set changes the mode (keepMode: unchanged) and the latency (< 0: unchanged).
func (p *Proxy) set(m mode, latency time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.st.Load()
	if m == keepMode {
		m = cur.mode
	}
	if latency < 0 {
		latency = cur.latency
	}
	p.setLocked(m, latency)
}

func (p *Proxy) setLocked(m mode, latency time.Duration) {
	old := p.st.Load()
	p.st.Store(&state{mode: m, latency: latency, changed: make(chan struct{})})
	close(old.changed)
}

// Close closes the listener and every connection and waits for the proxy's
// goroutines to exit. It returns an error if they have not within 5s (a bug:
// the proxy leaks). It is idempotent; Start registers it with t.Cleanup,
// which fails the test on that error.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		links := make([]*link, 0, len(p.conns))
		for l := range p.conns {
			links = append(links, l)
		}
		p.mu.Unlock()
		p.ln.Close()
		p.cancel()
		for _, l := range links {
			p.teardown(l, true)
		}
		exited := make(chan struct{})
		go func() {
			p.wg.Wait()
			close(exited)
		}()
		timer := time.NewTimer(closeTimeout)
		defer timer.Stop()
		select {
		case <-exited:
		case <-timer.C:
			p.closeErr = fmt.Errorf("faultproxy: goroutines still running %v after Close (a leak)", closeTimeout)
		}
	})
	return p.closeErr
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or similar: back off a little and go on.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		p.mu.Lock()
		if p.closed || p.st.Load().mode == cut || len(p.conns) >= MaxConns {
			p.mu.Unlock()
			reset(c)
			continue
		}
		l := &link{client: c, done: make(chan struct{})}
		p.conns[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

// serve dials the target for l (after any blackhole) and forwards both
// directions: client to target here, target to client in a second
// goroutine.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	if !p.gate(l, time.Time{}, nil) {
		p.teardown(l, true) // cut or closed while blackholed
		return
	}
	server, err := p.dialer.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		p.teardown(l, true) // as a dead server would: a reset
		return
	}
	p.mu.Lock()
	if l.torn {
		p.mu.Unlock()
		reset(server)
		return
	}
	l.server = server
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		p.pipe(l, l.client, server)
	}()
	p.pipe(l, server, l.client)
}

// pipe forwards src to dst chunk by chunk until either fails or l is torn
// down, then tears l down.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	bp := bufPool.Get().(*[]byte)
	buf := *bp
	var timer *time.Timer
	for {
		n, err := src.Read(buf)
		if n > 0 {
			var readAt time.Time
			if p.st.Load().latency > 0 {
				readAt = time.Now()
			}
			if !p.gate(l, readAt, &timer) {
				break
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if timer != nil {
		timer.Stop()
	}
	bufPool.Put(bp)
	p.teardown(l, false)
}

// gate waits until a chunk read at readAt may be forwarded: not during a
// blackhole, and not before readAt + latency (timer, created on first use,
// nil: no latency, for connection setup). It returns false if l is torn
// down meanwhile.
func (p *Proxy) gate(l *link, readAt time.Time, timer **time.Timer) bool {
	for {
		st := p.st.Load()
		if st.mode == forwarding && (st.latency == 0 || timer == nil) {
			return true
		}
		if st.mode == blackhole {
			select {
			case <-st.changed:
				continue
			case <-l.done:
				return false
			}
		}
		if st.mode == cut {
			return false // Cut tears every link down
		}
		if readAt.IsZero() {
			readAt = time.Now() // the latency was set after the read
		}
		wait := time.Until(readAt.Add(st.latency))
		if wait <= 0 {
			return true
		}
		if *timer == nil {
			*timer = time.NewTimer(wait)
		} else {
			(*timer).Reset(wait)
		}
		select {
		case <-(*timer).C:
		case <-st.changed: // a new latency or mode: wait under that instead
			(*timer).Stop()
		case <-l.done:
			(*timer).Stop()
			return false
		}
	}
}

// teardown closes both of l's sockets, abortively (a reset) if abort, and
// forgets l. Only the first call does anything.
func (p *Proxy) teardown(l *link, abort bool) {
	p.mu.Lock()
	if l.torn {
		p.mu.Unlock()
		return
	}
	l.torn = true
	close(l.done)
	delete(p.conns, l)
	server := l.server
	p.mu.Unlock()
	for _, c := range []net.Conn{l.client, server} {
		if c == nil {
			continue
		}
		if abort {
			reset(c)
		} else {
			c.Close()
		}
	}
}

// reset closes c with SO_LINGER 0: the peer sees a reset, not an EOF.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
