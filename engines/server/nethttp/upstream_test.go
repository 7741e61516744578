package nethttp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
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
