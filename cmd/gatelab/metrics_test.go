package main

// The metrics an operator's dashboards and alerts read, end to end on both
// server engines: a real "gatelab serve" process in front of an upstream
// that answers the status its path names, scraped on the admin listener.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/internal/rawtcp"
	"github.com/gatelab/gatelab/node"
)

// statusUpstream answers every request on keep-alive connections with the
// status in its path's last segment (/open/418 -> 418; 200 when that is
// not a number), whatever the number, and an empty body.
func statusUpstream(t *testing.T) string {
	t.Helper()
	return rawtcp.Serve(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			status := 200
			if n, err := strconv.Atoi(req.URL.Path[strings.LastIndexByte(req.URL.Path, '/')+1:]); err == nil {
				status = n
			}
			if _, err := fmt.Fprintf(c, "HTTP/1.1 %d Whatever\r\nContent-Length: 0\r\n\r\n", status); err != nil {
				return
			}
		}
	})
}

// metricsConfig routes /open/* to backend up and /quiet/* to backend quiet
// (on its own upstream: pools are per host:port).
func metricsConfig(up, quiet string) string {
	return fmt.Sprintf(`access_log: {output: "off"}
backends:
%s%sroutes:
  - {id: open, pattern: /open/*, backend: up, auth: none}
  - {id: quiet, pattern: /quiet/*, backend: quiet, auth: none}
`, hardeningBackend("up", "http://"+up), hardeningBackend("quiet", "http://"+quiet))
}

// scrape returns the admin listener's /metrics text.
func scrape(t *testing.T, admin string) string {
	t.Helper()
	res, err := hardeningClient.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sample finds the value of the sample line "series value" in a scrape.
func sample(text, series string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// waitSample polls /metrics until series has value want (bounded), and
// fails with the last value seen.
func waitSample(t *testing.T, admin, series string, want float64, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got float64
	var ok bool
	for time.Now().Before(deadline) {
		if got, ok = sample(scrape(t, admin), series); ok && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not a synchronisation
	}
	t.Fatalf("%s: %s = %v (present %v), want %v", what, series, got, ok, want)
}

// rawConn is a client connection that sends requests one at a time.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, hardeningDial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, br: bufio.NewReader(c)}
}

// get sends GET path (with extra header lines) and reads the response.
func (rc *rawConn) get(t *testing.T, path, extra string) int {
	t.Helper()
	rc.c.SetDeadline(time.Now().Add(hardeningResponse))
	if _, err := io.WriteString(rc.c, "GET "+path+" HTTP/1.1\r\nHost: metrics.test\r\n"+extra+"\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

const openConnsSeries = `gatelab_open_connections{listener="traffic"}`

func TestOperatorMetrics(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		s := startHardening(t, server, metricsConfig(statusUpstream(t), statusUpstream(t)))

		// The series exist before any traffic.
		text := scrape(t, s.Admin)
		if v, ok := sample(text, openConnsSeries); !ok || v != 0 {
			t.Errorf("%s before traffic: %v (present %v), want 0", openConnsSeries, v, ok)
		}
		var build string
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "gatelab_build_info{") {
				build = line
			}
		}
		if !strings.Contains(build, `goversion="`+runtime.Version()+`"`) || !strings.HasSuffix(build, "} 1") ||
			!strings.Contains(build, `revision="`) || !strings.Contains(build, `version="`) {
			t.Errorf("build info line %q", build)
		}
		t.Logf("%s: %s", server, build)

		// Status codes as labels, bounded; the backend on upstream series.
		rc := dialRaw(t, s.Traffic)
		for _, c := range []struct {
			path   string
			status int
		}{{"/open/418", 418}, {"/open/999", 999}, {"/open/200", 200}, {"/open/200", 200}} {
			if got := rc.get(t, c.path, ""); got != c.status {
				t.Fatalf("GET %s: %d, want %d", c.path, got, c.status)
			}
		}
		text = scrape(t, s.Admin)
		for _, c := range []struct {
			series string
			want   float64
		}{
			{`gatelab_requests_total{code="418",method="GET",route="open",status_class="4xx"}`, 1},
			{`gatelab_requests_total{code="other",method="GET",route="open",status_class="5xx"}`, 1},
			{`gatelab_requests_total{code="200",method="GET",route="open",status_class="2xx"}`, 2},
			{`gatelab_upstream_duration_seconds_count{backend="up",route="open"}`, 4},
			{`gatelab_upstream_connect_seconds_count{backend="up",route="open"}`, 4},
			{`gatelab_upstream_dial_seconds_count{backend="up",route="open"}`, 1},
			{`gatelab_upstream_stale_connections_total{backend="up",route="open"}`, 0},
			{`gatelab_upstream_retries_total{backend="up",route="open"}`, 0},
			// Sequential requests share one pooled connection; the
			// quiet backend has none.
			{`gatelab_upstream_open_connections{backend="up"}`, 1},
			{`gatelab_upstream_open_connections{backend="quiet"}`, 0},
			{`gatelab_backend_health_changes_total{backend="up",to="out"}`, 0},
			{`gatelab_circuit_breaker_transitions_total{backend="up",state="open"}`, 0},
		} {
			if got, ok := sample(text, c.series); !ok || got != c.want {
				t.Errorf("%s = %v (present %v), want %v", c.series, got, ok, c.want)
			}
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, `gatelab_requests_total{code="999"`) {
				t.Errorf("status 999 made its own series: %s", line)
			}
		}
		rc.c.Close()
		waitSample(t, s.Admin, openConnsSeries, 0, "after the first client closed")

		// N client connections open: the gauge shows N; closed by the
		// clients: back to 0.
		const n = 6
		conns := make([]*rawConn, n)
		for i := range conns {
			conns[i] = dialRaw(t, s.Traffic)
			if st := conns[i].get(t, "/open/200", ""); st != 200 {
				t.Fatalf("conn %d: %d", i, st)
			}
		}
		waitSample(t, s.Admin, openConnsSeries, n, fmt.Sprintf("%d keep-alive connections open", n))
		for _, rc := range conns {
			rc.c.Close()
		}
		waitSample(t, s.Admin, openConnsSeries, 0, "after the clients closed")

		// Connections the server closes itself (Connection: close, and a
		// request it refuses) count out while the clients still hold
		// theirs.
		for i := range n {
			rc := dialRaw(t, s.Traffic)
			if i%2 == 0 {
				if st := rc.get(t, "/open/200", "Connection: close\r\n"); st != 200 {
					t.Fatalf("close request: %d", st)
				}
				continue
			}
			rc.c.SetDeadline(time.Now().Add(hardeningResponse))
			io.WriteString(rc.c, "this is not HTTP\r\n\r\n")
		}
		waitSample(t, s.Admin, openConnsSeries, 0, "after the server closed its connections")
	})
}

// TestOpenConnectionsDrain: connections a draining node closes count out,
// on both engines (in process: the admin listener stops with the node).
func TestOpenConnectionsDrain(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		cfg, err := config.Parse([]byte(metricsConfig(statusUpstream(t), statusUpstream(t))), "metrics.yaml", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		n, err := node.Start(cfg, node.Options{Server: server, Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", Instance: "drain-test"})
		if err != nil {
			t.Fatal(err)
		}
		stopped := false
		t.Cleanup(func() {
			if !stopped {
				n.Shutdown(context.Background())
			}
		})
		const conns = 4
		for i := range conns {
			if st := dialRaw(t, n.Addr()).get(t, "/open/200", ""); st != 200 {
				t.Fatalf("conn %d: %d", i, st)
			}
		}
		waitSample(t, n.AdminAddr(), openConnsSeries, conns, "before the drain")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Drain(ctx, 0); err != nil {
			t.Fatalf("drain: %v", err)
		}
		stopped = true
		// The node is down; its registry is still there to read.
		open := func() float64 {
			mfs, err := n.Gateway.Metrics().Registry().Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() == "gatelab_open_connections" && len(mf.GetMetric()) == 1 {
					return mf.GetMetric()[0].GetGauge().GetValue()
				}
			}
			t.Fatal("no gatelab_open_connections series")
			return 0
		}
		deadline := time.Now().Add(5 * time.Second)
		for open() != 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // poll interval
		}
		if got := open(); got != 0 {
			t.Errorf("gatelab_open_connections after the drain: %v, want 0", got)
		}
	})
}
