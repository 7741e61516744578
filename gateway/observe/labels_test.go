package observe

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/observe/metricstest"
)

// series returns the samples of family name from m's registry.
func series(t *testing.T, m *Metrics, name string) map[string]float64 {
	return metricstest.Series(t, m.Registry(), name)
}

// TestCodeLabel: every status 100..599 is its own code label value, in its
// own class; anything else is code "other" in class 5xx.
func TestCodeLabel(t *testing.T) {
	for _, c := range []struct {
		status      int
		class, code string
	}{
		{100, "1xx", "100"}, {200, "2xx", "200"}, {204, "2xx", "204"}, {301, "3xx", "301"},
		{418, "4xx", "418"}, {499, "4xx", "499"}, {503, "5xx", "503"}, {599, "5xx", "599"},
		{999, "5xx", "other"}, {600, "5xx", "other"}, {99, "5xx", "other"}, {0, "5xx", "other"}, {-1, "5xx", "other"},
	} {
		m := NewMetrics()
		r := m.ForRoute("users", "user-service")
		r.Observe(mGET, c.status, time.Millisecond, 0)
		r.Observe(mGET, c.status, time.Millisecond, 0)
		got := series(t, m, "gatelab_requests_total")
		want := `code="` + c.code + `",method="GET",route="users",status_class="` + c.class + `"`
		if len(got) != 1 || got[want] != 2 {
			t.Errorf("status %d: requests %v, want {%s} 2", c.status, got, want)
		}
	}
	// Bounded: every int maps to one of 501 values.
	seen := map[string]bool{}
	for status := -1000; status < 2000; status++ {
		_, _, label := statusCode(status)
		seen[label] = true
	}
	if len(seen) != 501 {
		t.Errorf("%d distinct code labels, want 500 codes and other", len(seen))
	}
}

// TestBackendLabel: the upstream families carry the route's backend; a
// reload that moves the route to another backend labels new observations
// with the new one, keeps the request counter going, and (after
// RetainRoutes) stops exporting the old backend's series.
func TestBackendLabel(t *testing.T) {
	m := NewMetrics()
	upstreamFamilies := []string{
		"gatelab_upstream_duration_seconds", "gatelab_upstream_connect_seconds", "gatelab_upstream_dial_seconds",
		"gatelab_upstream_stale_connections_total", "gatelab_upstream_retries_total",
	}
	forward := func(r *RouteMetrics) {
		r.ObserveConn(time.Millisecond, time.Millisecond/2, true, 1, true)
		r.Observe(mGET, 200, 3*time.Millisecond, 2*time.Millisecond)
	}
	a := m.ForRoute("users", "svc-a")
	forward(a)
	for _, fam := range upstreamFamilies {
		got := series(t, m, fam)
		if len(got) != 1 || got[`backend="svc-a",route="users"`] != 1 {
			t.Errorf("%s = %v, want {backend=svc-a,route=users} 1", fam, got)
		}
	}

	// The reload: the same route id on another backend.
	b := m.ForRoute("users", "svc-b")
	if b == a || b.Backend() != "svc-b" {
		t.Fatalf("ForRoute kept the old backend's handle (%q)", b.Backend())
	}
	if m.ForRoute("users", "svc-b") != b {
		t.Fatal("ForRoute did not cache the new backend's handle")
	}
	forward(b)
	forward(a) // a request of the old snapshot still finishing
	if got := series(t, m, "gatelab_upstream_duration_seconds"); got[`backend="svc-a",route="users"`] != 2 || got[`backend="svc-b",route="users"`] != 1 {
		t.Errorf("before retain: upstream duration %v", got)
	}
	m.RetainRoutes(b)
	for _, fam := range upstreamFamilies {
		got := series(t, m, fam)
		if len(got) != 1 || got[`backend="svc-b",route="users"`] != 1 {
			t.Errorf("after retain: %s = %v, want only {backend=svc-b,route=users} 1", fam, got)
		}
	}
	// The route's own series have no backend label and count both.
	if got := series(t, m, "gatelab_requests_total"); got[`code="200",method="GET",route="users",status_class="2xx"`] != 3 {
		t.Errorf("requests after the backend change: %v, want 3", got)
	}
	// A route answered by the gateway itself exports no upstream series.
	m.ForRoute("health", "").Observe(mGET, 200, time.Millisecond, 0)
	if got := series(t, m, "gatelab_upstream_connect_seconds"); len(got) != 1 {
		t.Errorf("connect series %v: a route without upstream added one", got)
	}
}

func TestBuildInfo(t *testing.T) {
	m := NewMetrics()
	if got := series(t, m, "gatelab_build_info"); len(got) != 1 ||
		got[`goversion="`+runtime.Version()+`",revision="unknown",version="devel"`] != 1 {
		t.Errorf("default build info %v", got)
	}
	m.SetBuildInfo("(devel)", "", "go1.26.8")
	if got := series(t, m, "gatelab_build_info"); len(got) != 1 || got[`goversion="go1.26.8",revision="unknown",version="devel"`] != 1 {
		t.Errorf("build info after (devel) %v", got)
	}
	m.SetBuildInfo("v1.2.3", "0123abcd", "go1.26.8")
	if got := series(t, m, "gatelab_build_info"); len(got) != 1 || got[`goversion="go1.26.8",revision="0123abcd",version="v1.2.3"`] != 1 {
		t.Errorf("build info %v, want exactly the one set last", got)
	}
}

// TestCountTrafficConns: accepted connections count in, the first Close of
// each counts out (a second Close changes nothing), on real loopback
// sockets.
func TestCountTrafficConns(t *testing.T) {
	m := NewMetrics()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := m.CountTrafficConns(raw)
	defer ln.Close()
	open := func() float64 { return toFloat64(t, m.OpenConnections()) }
	if got := series(t, m, "gatelab_open_connections"); len(got) != 1 || got[`listener="traffic"`] != 0 {
		t.Fatalf("before any connection: %v", got)
	}
	const n = 5
	var clients, served []net.Conn
	for i := range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		served = append(served, s)
		if got := open(); got != float64(i+1) {
			t.Fatalf("after %d accepts: %v", i+1, got)
		}
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	// The wrapper passes what wrappers above it look for.
	if nc, ok := served[0].(interface{ NetConn() net.Conn }); !ok || nc.NetConn() == nil {
		t.Error("no NetConn on a counted connection")
	}
	if cw, ok := served[0].(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		t.Error("CloseWrite not passed through to the TCP connection")
	}
	for i, s := range served {
		s.Close()
		s.Close() // a second Close must not count again
		if got := open(); got != float64(n-i-1) {
			t.Fatalf("after closing %d: %v", i+1, got)
		}
	}
}

func TestUpstreamConns(t *testing.T) {
	m := NewMetrics()
	if got := series(t, m, "gatelab_upstream_open_connections"); len(got) != 0 {
		t.Errorf("without a source: %v", got)
	}
	conns := map[string]int{"user-service": 3, "order-service": 0}
	m.SetUpstreamConns(func(report func(string, int)) {
		for b, n := range conns {
			report(b, n)
		}
	})
	got := series(t, m, "gatelab_upstream_open_connections")
	if len(got) != 2 || got[`backend="user-service"`] != 3 || got[`backend="order-service"`] != 0 {
		t.Errorf("upstream open connections %v", got)
	}
	conns["user-service"] = 1 // read at scrape time
	if got := series(t, m, "gatelab_upstream_open_connections"); got[`backend="user-service"`] != 1 {
		t.Errorf("second scrape %v", got)
	}
	m.SetUpstreamConns(nil)
	if got := series(t, m, "gatelab_upstream_open_connections"); len(got) != 0 {
		t.Errorf("after removing the source: %v", got)
	}
}

// TestPrecreatedSeries: the counters an alert takes rate() of exist at 0
// once a backend is known, before anything happened.
func TestPrecreatedSeries(t *testing.T) {
	m := NewMetrics()
	m.InstanceKnown("user-service", "http://127.0.0.1:9001", true)
	m.BreakerKnown("user-service", "closed", "open")
	if got := series(t, m, "gatelab_backend_health_changes_total"); len(got) != 2 ||
		got[`backend="user-service",to="in"`] != 0 || got[`backend="user-service",to="out"`] != 0 {
		t.Errorf("health changes %v", got)
	}
	m.InstanceHealth("user-service", "http://127.0.0.1:9001", false)
	if got := series(t, m, "gatelab_backend_health_changes_total"); got[`backend="user-service",to="out"`] != 1 {
		t.Errorf("health changes after one ejection %v", got)
	}
	if got := series(t, m, "gatelab_circuit_breaker_transitions_total"); len(got) != 2 ||
		got[`backend="user-service",state="open"`] != 0 {
		t.Errorf("breaker transitions %v", got)
	}
	if got := series(t, m, "gatelab_config_reloads_total"); len(got) != 2 {
		t.Errorf("config reloads %v", got)
	}
}
