package nethttp

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/upstream"
)

// roundTrip sends one GET through the pool and returns the upstream's view of
// the client address (which changes when a new connection is used).
func roundTrip(t *testing.T, p *pool, host string, hdr http.Header) (remote string, reused bool) {
	t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	req := getRequest(host, hdr)
	before := p.idleCount()
	resp, pc, err := p.roundTrip(t.Context(), req, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	p.release(pc, resp, err == nil)
	var e upstream.Echo
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("echo: %v %q", err, b)
	}
	return e.RemoteAddr, before > 0
}

// getRequest is an outbound GET /x to host as the engine builds it.
func getRequest(host string, hdr http.Header) *http.Request {
	return &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: host, Opaque: "/x"},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: hdr, Host: host}
}

// startUpstream runs the fake backend in-process for one test.
func startUpstream(t *testing.T) (host string, p *pool) {
	t.Helper()
	up, err := upstream.Start("127.0.0.1:0", "pool-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	host = strings.TrimPrefix(up.URL(), "http://")
	p = newPool(host, false, 4, time.Minute)
	t.Cleanup(p.closeIdle)
	return host, p
}

func (p *pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

func TestPoolReusesAndRetires(t *testing.T) {
	host, p := startUpstream(t)

	a, _ := roundTrip(t, p, host, nil)
	b, reused := roundTrip(t, p, host, nil)
	if !reused || a != b {
		t.Errorf("second request used a new connection (%s then %s, reused %v)", a, b, reused)
	}
	// The upstream asks to close: that connection must not go back.
	roundTrip(t, p, host, http.Header{"X-Upstream-Close": {"1"}})
	if n := p.idleCount(); n != 0 {
		t.Errorf("closed connection returned to the pool (%d idle)", n)
	}
	c, reused := roundTrip(t, p, host, nil)
	if reused || c == b {
		t.Errorf("request after Connection: close reused %s", c)
	}
	// An idle connection older than idleFor is closed, not used.
	p.idleFor = time.Nanosecond
	d, _ := roundTrip(t, p, host, nil)
	if d == c {
		t.Errorf("stale idle connection %s reused", d)
	}
}

func TestPoolBodyNotDrainedIsClosed(t *testing.T) {
	host, p := startUpstream(t)
	req := getRequest(host, http.Header{"X-Upstream-Body-Bytes": {"100000"}})
	resp, pc, err := p.roundTrip(t.Context(), req, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	io.CopyN(io.Discard, resp.Body, 10) // client went away mid-body
	resp.Body.Close()
	p.release(pc, resp, false)
	if n := p.idleCount(); n != 0 {
		t.Errorf("connection with an unread body returned to the pool")
	}
}

func TestPoolTimeout(t *testing.T) {
	host, p := startUpstream(t)
	req := getRequest(host, http.Header{"X-Upstream-Delay": {"5s"}})
	_, _, err := p.roundTrip(t.Context(), req, time.Now().Add(100*time.Millisecond))
	if err == nil || !errors.Is(err, errTimeout) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if n := p.idleCount(); n != 0 {
		t.Errorf("timed-out connection returned to the pool")
	}
}

// An upstream that closed an idle keep-alive connection (its own idle
// timeout) must not turn the next request into an error: the pool sees the
// close before writing and uses a fresh connection.
func TestPoolSkipsConnectionsTheUpstreamClosed(t *testing.T) {
	closed := make(chan struct{}, 4)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) }),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				closed <- struct{}{}
			}
		},
		IdleTimeout: 20 * time.Millisecond,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	host := ln.Addr().String()
	p := newPool(host, false, 4, time.Minute)
	t.Cleanup(p.closeIdle)

	get := func() string {
		resp, pc, err := p.roundTrip(t.Context(), getRequest(host, http.Header{}), time.Now().Add(5*time.Second))
		if err != nil {
			t.Fatalf("request after the upstream closed the idle connection: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		p.release(pc, resp, err == nil)
		return string(b)
	}
	for i := 0; i < 5; i++ {
		first := get()
		if p.idleCount() != 1 {
			t.Fatalf("connection not pooled")
		}
		select {
		case <-closed: // the upstream closed it while idle
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream never closed the idle connection")
		}
		if second := get(); second == first {
			t.Fatalf("round %d: the closed connection was used again (%s)", i, second)
		}
	}
}

// A POST whose bytes reached a backend that then reset the connection is
// answered with an error and never sent twice, even on a reused connection.
func TestPoolNeverResendsAPostThatReachedTheBackend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var requests atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						c.Close()
						return
					}
					io.Copy(io.Discard, req.Body)
					if requests.Add(1) == 1 {
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
						continue
					}
					// The second request: read, then reset.
					c.(*net.TCPConn).SetLinger(0)
					c.Close()
					return
				}
			}(c)
		}
	}()
	host := ln.Addr().String()
	p := newPool(host, false, 4, time.Minute)
	t.Cleanup(p.closeIdle)
	resp, pc, err := p.roundTrip(t.Context(), getRequest(host, http.Header{}), time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	p.release(pc, resp, true)

	post := getRequest(host, http.Header{})
	post.Method = "POST"
	post.Body = io.NopCloser(strings.NewReader("payload"))
	post.ContentLength = 7
	if _, _, err := p.roundTrip(t.Context(), post, time.Now().Add(5*time.Second)); err == nil {
		t.Fatal("a reset after the POST reached the backend gave no error")
	}
	// Give a second send every chance to arrive before counting.
	resp2, pc2, err := p.roundTrip(t.Context(), getRequest(host, http.Header{}), time.Now().Add(2*time.Second))
	if err == nil {
		io.ReadAll(resp2.Body)
		resp2.Body.Close()
		p.release(pc2, resp2, true)
	}
	if n := requests.Load(); n != 3 {
		t.Fatalf("backend saw %d requests; the POST must arrive once (GET, POST, then the probe GET)", n)
	}
}
