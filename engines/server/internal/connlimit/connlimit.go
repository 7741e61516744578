package connlimit

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listener is a capped listener.
type Listener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open int
	// idle is a list of idle connections, oldest first (sentinel ring).
	idle conn
	// refused counts connections refused at the cap; evicted counts idle
	// ones closed to make room.
	refused, evicted atomic.Int64
}

// Wrap caps ln at max open connections (max <= 0: no cap, ln is returned).
func Wrap(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	l := &Listener{Listener: ln, max: max}
	l.idle.prev, l.idle.next = &l.idle, &l.idle
	return l
}

type conn struct {
	net.Conn
	l          *Listener
	prev, next *conn // in l.idle when idle
	closed     atomic.Bool
}

var busy = []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 33\r\nRetry-After: 1\r\n\r\n{\"error\":\"too_many_connections\"}\n")

// Accept waits for a connection that fits under the cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		var victim *conn
		if l.open >= l.max {
			if oldest := l.idle.next; oldest != &l.idle {
				victim = oldest
				l.unlink(victim)
			}
		}
		if l.open >= l.max && victim == nil {
			l.mu.Unlock()
			l.refused.Add(1)
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			c.Write(busy)
			c.Close()
			continue
		}
		if victim != nil {
			// Its slot is taken over now; its Close must not free another.
			victim.closed.Store(true)
			l.open--
		}
		w := &conn{Conn: c, l: l}
		l.open++
		l.link(w) // idle until its first request
		l.mu.Unlock()
		if victim != nil {
			l.evicted.Add(1)
			victim.Conn.Close()
		}
		return w, nil
	}
}

// Open is the number of open connections.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Refused and Evicted count connections refused at the cap and idle ones
// closed to make room.
func (l *Listener) Refused() int64 { return l.refused.Load() }
func (l *Listener) Evicted() int64 { return l.evicted.Load() }

// Idle marks c (a connection this listener accepted) idle: first to go at
// the cap. Other connections are ignored.
func Idle(c net.Conn) {
	if w, ok := c.(*conn); ok {
		l := w.l
		l.mu.Lock()
		if !w.closed.Load() {
			l.unlink(w)
			l.link(w)
		}
		l.mu.Unlock()
	}
}

// Active marks c busy with a request: never closed to make room.
func Active(c net.Conn) {
	if w, ok := c.(*conn); ok {
		w.l.mu.Lock()
		w.l.unlink(w)
		w.l.mu.Unlock()
	}
}

func (l *Listener) link(c *conn) {
	c.prev, c.next = l.idle.prev, &l.idle
	l.idle.prev.next = c
	l.idle.prev = c
}

func (l *Listener) unlink(c *conn) {
	if c.next == nil {
		return
	}
	c.prev.next, c.next.prev = c.next, c.prev
	c.prev, c.next = nil, nil
}

// NetConn is the wrapped connection.
func (c *conn) NetConn() net.Conn { return c.Conn }

// Close closes the connection and frees its slot.
func (c *conn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		l := c.l
		l.mu.Lock()
		l.unlink(c)
		l.open--
		l.mu.Unlock()
	}
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when the wrapped one can (net/http
// half-closes before closing after an error answer, so the client reads it
// instead of getting a reset).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
