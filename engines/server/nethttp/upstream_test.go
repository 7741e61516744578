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

	"github.com/gatelab/gatelab/engines/server/internal/uppool"
	"github.com/gatelab/gatelab/internal/rawtcp"
	"github.com/gatelab/gatelab/internal/upstream"
)

// get1 sends one GET through the pool and returns the upstream's view of
// the client address (which changes when a new connection is used).
func get1(t *testing.T, p *uppool.Pool, host string, hdr http.Header) (remote string, reused bool) {
	t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	req := getRequest(host, hdr)
	before := idleCount(p)
	var tm uppool.Timing
	resp, pc, err := roundTrip(t.Context(), p, req, time.Now().Add(5*time.Second), &tm)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	release(p, pc, resp, err == nil)
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
func startUpstream(t *testing.T) (host string, p *uppool.Pool) {
	t.Helper()
	up, err := upstream.Start("127.0.0.1:0", "pool-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	host = strings.TrimPrefix(up.URL(), "http://")
	p = uppool.New(uppool.Options{Addr: host, MaxConns: 4})
	t.Cleanup(p.Close)
	return host, p
}

func idleCount(p *uppool.Pool) int {
	_, idle := p.Open()
	return idle
}

func TestPoolReusesAndRetires(t *testing.T) {
	host, p := startUpstream(t)

	a, _ := get1(t, p, host, nil)
	b, reused := get1(t, p, host, nil)
	if !reused || a != b {
		t.Errorf("second request used a new connection (%s then %s, reused %v)", a, b, reused)
	}
	// The upstream asks to close: that connection must not go back.
	get1(t, p, host, http.Header{"X-Upstream-Close": {"1"}})
	if n := idleCount(p); n != 0 {
		t.Errorf("closed connection returned to the pool (%d idle)", n)
	}
	c, reused := get1(t, p, host, nil)
	if reused || c == b {
		t.Errorf("request after Connection: close reused %s", c)
	}
}

func TestPoolBodyNotDrainedIsClosed(t *testing.T) {
	host, p := startUpstream(t)
	req := getRequest(host, http.Header{"X-Upstream-Body-Bytes": {"100000"}})
	var tm uppool.Timing
	resp, pc, err := roundTrip(t.Context(), p, req, time.Now().Add(5*time.Second), &tm)
	if err != nil {
		t.Fatal(err)
	}
	io.CopyN(io.Discard, resp.Body, 10) // client went away mid-body
	resp.Body.Close()
	release(p, pc, resp, false)
	if n := idleCount(p); n != 0 {
		t.Errorf("connection with an unread body returned to the pool")
	}
}

func TestPoolTimeout(t *testing.T) {
	host, p := startUpstream(t)
	req := getRequest(host, http.Header{"X-Upstream-Delay": {"5s"}})
	var tm uppool.Timing
	_, _, err := roundTrip(t.Context(), p, req, time.Now().Add(100*time.Millisecond), &tm)
	if err == nil || !errors.Is(err, errTimeout) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if n := idleCount(p); n != 0 {
		t.Errorf("timed-out connection returned to the pool")
	}
}

// A POST whose bytes reached a backend that then reset the connection is
// answered with an error and never sent twice, even on a reused connection.
func TestPoolNeverResendsAPostThatReachedTheBackend(t *testing.T) {
	var requests atomic.Int64
	host := rawtcp.Serve(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if requests.Add(1) == 1 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				continue
			}
			// The second request: read, then reset.
			c.(*net.TCPConn).SetLinger(0)
			return
		}
	})
	p := uppool.New(uppool.Options{Addr: host, MaxConns: 4})
	t.Cleanup(p.Close)
	var tm uppool.Timing
	resp, pc, err := roundTrip(t.Context(), p, getRequest(host, http.Header{}), time.Now().Add(5*time.Second), &tm)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	release(p, pc, resp, true)

	post := getRequest(host, http.Header{})
	post.Method = "POST"
	post.Body = io.NopCloser(strings.NewReader("payload"))
	post.ContentLength = 7
	var tm2 uppool.Timing
	if _, _, err := roundTrip(t.Context(), p, post, time.Now().Add(5*time.Second), &tm2); err == nil || tm2.Retried {
		t.Fatalf("a reset after the POST reached the backend: err %v, retried %v; want an error, not sent again", err, tm2.Retried)
	}
	// Give a second send every chance to arrive before counting.
	var tm3 uppool.Timing
	resp2, pc2, err := roundTrip(t.Context(), p, getRequest(host, http.Header{}), time.Now().Add(2*time.Second), &tm3)
	if err == nil {
		io.ReadAll(resp2.Body)
		resp2.Body.Close()
		release(p, pc2, resp2, true)
	}
	if n := requests.Load(); n != 3 {
		t.Fatalf("backend saw %d requests; the POST must arrive once (GET, POST, then the probe GET)", n)
	}
}
