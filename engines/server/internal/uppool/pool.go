package uppool

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gatelab/gatelab/engines/server/internal/rawio"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// ErrNoFreeConns is returned by Get when MaxConns connections stayed busy
// until the request's deadline.
var ErrNoFreeConns = errors.New("no free upstream connection before the deadline")

// Defaults for Options' zero values.
const (
	DefaultMaxConns    = 512
	DefaultIdleTimeout = 60 * time.Second
	DefaultDialTimeout = 2 * time.Second
	DefaultBufferSize  = 16 << 10
)

// probeAfter is how long a connection must have been idle before it is
// checked for an upstream close: an upstream's keep-alive timeout is far
// longer, and under load connections are reused within microseconds, where
// the check would only cost a system call each.
const probeAfter = time.Millisecond

// Options configure a Pool.
type Options struct {
	Addr        string        // host:port
	TLS         bool          // dial TLS (server name from Addr's host)
	MaxConns    int           // open or dialing connections at most (default 512)
	IdleTimeout time.Duration // an idle connection older than this is closed, not used (default 60s)
	DialTimeout time.Duration // default 2s
	BufferSize  int           // read and write buffer per connection (default 16 KiB)
}

// Timing is what obtaining a connection cost one request: the pipeline's
// ConnTiming, filled here and handed to the pipeline as it is.
type Timing = pipeline.ConnTiming

// Pool holds the connections to one upstream instance. Safe for
// concurrent use.
type Pool struct {
	o      Options
	dialer net.Dialer
	// dialFunc replaces the dialer in tests (nil: the dialer).
	dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)
	tlsCfg   *tls.Config

	mu      sync.Mutex
	idle    []*Conn // LIFO: the most recently used at the end
	open    int     // open connections plus dials in progress
	dialing int     // dials in progress
	waiters []*waiter
	closed  bool
}

type waiter struct {
	// ch receives a connection handed over by Put, or nil: the waiter may
	// dial (the dial is already counted in open and dialing).
	ch chan *Conn
}

// maxDialing bounds the dials in progress per pool. A burst of requests
// finding no idle connection does not open one connection each: a few
// dial, the others wait for whichever connection is free first (one coming
// back from a finished request, usually within microseconds, or a new
// one), and the pool keeps growing, maxDialing at a time, while requests
// still wait. Without the bound, a cold start at a few thousand requests
// a second opened hundreds of connections whose dials (at once) took tens
// of milliseconds each.
const maxDialing = 4

var waiters = sync.Pool{New: func() any { return &waiter{ch: make(chan *Conn, 1)} }}

// New returns an empty pool for o.Addr.
func New(o Options) *Pool {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	p := &Pool{o: o, dialer: net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}}
	if o.TLS {
		host, _, err := net.SplitHostPort(o.Addr)
		if err != nil {
			host = o.Addr
		}
		p.tlsCfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return p
}

// Conn is one upstream connection. BR reads from it counting the bytes;
// BW writes to it counting what the socket took.
type Conn struct {
	BR *bufio.Reader
	BW *bufio.Writer

	nc       net.Conn
	lastUsed time.Time
	reused   bool
	got      int64 // response bytes read since the connection was handed out
	sent     int64 // request bytes the socket accepted since then
}

// SetDeadline bounds every read and write on the connection.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

type counted struct{ c *Conn }

func (r counted) Read(b []byte) (int, error) {
	n, err := r.c.nc.Read(b)
	r.c.got += int64(n)
	return n, err
}

func (r counted) Write(b []byte) (int, error) {
	n, err := r.c.nc.Write(b)
	r.c.sent += int64(n)
	return n, err
}

// Get returns a connection to use until Put or Drop.
func (p *Pool) Get(ctx context.Context, deadline time.Time, t *Timing) (*Conn, error) {
	return p.getTimed(ctx, deadline, t, true)
}

// getTimed is Get; probe false skips the check for an upstream close (for
// a request MayRetry would send again).
func (p *Pool) getTimed(ctx context.Context, deadline time.Time, t *Timing, probe bool) (*Conn, error) {
	start := time.Now()
	c, err := p.get(ctx, deadline, start, t, probe)
	t.Wait += time.Since(start)
	return c, err
}

func (p *Pool) get(ctx context.Context, deadline, now time.Time, t *Timing, probe bool) (*Conn, error) {
	for {
		var c *Conn
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			c = p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
		} else {
			var err error
			if c, err = p.reserve(ctx, deadline); err != nil {
				return nil, err
			}
			if c == nil {
				return p.dial(ctx, deadline, t)
			}
			now = time.Now() // handed over after a wait
		}
		if c.usable(now, p.o.IdleTimeout, probe) {
			c.handOut(true)
			return c, nil
		}
		t.Stale++
		p.Drop(c)
	}
}

// reserve is called with p.mu held and releases it. It returns a
// connection another request handed back, or nil: the caller is to dial
// (already counted in open and dialing), now or once told to.
func (p *Pool) reserve(ctx context.Context, deadline time.Time) (*Conn, error) {
	if p.open < p.o.MaxConns && p.dialing < maxDialing {
		p.open++
		p.dialing++
		p.mu.Unlock()
		return nil, nil
	}
	w := waiters.Get().(*waiter)
	p.waiters = append(p.waiters, w)
	// Below the cap, the wait is for dials in progress: as long as one
	// dial may take, no longer. An upstream that takes no connections
	// (blackholed, its backlog full) then fails these requests as dial
	// failures, counted against it, as if each had dialed itself.
	err := ErrNoFreeConns
	if p.open < p.o.MaxConns {
		err = errConnectWait
		if d := time.Now().Add(p.o.DialTimeout); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	p.mu.Unlock()
	return p.wait(ctx, w, deadline, err)
}

// errConnectWait is the failure of a request that waited behind the dials
// in progress for as long as a dial may take: the upstream is not taking
// connections. It is a dial error (a *net.OpError with Op "dial").
var errConnectWait error = &net.OpError{Op: "dial", Net: "tcp",
	Err: errors.New("no upstream connection within the dial timeout (the dials in progress did not complete)")}

// wait blocks until w is served or the deadline or ctx ends (then it
// returns expired or ctx's error). A nil connection with a nil error: the
// waiter is to dial (already counted).
func (p *Pool) wait(ctx context.Context, w *waiter, deadline time.Time, expired error) (c *Conn, err error) {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case c = <-w.ch:
		waiters.Put(w)
		return c, nil
	case <-timeout:
		err = expired
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.mu.Lock()
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.mu.Unlock()
			waiters.Put(w)
			return nil, err
		}
	}
	p.mu.Unlock()
	// Served while giving up: pass what was handed over on.
	if c = <-w.ch; c != nil {
		p.Put(c)
	} else {
		p.mu.Lock()
		p.open--
		p.dialing--
		p.kick()
		p.mu.Unlock()
	}
	waiters.Put(w)
	return nil, err
}

// Fresh dials a new connection (for a request sent again): it counts
// against MaxConns like any other, waiting at the cap as Get does.
func (p *Pool) Fresh(ctx context.Context, deadline time.Time, t *Timing) (*Conn, error) {
	start := time.Now()
	defer func() { t.Wait += time.Since(start) }()
	p.mu.Lock()
	c, err := p.reserve(ctx, deadline)
	if err != nil {
		return nil, err
	}
	if c != nil {
		// A pooled one came back: close it and dial on its slot.
		c.close()
		p.mu.Lock()
		p.dialing++
		p.mu.Unlock()
	}
	return p.dial(ctx, deadline, t)
}

// dial opens a connection; it is already counted in p.open and p.dialing.
func (p *Pool) dial(ctx context.Context, deadline time.Time, t *Timing) (*Conn, error) {
	start := time.Now()
	// A dial ends at DialTimeout or the request's deadline, whichever
	// comes first.
	if d := start.Add(p.o.DialTimeout); deadline.IsZero() || d.Before(deadline) {
		deadline = d
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var nc net.Conn
	var err error
	if p.tlsCfg != nil {
		nc, err = p.dialer.DialContext(dctx, "tcp", p.o.Addr)
		if err == nil {
			tc := tls.Client(rawio.Wrap(nc), p.tlsCfg)
			if err = tc.HandshakeContext(dctx); err != nil {
				nc.Close()
			} else {
				nc = tc
			}
		}
	} else {
		dial := p.dialer.DialContext
		if p.dialFunc != nil {
			dial = p.dialFunc
		}
		nc, err = dial(dctx, "tcp", p.o.Addr)
		if err == nil {
			nc = rawio.Wrap(nc)
		}
	}
	t.Dial += time.Since(start)
	t.Dialed = true
	p.mu.Lock()
	p.dialing--
	if err != nil {
		p.open--
	}
	p.kick()
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	c := &Conn{nc: nc}
	c.BR = bufio.NewReaderSize(counted{c}, p.o.BufferSize)
	c.BW = bufio.NewWriterSize(counted{c}, p.o.BufferSize)
	c.handOut(false)
	return c, nil
}

func (c *Conn) handOut(reused bool) {
	c.reused = reused
	c.got, c.sent = 0, 0
}

// usable reports whether an idle connection may carry a request; probe
// allows the MSG_PEEK check.
func (c *Conn) usable(now time.Time, idleTimeout time.Duration, probe bool) bool {
	idle := now.Sub(c.lastUsed)
	if idle >= idleTimeout {
		return false
	}
	if c.BR.Buffered() > 0 {
		return false // bytes nobody asked for
	}
	return !probe || idle < probeAfter || !closedByPeer(c.nc)
}

// Put hands back a connection whose exchange ended cleanly: to the first
// waiter, or to the idle list.
func (p *Pool) Put(c *Conn) {
	c.lastUsed = time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.Drop(c)
		return
	}
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = append(p.waiters[:0], p.waiters[1:]...)
		p.mu.Unlock()
		w.ch <- c
		return
	}
	// Reap idle connections past the timeout from the bottom (oldest).
	for len(p.idle) > 0 && c.lastUsed.Sub(p.idle[0].lastUsed) >= p.o.IdleTimeout {
		old := p.idle[0]
		p.idle = append(p.idle[:0], p.idle[1:]...)
		p.open--
		defer old.close()
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// Drop closes a connection that must not be reused and frees its slot.
func (p *Pool) Drop(c *Conn) {
	c.close()
	p.release()
}

// release frees one slot.
func (p *Pool) release() {
	p.mu.Lock()
	p.open--
	p.kick()
	p.mu.Unlock()
}

// kick tells waiters to dial while the cap and the dial bound allow.
// p.mu must be held; the sends never block (each channel holds one).
func (p *Pool) kick() {
	for len(p.waiters) > 0 && p.open < p.o.MaxConns && p.dialing < maxDialing {
		w := p.waiters[0]
		p.waiters = append(p.waiters[:0], p.waiters[1:]...)
		p.open++
		p.dialing++
		w.ch <- nil
	}
}

func (c *Conn) close() { c.nc.Close() }

// closeIdle closes every idle connection; connections in use are closed
// when they come back.
func (p *Pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	p.kick()
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// Close closes the idle connections and makes Put close the others.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.closeIdle()
}

// Open reports the open connections (and dials in progress), and how many
// of them are idle.
func (p *Pool) Open() (open, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, len(p.idle)
}

// Exchange runs one request's exchange the way both engines do: a
// connection from Get, send on it (write the request, read the response
// head), and, when send fails on a reused connection and MayRetry allows
// it (and the failure was not a timeout), send once more on a connection
// from Fresh. On success the caller owns the returned connection (Put or
// Drop it); on failure every connection used has been dropped.
//
// A request MayRetry would send again (no body, a safe method) takes its
// pooled connection without the MSG_PEEK check: should the upstream have
// closed it, the send fails before any response byte and goes again on a
// fresh connection. Under load, with more connections than a millisecond's
// requests, the check would otherwise cost a system call on nearly every
// request. A request that could not be sent again is always checked.
func (p *Pool) Exchange(ctx context.Context, deadline time.Time, t *Timing, method string, hasBody bool,
	send func(c *Conn) error) (*Conn, error) {
	c, err := p.getTimed(ctx, deadline, t, !resendable(method, hasBody))
	if err != nil {
		return nil, err
	}
	for {
		err = send(c)
		if err == nil {
			return c, nil
		}
		var ne net.Error
		timedOut := errors.As(err, &ne) && ne.Timeout()
		retry := !t.Retried && !timedOut && MayRetry(c, method, hasBody)
		p.Drop(c)
		if !retry {
			return nil, err
		}
		t.Retried = true
		if c, err = p.Fresh(ctx, deadline, t); err != nil {
			return nil, err
		}
	}
}

// MayRetry reports whether a request that failed on c may be sent again on
// a connection from Fresh. See the package doc for the rule.
func MayRetry(c *Conn, method string, hasBody bool) bool {
	if !c.reused || hasBody || c.got > 0 {
		return false
	}
	return c.sent == 0 || resendable(method, hasBody)
}

// resendable reports whether a request may be sent again even after its
// bytes reached a reused connection (no body, a safe method: RFC 9110
// 9.2.1), as long as no response byte arrived.
func resendable(method string, hasBody bool) bool {
	if hasBody {
		return false
	}
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}
