package main

// Upstream keep-alive (issue 10) end to end, on both server engines: real
// "gatelab serve" processes in front of upstreams that close their
// keep-alive connections the way real servers do, and one that resets a
// connection after reading a request. Clients must never see the upstream's
// connection housekeeping; a request that may have reached the backend is
// still never sent twice.

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/rawtcp"
	"github.com/gatelab/gatelab/internal/testproc"
)

func keepAliveConfig(up string) string {
	return fmt.Sprintf(`access_log: {output: "off"}
backends:
%sroutes:
  - {id: open, pattern: /open/*, backend: up, auth: none}
`, hardeningBackend("up", up))
}

// metricSum adds up every sample of the named metric on s's /metrics.
func metricSum(t *testing.T, s *testproc.Serve, name string) float64 {
	t.Helper()
	res, err := hardeningClient.Get("http://" + s.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		metric, value, ok := strings.Cut(line, " ")
		if !ok || (metric != name && !strings.HasPrefix(metric, name+"{")) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// TestKeepAliveUpstreamCloses: an upstream that closes a keep-alive
// connection after 10 requests (saying Connection: close, as nginx does at
// keepalive_requests) and after 15 ms idle (silently, as at
// keepalive_timeout) gives no client error, under concurrent load with
// pauses around the idle timeout.
func TestKeepAliveUpstreamCloses(t *testing.T) {
	const (
		workers  = 16
		requests = 150 // per worker
	)
	forEachServer(t, func(t *testing.T, server string) {
		up := testproc.StartUpstreamArgs(t, "ka-"+server, "-static", "-max-conn-requests", "10", "-idle-timeout", "15ms")
		s := startHardening(t, server, keepAliveConfig(up))
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true}, Timeout: hardeningResponse}
		defer client.CloseIdleConnections()
		var failures atomic.Int64
		var firstFailure atomic.Value
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 1))
				for i := range requests {
					if i%10 == 9 {
						// A pause around the upstream's idle timeout now
						// and then: some pooled connections die idle.
						time.Sleep(time.Duration(5+rng.IntN(25)) * time.Millisecond)
					}
					res, err := client.Get("http://" + s.Traffic + "/open/x")
					if err != nil {
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, err.Error())
						continue
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, res.Status+" "+res.Header.Get("X-Request-Id"))
					}
				}
			}()
		}
		wg.Wait()
		stale := metricSum(t, s, "gatelab_upstream_stale_connections_total")
		retries := metricSum(t, s, "gatelab_upstream_retries_total")
		dials := metricSum(t, s, "gatelab_upstream_dial_seconds_count")
		t.Logf("%s: %d requests, %d failed; %v stale pooled connections skipped, %v retried, %v dials",
			server, workers*requests, failures.Load(), stale, retries, dials)
		if n := failures.Load(); n > 0 {
			t.Errorf("%s: %d of %d requests failed (first: %v)", server, n, workers*requests, firstFailure.Load())
		}
		// The run must have met both kinds of close, or it proved nothing.
		if dials < workers*requests/10 {
			t.Errorf("%s: only %v dials for %d requests: the upstream's request cap never closed a connection", server, dials, workers*requests)
		}
		// A connection the upstream closed while idle is seen before
		// writing (stale) or, racing the close, by the write or the read
		// (retried); either way the run met the idle timeout.
		if stale+retries == 0 {
			t.Errorf("%s: no pooled connection was found closed: the idle timeout never hit a pooled connection", server)
		}
	})
}

// resetBackend answers the first request on each connection and resets
// the connection after reading the second, without answering it. It counts
// requests by method.
type resetBackend struct {
	addr  string
	mu    sync.Mutex
	count map[string]int
}

func startResetBackend(t *testing.T) *resetBackend {
	t.Helper()
	b := &resetBackend{count: map[string]int{}}
	b.addr = rawtcp.Serve(t, b.serve)
	return b
}

func (b *resetBackend) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for n := 1; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		if req.URL.Path == "/healthz" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			return
		}
		b.mu.Lock()
		b.count[req.Method]++
		b.mu.Unlock()
		if n == 2 {
			c.(*net.TCPConn).SetLinger(0) // RST
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
}

func (b *resetBackend) requests(method string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.count[method]
}

// TestKeepAliveDeadPooledConnection: a GET that meets a pooled connection
// the upstream kills is answered (sent once more on a fresh connection); a
// POST whose bytes reached the backend before the reset gets 502 and the
// backend sees it once.
func TestKeepAliveDeadPooledConnection(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		b := startResetBackend(t)
		s := startHardening(t, server, keepAliveConfig("http://"+b.addr))
		get := func() exchange { return rawDo(s.Traffic, rawGet("/open", ""), false) }
		// First GET: a new upstream connection, answered and pooled.
		if x := get(); x.status != 200 {
			t.Fatalf("%s: first GET: %v", server, x)
		}
		// Second GET: the pooled connection is reset once the request
		// is read; the GET goes again on a fresh connection.
		if x := get(); x.status != 200 {
			t.Fatalf("%s: GET on a connection the upstream reset: %v, want 200", server, x)
		}
		if n := b.requests("GET"); n != 3 {
			t.Errorf("%s: backend saw %d GETs, want 3 (the second sent twice)", server, n)
		}
		// The fresh connection answered its first request and is pooled;
		// a POST on it is reset after the backend read it.
		x := rawDo(s.Traffic, rawPost("/open", "Content-Length: 7\r\n", "payload"), false)
		if x.status != 502 {
			t.Errorf("%s: POST reset by the backend: %v, want 502", server, x)
		}
		if n := b.requests("POST"); n != 1 {
			t.Errorf("%s: backend saw the POST %d times, want once", server, n)
		}
		if r := metricSum(t, s, "gatelab_upstream_retries_total"); r != 1 {
			t.Errorf("%s: gatelab_upstream_retries_total = %v, want 1", server, r)
		}
	})
}

// TestServeGCPercent: serve runs with GOGC 400 unless GOGC says otherwise
// (the runtime's own gauge on /metrics shows it).
func TestServeGCPercent(t *testing.T) {
	up := testproc.StartUpstream(t, "gc")
	for _, tc := range []struct {
		env  string // GOGC in the environment ("" = unset)
		want float64
	}{{"", serveGCPercent}, {"150", 150}} {
		if tc.env == "" {
			if v, ok := os.LookupEnv("GOGC"); ok {
				t.Setenv("GOGC", v) // restored after the test
				os.Unsetenv("GOGC")
			}
		} else {
			t.Setenv("GOGC", tc.env)
		}
		s := startHardening(t, "fasthttp", keepAliveConfig(up))
		if got := metricSum(t, s, "go_gc_gogc_percent"); got != tc.want {
			t.Errorf("GOGC=%q: go_gc_gogc_percent = %v, want %v", tc.env, got, tc.want)
		}
	}
}

// TestKeepAliveBodilessResponsesReuse: responses without a body (204, and
// any answer to HEAD) leave the upstream connection reusable on both
// engines: ten such requests in a row use one upstream connection.
func TestKeepAliveBodilessResponsesReuse(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		var conns atomic.Int64 // connections that carried a proxied request
		addr := rawtcp.Serve(t, func(c net.Conn) {
			br := bufio.NewReader(c)
			for n := 0; ; n++ {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if req.URL.Path == "/healthz" {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					continue
				}
				if n == 0 {
					conns.Add(1)
				}
				if req.Method == "HEAD" {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
				} else {
					io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
				}
			}
		})
		s := startHardening(t, server, keepAliveConfig("http://"+addr))
		for i := range 10 {
			method := "GET"
			if i%2 == 1 {
				method = "HEAD"
			}
			req, _ := http.NewRequest(method, "http://"+s.Traffic+"/open/x", nil)
			res, err := hardeningClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %s: %v", server, method, err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if want := map[string]int{"GET": 204, "HEAD": 200}[method]; res.StatusCode != want {
				t.Fatalf("%s: %s answered %d, want %d", server, method, res.StatusCode, want)
			}
		}
		if n := conns.Load(); n != 1 {
			t.Errorf("%s: 10 bodiless responses took %d upstream connections, want 1", server, n)
		}
	})
}

// TestKeepAliveNoReuseAfter101: an upstream connection that answered 101
// Switching Protocols speaks another protocol afterwards; neither engine
// sends the next request on it.
func TestKeepAliveNoReuseAfter101(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		var reused atomic.Int64 // proxied requests that arrived on a connection after its 101
		addr := rawtcp.Serve(t, func(c net.Conn) {
			br := bufio.NewReader(c)
			switched := false
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if req.URL.Path == "/healthz" {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					continue
				}
				if switched {
					reused.Add(1)
				}
				switched = true
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-test\r\nConnection: Upgrade\r\n\r\n")
			}
		})
		s := startHardening(t, server, keepAliveConfig("http://"+addr))
		for range 2 {
			// Whatever the client is answered (a 101 it did not ask for
			// may be passed on or refused), only the upstream side counts.
			c, err := net.DialTimeout("tcp", s.Traffic, hardeningDial)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, rawGet("/open", ""))
			c.SetReadDeadline(time.Now().Add(time.Second))
			io.Copy(io.Discard, c)
			c.Close()
		}
		if n := reused.Load(); n != 0 {
			t.Errorf("%s: %d requests were sent on an upstream connection after its 101", server, n)
		}
	})
}
