package nethttp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// pool is a per-instance keep-alive pool of HTTP/1.1 connections.
//
// Why not http.Transport: the Transport runs a reader and a writer goroutine
// per connection and hands every request and response between them and the
// caller; on a small machine those hand-offs cost more CPU than the rest of
// the gateway. Here the handler's own goroutine writes the request
// (http.Request.Write) and reads the response (http.ReadResponse), so the
// standard library still does all HTTP framing (chunking, Content-Length,
// bodies), and the only thing this file adds is connection reuse.
//
// A connection is reused only when the previous response body was read to the
// end and neither side asked to close. A request is never retried: a failure
// on a reused connection is reported like any other (the caller answers 502),
// because the request may already have reached the backend. Reused
// connections older than the idle timeout are closed instead of used, so a
// backend's own idle close does not surface as errors.
type pool struct {
	addr    string
	tls     *tls.Config // nil: plain TCP
	dialer  *net.Dialer
	maxIdle int
	idleFor time.Duration

	mu   sync.Mutex
	idle []*pconn
}

type pconn struct {
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
	reused   bool // taken from the idle list (not freshly dialed)
}

func newPool(addr string, useTLS bool, maxIdle int, idleFor time.Duration) *pool {
	if maxIdle <= 0 {
		maxIdle = 64
	}
	if idleFor <= 0 {
		idleFor = 60 * time.Second
	}
	p := &pool{addr: addr, dialer: &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}, maxIdle: maxIdle, idleFor: idleFor}
	if useTLS {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		p.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return p
}

// get returns an idle connection or dials a new one.
func (p *pool) get(ctx context.Context, now time.Time) (*pconn, error) {
	p.mu.Lock()
	for len(p.idle) > 0 {
		pc := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(pc.lastUsed) < p.idleFor {
			p.mu.Unlock()
			if now.Sub(pc.lastUsed) >= probeAfter && pc.closedByPeer() {
				// The upstream closed it while it sat idle (its
				// keep-alive timeout): never write a request on it.
				pc.c.Close()
				p.mu.Lock()
				continue
			}
			pc.reused = true
			return pc, nil
		}
		pc.c.Close()
	}
	p.mu.Unlock()
	return p.dial(ctx)
}

// dial opens a new connection to the instance.
func (p *pool) dial(ctx context.Context) (*pconn, error) {
	var c net.Conn
	var err error
	if p.tls != nil {
		c, err = (&tls.Dialer{NetDialer: p.dialer, Config: p.tls}).DialContext(ctx, "tcp", p.addr)
	} else {
		c, err = p.dialer.DialContext(ctx, "tcp", p.addr)
	}
	if err != nil {
		return nil, err
	}
	return &pconn{c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 16<<10)}, nil
}

// put returns a healthy connection to the pool (or closes it if full).
func (p *pool) put(pc *pconn, now time.Time) {
	pc.lastUsed = now
	pc.c.SetDeadline(time.Time{})
	p.mu.Lock()
	if len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, pc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	pc.c.Close()
}

func (p *pool) closeIdle() {
	p.mu.Lock()
	for _, pc := range p.idle {
		pc.c.Close()
	}
	p.idle = nil
	p.mu.Unlock()
}

// probeAfter is how long a connection must have been idle before it is
// checked (one MSG_PEEK) for an upstream close: an upstream's keep-alive
// timeout is far longer, and under load connections are reused within
// microseconds, where the check would only cost a system call each.
const probeAfter = time.Millisecond

// errTimeout marks a deadline hit on the upstream connection.
var errTimeout = errors.New("upstream timeout")

// roundTrip writes req on a pooled connection and reads the response head.
// The caller must call done(resp, ok) after consuming resp.Body: ok reports
// whether the body was read to the end, which allows reuse.
func (p *pool) roundTrip(ctx context.Context, req *http.Request, deadline time.Time) (*http.Response, *pconn, error) {
	pc, err := p.get(ctx, time.Now())
	if err != nil {
		return nil, nil, err
	}
	if err = pc.write(req, deadline); err != nil {
		pc.c.Close()
		if pc.reused && req.Body == nil && !errors.Is(mapTimeout(err), errTimeout) {
			// A request without a body that could not be written to a
			// reused connection (the upstream had closed it) goes once
			// on a fresh one: none of it reached a backend that answered.
			// A body may have been partly read from the client: never.
			if pc, err = p.dial(ctx); err != nil {
				return nil, nil, err
			}
			err = pc.write(req, deadline)
		}
		if err != nil {
			pc.c.Close()
			return nil, nil, mapTimeout(err)
		}
	}
	resp, err := http.ReadResponse(pc.br, req)
	if err != nil {
		pc.c.Close()
		return nil, nil, mapTimeout(err)
	}
	return resp, pc, nil
}

// write sends req (and closes req.Body) with deadline on the connection.
func (pc *pconn) write(req *http.Request, deadline time.Time) error {
	pc.c.SetDeadline(deadline)
	if err := req.Write(pc.bw); err != nil {
		return err
	}
	return pc.bw.Flush()
}

// release hands the connection back after the response was consumed.
func (p *pool) release(pc *pconn, resp *http.Response, bodyDone bool) {
	if !bodyDone || resp.Close || pc.br.Buffered() > 0 {
		pc.c.Close()
		return
	}
	p.put(pc, time.Now())
}

func mapTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.Join(errTimeout, err)
	}
	return err
}
