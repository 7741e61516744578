package node_test

// The gateway suite: every case runs against every server engine x router
// engine combination, through real `gatelab upstream` processes over
// loopback. Engines are taken from the registry, so a new engine is covered
// without touching this file. The HTTP behaviour any gateway owes its
// clients is checked by the conformance suites (suites_test.go runs them on
// the same combinations); the cases here are gatelab's own.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/auth/authtest"
	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/policy"
	"github.com/gatelab/gatelab/internal/testproc"
	"github.com/gatelab/gatelab/internal/upstream"
	"github.com/gatelab/gatelab/node"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// startUpstreams runs one `gatelab upstream` process per fixture backend for
// the lifetime of t; every engine combination below t shares them.
func startUpstreams(t *testing.T) map[string]string {
	t.Helper()
	ups := map[string]string{}
	for _, name := range []string{"user-service", "order-service", "payment-service", "legacy-user-service", "admin-service", "product-service"} {
		ups[name] = testproc.StartUpstream(t, name)
	}
	return ups
}

func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// testConfig is fixtures/gateway.yaml pointed at the started upstreams, plus
// routes for fault cases.
func testConfig(t *testing.T, ups map[string]string) *config.Config {
	t.Helper()
	root := repoRoot(t)
	cfg, err := config.Load(filepath.Join(root, "fixtures", "gateway.yaml"))
	if err != nil {
		t.Fatalf("fixture config: %v", err)
	}
	for i := range cfg.Backends {
		b := &cfg.Backends[i]
		u, ok := ups[b.Name]
		if !ok {
			t.Fatalf("no upstream for backend %s", b.Name)
		}
		b.Instances = []config.Instance{{URL: u, Weight: 1}}
	}
	// A backend that reads a request and hangs up without answering; it
	// counts what it received (no retries allowed).
	cfg.Backends = append(cfg.Backends, config.Backend{Name: "hangup-service",
		Instances: []config.Instance{{URL: "http://" + hangup.addr, Weight: 1}}})
	cfg.Routes = append(cfg.Routes, config.Route{ID: "hangup", Pattern: "/test/hangup/*", Backend: "hangup-service", Auth: config.AuthNone})
	// A backend nobody listens on: refused connections.
	cfg.Backends = append(cfg.Backends, config.Backend{Name: "dead-service",
		Instances: []config.Instance{{URL: "http://" + closedAddr(t), Weight: 1}}})
	cfg.Routes = append(cfg.Routes,
		config.Route{ID: "slow", Pattern: "/test/slow/*", Backend: "user-service", Auth: config.AuthNone, TimeoutMS: 300, StripPrefix: "/test"},
		config.Route{ID: "dead", Pattern: "/test/dead/*", Backend: "dead-service", Auth: config.AuthNone},
		config.Route{ID: "big-body", Pattern: "/test/big/*", Methods: policy.Methods{policy.MethodPost}, Backend: "user-service", Auth: config.AuthNone, MaxBodyBytes: 4 << 20},
		config.Route{ID: "open", Pattern: "/test/open/*", Backend: "user-service", Auth: config.AuthNone},
	)
	// Short connection limits so the slow-loris and idle cases finish fast.
	cfg.Limits.ReadHeaderTimeout = time.Second
	cfg.Limits.IdleTimeout = time.Second
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	return cfg
}

// hangupBackend accepts connections, reads one request head and closes the
// connection without a response, counting requests.
type hangupBackend struct {
	addr string
	mu   sync.Mutex
	hits int
}

var hangup = startHangup()

func startHangup() *hangupBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	h := &hangupBackend{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				h.mu.Lock()
				h.hits++
				h.mu.Unlock()
			}(c)
		}
	}()
	return h
}

func (h *hangupBackend) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits
}

// closedAddr is a loopback address whose connections are refused, the
// port reserved for the test's lifetime (reserveClosedPort). (A listener
// opened and closed gives the port back to the kernel, which may hand it to
// another node's listener: then the "dead" route proxies into a gateway,
// once into itself in a loop.)
func closedAddr(t *testing.T) string {
	addr, release, err := reserveClosedPort()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return addr
}

// syncBuffer collects the access log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type gw struct {
	t    *testing.T
	base string
	n    *node.Node
	log  *syncBuffer
	root string
}

func startNode(t *testing.T, ups map[string]string, server, router string) *gw {
	return startWith(t, testConfig(t, ups), server, router)
}

// startConfigured starts a node on cfg with the trie router.
func startConfigured(t *testing.T, cfg *config.Config, server string) *gw {
	return startWith(t, cfg, server, "trie")
}

func startWith(t *testing.T, cfg *config.Config, server, router string) *gw {
	t.Helper()
	logBuf := &syncBuffer{}
	n, err := node.Start(cfg, node.Options{Server: server, Router: router, Limiter: "local",
		Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", AccessLog: logBuf, Instance: "test-node"})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Shutdown(ctx)
	})
	return &gw{t: t, base: "http://" + n.Addr(), n: n, log: logBuf, root: repoRoot(t)}
}

func (g *gw) token(sub string, scopes []string, ttl time.Duration) string {
	g.t.Helper()
	tok, err := authtest.Mint(authtest.Options{
		Subject: sub, Scopes: scopes, TTL: ttl,
		Issuer: authtest.Issuer, Audience: []string{authtest.Audience},
		Kid: "rsa-1", KeyFile: filepath.Join(g.root, "fixtures", "keys", "rsa.pem"),
	})
	if err != nil {
		g.t.Fatalf("mint: %v", err)
	}
	return tok
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}, Timeout: 10 * time.Second}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%v): %q", err, r.body)
	}
	return m
}

// echo is what the fake upstream reports it received.
type echo struct{ upstream.Echo }

func (r resp) echo(t *testing.T) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(r.body, &e.Echo); err != nil || e.Name == "" {
		t.Fatalf("not an upstream echo (status %d): %q", r.status, r.body)
	}
	return e
}

// header returns all values of a header the upstream saw, matching the name
// case-insensitively and treating '_' as '-'.
func (e echo) header(name string) []string {
	var out []string
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }
	for k, v := range e.Headers {
		if norm(k) == norm(name) {
			out = append(out, v...)
		}
	}
	return out
}

func (g *gw) do(method, path string, hdr map[string]string, body io.Reader) resp {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, body)
	if err != nil {
		g.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return send(g.t, req)
}

func send(t *testing.T, req *http.Request) resp {
	t.Helper()
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// raw sends bytes on a fresh connection and returns the status line's code
// and the response head; used for requests net/http's client won't send.
func (g *gw) raw(request string) (int, string) {
	g.t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(g.base, "http://"), 5*time.Second)
	if err != nil {
		g.t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		g.t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		g.t.Fatalf("read response: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func combos() [][2]string {
	var out [][2]string
	for _, s := range engines.Names(engines.KindServer) {
		for _, r := range engines.Names(engines.KindRouter) {
			out = append(out, [2]string{s, r})
		}
	}
	return out
}

func TestGateway(t *testing.T) {
	if len(combos()) < 6 {
		t.Fatalf("expected at least 2 servers x 3 routers, registry has %v / %v",
			engines.Names(engines.KindServer), engines.Names(engines.KindRouter))
	}
	ups := startUpstreams(t)
	for _, c := range combos() {
		t.Run(c[0]+"-"+c[1], func(t *testing.T) {
			g := startNode(t, ups, c[0], c[1])
			for _, tc := range gatewayCases {
				t.Run(tc.name, func(t *testing.T) {
					g.t = t
					tc.run(t, g)
				})
			}
		})
	}
}

var gatewayCases = []struct {
	name string
	run  func(t *testing.T, g *gw)
}{
	// TestSuites runs the conformance suites against every engine
	// combination too: they check routing, credentials, identity headers,
	// request ids and trace context, hop-by-hop and forwarding headers,
	// rate limiting, upstream errors, body and header limits and slow
	// clients. The cases here check what they leave out: gatelab's own
	// response fields and error codes, fixtures/gateway.yaml's tiers by
	// name, retries, idle connections, large streams, deprecation, the
	// health route, the access log and metrics.
	{"X-Response-Time-Ms on answers; RateLimit-Policy names the route's tier", func(t *testing.T, g *gw) {
		tok := g.token("user_789", []string{"users:read"}, 5*time.Minute)
		for _, c := range []struct {
			path   string
			hdr    map[string]string
			policy string
		}{
			{"/api/v2/users/me", map[string]string{"Authorization": "Bearer " + tok}, `"standard";q=100;w=60`},
			{"/api/v2/products/shoes", map[string]string{"X-API-Key": "glk_test_partner42"}, `"third_party";q=50;w=60`},
		} {
			r := g.do("GET", c.path, c.hdr, nil)
			if r.status != 200 {
				t.Fatalf("%s: status %d: %s", c.path, r.status, r.body)
			}
			if r.header.Get("X-Response-Time-Ms") == "" {
				t.Errorf("%s: no X-Response-Time-Ms", c.path)
			}
			if got := r.header.Get("RateLimit-Policy"); got != c.policy {
				t.Errorf("%s: RateLimit-Policy = %q, want %q", c.path, got, c.policy)
			}
		}
	}},
	{"refusals carry gatelab's JSON error codes and the request id", func(t *testing.T, g *gw) {
		// want checks a gateway's refusal: the status, and a JSON body
		// whose error is code (any non-empty one when code is "") and
		// whose request_id is the X-Request-ID header.
		want := func(what string, r resp, status int, code string) {
			t.Helper()
			if r.status != status {
				t.Errorf("%s: status %d %s, want %d", what, r.status, r.body, status)
				return
			}
			m := r.json(t)
			if e, _ := m["error"].(string); e == "" || code != "" && e != code {
				t.Errorf("%s: error %v, want %q", what, m["error"], code)
			}
			if rid := r.header.Get("X-Request-ID"); rid == "" || m["request_id"] != rid {
				t.Errorf("%s: request_id %v, X-Request-ID %q", what, m["request_id"], rid)
			}
		}
		bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
		want("expired token", g.do("GET", "/api/v2/users/me", bearer(g.token("user_789", nil, -5*time.Minute)), nil), 401, "")
		want("missing scope", g.do("GET", "/api/v2/admin/stats", bearer(g.token("user_789", []string{"users:read"}, 5*time.Minute)), nil), 403, "")
		want("no route", g.do("GET", "/nope", nil, nil), 404, "not_found")
		// The Allow list as gatelab writes it: the route's methods, no HEAD.
		if r := g.do("DELETE", "/api/v2/users/me", nil, nil); r.status != 405 || r.header.Get("Allow") != "GET, POST, PUT" {
			t.Errorf("405: %d Allow %q", r.status, r.header.Get("Allow"))
		}
		want("upstream timeout", g.do("GET", "/test/slow/x", map[string]string{"X-Upstream-Delay": "3s"}, nil), 504, "upstream_timeout")
		if r := g.do("GET", "/test/dead/x", nil, nil); r.status != 502 {
			t.Errorf("dead: %d %s; backend %+v", r.status, r.body, g.n.Gateway.Snapshot().Backends["dead-service"].R.Status())
		} else {
			want("refused", r, 502, "upstream_unavailable")
		}
		// fixtures/gateway.yaml's standard tier: 100 a minute.
		h := bearer(g.token("burst_user", nil, 5*time.Minute))
		inOneMinuteWindow(10 * time.Second)
		for i := 1; i <= 100; i++ {
			if r := g.do("GET", "/api/v2/users/me", h, nil); r.status != 200 {
				t.Fatalf("request %d: status %d", i, r.status)
			}
		}
		want("101st request on the standard tier", g.do("GET", "/api/v2/users/me", h, nil), 429, "rate_limit_exceeded")
	}},
	{"no gateway retries: a backend that hangs up gets exactly one request", func(t *testing.T, g *gw) {
		for _, m := range []string{"GET", "POST"} {
			before := hangup.count()
			r := g.do(m, "/test/hangup/x", nil, strings.NewReader("payload"))
			if r.status != 502 {
				t.Errorf("%s: status %d, want 502", m, r.status)
			}
			if got := hangup.count() - before; got != 1 {
				t.Errorf("%s: backend received %d requests, want exactly 1 (no retries)", m, got)
			}
		}
	}},
	{"idle keep-alive connections are closed", func(t *testing.T, g *gw) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /api/v2/health HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(conn)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(res.Body)
		res.Body.Close()
		// Now idle: the server closes after idle_timeout (1 s here).
		conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, err = br.ReadByte()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("idle connection not closed by the server")
		}
	}},
	{"8 MiB responses stream through intact, repeatedly on the same pools", func(t *testing.T, g *gw) {
		for i := 0; i < 3; i++ {
			r := g.do("GET", "/test/open/big", map[string]string{"X-Upstream-Body-Bytes": "8388608"}, nil)
			if r.status != 200 || !bytes.Equal(r.body, upstream.Payload(8<<20)) {
				t.Fatalf("8 MiB response %d: status %d, %d bytes", i+1, r.status, len(r.body))
			}
		}
	}},
	{"a 1 MiB request body streams through under a 4 MiB limit", func(t *testing.T, g *gw) {
		// Above the 64 KiB buffer, forwarded intact.
		r := g.do("POST", "/test/big/x", nil, bytes.NewReader(make([]byte, 1<<20)))
		if r.status != 200 || r.echo(t).BodyBytes != 1<<20 {
			t.Errorf("1 MiB body: %d %s", r.status, r.body)
		}
	}},
	{"header block over 8 KiB is 431", func(t *testing.T, g *gw) {
		code, _ := g.raw("GET /test/open/x HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 9000) + "\r\nConnection: close\r\n\r\n")
		if code != 431 {
			t.Errorf("status %d", code)
		}
		code, _ = g.raw("GET /test/open/x HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 6000) + "\r\nConnection: close\r\n\r\n")
		if code != 200 {
			t.Errorf("6000-byte header: status %d", code)
		}
	}},
	{"deprecated route carries Deprecation and Sunset", func(t *testing.T, g *gw) {
		tok := g.token("user_789", nil, 5*time.Minute)
		r := g.do("GET", "/api/v1/users/me", map[string]string{"Authorization": "Bearer " + tok}, nil)
		if r.status != 200 || r.header.Get("Deprecation") == "" || !strings.Contains(r.header.Get("Sunset"), "2025") {
			t.Errorf("%d Deprecation %q Sunset %q", r.status, r.header.Get("Deprecation"), r.header.Get("Sunset"))
		}
		if e := r.echo(t); e.Name != "legacy-user-service" || e.Path != "/users/me" {
			t.Errorf("routed to %s %s", e.Name, e.Path)
		}
	}},
	{"health answered by the gateway, limited by client IP", func(t *testing.T, g *gw) {
		r := g.do("GET", "/api/v2/health", nil, nil)
		if r.status != 200 || r.json(t)["status"] != "ok" {
			t.Errorf("%d %s", r.status, r.body)
		}
		if r.header.Get("RateLimit-Policy") != `"unauthenticated";q=30;w=60` {
			t.Errorf("RateLimit-Policy = %q", r.header.Get("RateLimit-Policy"))
		}
	}},
	{"CORS preflight and simple request", func(t *testing.T, g *gw) {
		r := g.do("OPTIONS", "/api/v2/products/shoes", map[string]string{"Origin": "https://app.gatelab.test", "Access-Control-Request-Method": "GET"}, nil)
		if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.gatelab.test" || r.header.Get("Access-Control-Allow-Methods") == "" {
			t.Errorf("preflight: %d %v", r.status, r.header)
		}
		r = g.do("OPTIONS", "/api/v2/products/shoes", map[string]string{"Origin": "https://evil.test", "Access-Control-Request-Method": "GET"}, nil)
		if r.status == 204 || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from unknown origin allowed: %d %v", r.status, r.header)
		}
	}},
	{"access log has entries and never the credentials", func(t *testing.T, g *gw) {
		tok := g.token("log_user", nil, 5*time.Minute)
		g.do("GET", "/api/v2/users/me?access_token=s3cr3t", map[string]string{"Authorization": "Bearer " + tok}, nil)
		g.do("GET", "/api/v2/products/x", map[string]string{"X-API-Key": "glk_test_partner42"}, nil)
		// The access log is asynchronous: wait for our entries by polling
		// the buffer we own (the writer has no other completion signal).
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(g.log.String(), "log_user") && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		out := g.log.String()
		if !strings.Contains(out, `"user_id":"log_user"`) || !strings.Contains(out, `"partner_id":"partner_42"`) {
			t.Fatalf("entries missing from access log:\n%s", out)
		}
		for _, secret := range []string{tok, tok[len(tok)-20:], "glk_test_partner42", "s3cr3t"} {
			if strings.Contains(out, secret) {
				t.Errorf("access log contains a credential %q", secret)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("access log line is not JSON: %s", line)
			}
		}
	}},
	{"metrics on the admin listener", func(t *testing.T, g *gw) {
		res, err := client.Get("http://" + g.n.AdminAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, want := range []string{`gatelab_requests_total{code="200",method="GET",route="users-v2",status_class="2xx"}`, "gatelab_request_duration_seconds_bucket", "gatelab_engine_info{", "gatelab_config_version 1"} {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if bytes.Contains(b, []byte("gatelab_requests_total")) && g.n.AdminAddr() == strings.TrimPrefix(g.base, "http://") {
			t.Error("metrics served on the traffic port")
		}
		// Not on the traffic port.
		if r := g.do("GET", "/metrics", nil, nil); r.status != 404 {
			t.Errorf("/metrics on traffic port: %d", r.status)
		}
	}},
}

// TestReloadKeepsCounters checks a config reload neither resets rate-limit
// counters nor disturbs serving, and an invalid config leaves the old one.
func TestReloadKeepsCounters(t *testing.T) {
	ups := startUpstreams(t)
	g := startNode(t, ups, "nethttp", "trie")
	tok := g.token("reload_user", nil, 5*time.Minute)
	h := map[string]string{"Authorization": "Bearer " + tok}
	for i := 0; i < 60; i++ {
		if r := g.do("GET", "/api/v2/users/me", h, nil); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	cfg := testConfig(t, ups)
	if err := g.n.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if v := g.n.Gateway.Snapshot().Version; v != 2 {
		t.Errorf("version after reload = %d", v)
	}
	r := g.do("GET", "/api/v2/users/me", h, nil)
	if got := r.header.Get("X-RateLimit-Remaining"); got != "39" {
		t.Errorf("remaining after reload = %q; want 39 (counters kept)", got)
	}
	// A stale version is refused and the served one stays.
	cfg.Version = 1
	if err := g.n.Apply(cfg); err == nil {
		t.Error("stale version accepted")
	}
	if v := g.n.Gateway.Snapshot().Version; v != 2 {
		t.Errorf("version after stale reload = %d", v)
	}
}

// inOneMinuteWindow returns when at least need is left before the next
// minute boundary. The sliding window's fixed windows start on the minute:
// a burst that straddles a boundary is spread over two windows and its
// 101st request is rightly admitted, so a test of the limit starts its
// burst well inside one window.
func inOneMinuteWindow(need time.Duration) {
	if left := time.Minute - time.Duration(time.Now().UnixNano()%int64(time.Minute)); left < need {
		time.Sleep(left + 100*time.Millisecond)
	}
}
