package node_test

// The gateway suite: every case runs against every server engine x router
// engine combination, through real `gatelab upstream` processes over
// loopback. Engines are taken from the registry, so a new engine is covered
// without touching this file.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
		config.Route{ID: "small-body", Pattern: "/test/upload/*", Methods: policy.Methods{policy.MethodPost}, Backend: "user-service", Auth: config.AuthNone, MaxBodyBytes: 1024},
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

func closedAddr(t *testing.T) string {
	// A socket bound to a port but not listening: connections to it are
	// refused, and the port stays reserved for the test's lifetime. (A
	// listener opened and closed gives the port back to the kernel, which
	// may hand it to another node's listener: then the "dead" route proxies
	// into a gateway, once into itself in a loop.)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
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
	{"valid token reaches upstream with identity and without credentials", func(t *testing.T, g *gw) {
		tok := g.token("user_789", []string{"users:read", "orders:write"}, 5*time.Minute)
		r := g.do("GET", "/api/v2/users/me?x=1", map[string]string{"Authorization": "Bearer " + tok, "Idempotency-Key": "idem-1"}, nil)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		e := r.echo(t)
		if e.Name != "user-service" || e.Path != "/users/me" || e.Query != "x=1" {
			t.Errorf("routed to %s path %s query %q; want user-service /users/me x=1", e.Name, e.Path, e.Query)
		}
		if got := e.header("X-User-ID"); len(got) != 1 || got[0] != "user_789" {
			t.Errorf("X-User-ID upstream = %v", got)
		}
		if got := e.header("X-User-Scopes"); len(got) != 1 || got[0] != "users:read orders:write" {
			t.Errorf("X-User-Scopes upstream = %v", got)
		}
		if got := e.header("Authorization"); len(got) != 0 {
			t.Errorf("Authorization forwarded: %v", got)
		}
		if got := e.header("Idempotency-Key"); len(got) != 1 || got[0] != "idem-1" {
			t.Errorf("Idempotency-Key upstream = %v", got)
		}
		if got := e.header("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %v", got)
		}
		if got := e.header("X-Forwarded-Proto"); len(got) != 1 || got[0] != "http" {
			t.Errorf("X-Forwarded-Proto = %v", got)
		}
		if got := e.header("X-Forwarded-Host"); len(got) != 1 || got[0] != strings.TrimPrefix(g.base, "http://") {
			t.Errorf("X-Forwarded-Host = %v", got)
		}
		rid := r.header.Get("X-Request-ID")
		if len(rid) != 36 {
			t.Errorf("generated X-Request-ID = %q", rid)
		}
		if got := e.header("X-Request-ID"); len(got) != 1 || got[0] != rid {
			t.Errorf("upstream X-Request-ID %v, response %q", got, rid)
		}
		if tp := e.header("traceparent"); len(tp) != 1 || len(tp[0]) != 55 || !strings.HasPrefix(tp[0], "00-") {
			t.Errorf("traceparent upstream = %v", tp)
		}
		if r.header.Get("X-Response-Time-Ms") == "" {
			t.Error("no X-Response-Time-Ms")
		}
		for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy", "RateLimit"} {
			if r.header.Get(h) == "" {
				t.Errorf("no %s on a limited route", h)
			}
		}
		if got := r.header.Get("RateLimit-Policy"); got != `"standard";q=100;w=60` {
			t.Errorf("RateLimit-Policy = %q", got)
		}
	}},
	{"client request id kept and trace continued", func(t *testing.T, g *gw) {
		tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		r := g.do("GET", "/test/open/x", map[string]string{"X-Request-ID": "client-req-42", "traceparent": tp}, nil)
		e := r.echo(t)
		if r.header.Get("X-Request-ID") != "client-req-42" || e.header("X-Request-ID")[0] != "client-req-42" {
			t.Errorf("request id not kept: response %q upstream %v", r.header.Get("X-Request-ID"), e.header("X-Request-ID"))
		}
		got := e.header("traceparent")
		if len(got) != 1 || !strings.HasPrefix(got[0], "00-4bf92f3577b34da6a3ce929d0e0e4736-") || strings.Contains(got[0], "00f067aa0ba902b7") {
			t.Errorf("traceparent = %v; want same trace id, new parent id", got)
		}
		// A malformed request id is replaced, not echoed.
		r = g.do("GET", "/test/open/x", map[string]string{"X-Request-ID": "bad id\twith spaces"}, nil)
		if rid := r.header.Get("X-Request-ID"); len(rid) != 36 {
			t.Errorf("bad client id not replaced: %q", rid)
		}
	}},
	{"expired token 401 with WWW-Authenticate and JSON error", func(t *testing.T, g *gw) {
		tok := g.token("user_789", nil, -5*time.Minute)
		r := g.do("GET", "/api/v2/users/me", map[string]string{"Authorization": "Bearer " + tok}, nil)
		if r.status != 401 {
			t.Fatalf("status %d", r.status)
		}
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
		}
		m := r.json(t)
		if m["error"] == "" || m["request_id"] != r.header.Get("X-Request-ID") {
			t.Errorf("error body %v", m)
		}
	}},
	{"missing and garbage credentials 401", func(t *testing.T, g *gw) {
		for _, h := range []map[string]string{nil, {"Authorization": "Bearer not.a.jwt"}, {"Authorization": "Basic dXNlcjpwYXNz"}} {
			if r := g.do("GET", "/api/v2/users/me", h, nil); r.status != 401 {
				t.Errorf("%v: status %d", h, r.status)
			}
		}
	}},
	{"spoofed identity headers never reach upstream", func(t *testing.T, g *gw) {
		tok := g.token("real_user", nil, 5*time.Minute)
		req, _ := http.NewRequest("GET", g.base+"/api/v2/users/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header["X-User-ID"] = []string{"admin_user", "admin2"}
		req.Header["x-user-id"] = []string{"admin3"}
		req.Header["X_User_ID"] = []string{"admin4"}
		req.Header["X-USER-SCOPES"] = []string{"admin"}
		req.Header["X-Partner-Id"] = []string{"evil"}
		e := send(t, req).echo(t)
		if got := e.header("X-User-ID"); len(got) != 1 || got[0] != "real_user" {
			t.Errorf("X-User-ID upstream = %v; want only real_user", got)
		}
		if got := e.header("X-User-Scopes"); len(got) != 0 {
			t.Errorf("X-User-Scopes upstream = %v; want none (token has no scopes)", got)
		}
		if got := e.header("X-Partner-ID"); len(got) != 0 {
			t.Errorf("X-Partner-ID upstream = %v", got)
		}
		// On a public route nothing identity-like passes either.
		req, _ = http.NewRequest("GET", g.base+"/test/open/x", nil)
		req.Header["X-User-Id"] = []string{"admin_user"}
		req.Header["X_USER_ID"] = []string{"admin_user"}
		e = send(t, req).echo(t)
		if got := e.header("X-User-ID"); len(got) != 0 {
			t.Errorf("X-User-ID on public route = %v", got)
		}
	}},
	{"missing scope 403", func(t *testing.T, g *gw) {
		tok := g.token("user_789", []string{"users:read"}, 5*time.Minute)
		r := g.do("GET", "/api/v2/admin/stats", map[string]string{"Authorization": "Bearer " + tok}, nil)
		if r.status != 403 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if r.json(t)["error"] == nil {
			t.Error("no error in body")
		}
		tok = g.token("admin_1", []string{"admin"}, 5*time.Minute)
		if r := g.do("GET", "/api/v2/admin/stats", map[string]string{"Authorization": "Bearer " + tok}, nil); r.status != 200 {
			t.Errorf("with admin scope: status %d", r.status)
		}
	}},
	{"101st request in a minute on the standard tier is 429 with Retry-After", func(t *testing.T, g *gw) {
		tok := g.token("burst_user", nil, 5*time.Minute)
		h := map[string]string{"Authorization": "Bearer " + tok}
		inOneMinuteWindow(10 * time.Second)
		for i := 1; i <= 100; i++ {
			r := g.do("GET", "/api/v2/users/me", h, nil)
			if r.status != 200 {
				t.Fatalf("request %d: status %d", i, r.status)
			}
		}
		r := g.do("GET", "/api/v2/users/me", h, nil)
		if r.status != 429 {
			t.Fatalf("101st: status %d", r.status)
		}
		if r.header.Get("Retry-After") == "" || r.header.Get("X-RateLimit-Remaining") != "0" {
			t.Errorf("429 headers: Retry-After %q Remaining %q", r.header.Get("Retry-After"), r.header.Get("X-RateLimit-Remaining"))
		}
		if m := r.json(t); m["error"] != "rate_limit_exceeded" {
			t.Errorf("body %v", m)
		}
		// Another user is unaffected.
		if r := g.do("GET", "/api/v2/users/me", map[string]string{"Authorization": "Bearer " + g.token("other_user", nil, time.Minute)}, nil); r.status != 200 {
			t.Errorf("other user: %d", r.status)
		}
	}},
	{"404 and 405 with Allow", func(t *testing.T, g *gw) {
		if r := g.do("GET", "/nope", nil, nil); r.status != 404 || r.json(t)["error"] != "not_found" {
			t.Errorf("404: %d %s", r.status, r.body)
		}
		r := g.do("DELETE", "/api/v2/users/me", nil, nil)
		if r.status != 405 || r.header.Get("Allow") != "GET, POST, PUT" {
			t.Errorf("405: %d Allow %q", r.status, r.header.Get("Allow"))
		}
	}},
	{"unsafe paths rejected with 400", func(t *testing.T, g *gw) {
		for _, p := range []string{"/api/v2/users/../admin/x", "/api/v2/users/%2e%2e/admin/x", "/api/v2/users/..%2fadmin", "/api//v2/users/me", "/api/v2/users/me\\..\\x", "/api/v2/%75sers/me", "/api/v2/users/./me"} {
			code, body := g.raw("GET " + p + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if code != 400 {
				t.Errorf("%s: status %d %s", p, code, body)
			}
		}
	}},
	{"hop-by-hop headers removed both ways", func(t *testing.T, g *gw) {
		// Raw bytes: Go's client rewrites the Connection header it is given.
		code, body := g.raw("GET /test/open/x HTTP/1.1\r\nHost: x\r\nConnection: X-Secret-Hop, close\r\nX-Secret-Hop: 1\r\n" +
			"Keep-Alive: timeout=5\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nX-Keep-Me: yes\r\n\r\n")
		if code != 200 {
			t.Fatalf("status %d %s", code, body)
		}
		e := resp{status: code, body: []byte(body)}.echo(t)
		for _, h := range []string{"X-Secret-Hop", "Keep-Alive", "Proxy-Authorization"} {
			if got := e.header(h); len(got) != 0 {
				t.Errorf("%s forwarded: %v (upstream saw %v)", h, got, e.Headers)
			}
		}
		if got := e.header("X-Keep-Me"); len(got) != 1 {
			t.Errorf("end-to-end header dropped: %v", got)
		}
		r := g.do("GET", "/test/open/x", map[string]string{"X-Upstream-Header": "Keep-Alive: timeout=99"}, nil)
		if r.header.Get("Keep-Alive") != "" {
			t.Errorf("upstream Keep-Alive passed to client: %q", r.header.Get("Keep-Alive"))
		}
	}},
	{"upstream timeout 504 and refused 502", func(t *testing.T, g *gw) {
		r := g.do("GET", "/test/slow/x", map[string]string{"X-Upstream-Delay": "3s"}, nil)
		if r.status != 504 || r.json(t)["error"] != "upstream_timeout" {
			t.Errorf("slow: %d %s", r.status, r.body)
		}
		r = g.do("GET", "/test/dead/x", nil, nil)
		if r.status != 502 || r.json(t)["error"] != "upstream_unavailable" {
			t.Errorf("dead: %d %s; backend %+v", r.status, r.body, g.n.Gateway.Snapshot().Backends["dead-service"].R.Status())
		}
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
	{"slow-loris: incomplete headers are cut off", func(t *testing.T, g *gw) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /test/open/x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		// The server must close (or answer and close) on its own within the
		// header timeout (1 s in this config); the read returns when it does.
		conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		start := time.Now()
		_, err = io.ReadAll(conn)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %s of incomplete headers", time.Since(start))
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
	{"upstream status and body pass through", func(t *testing.T, g *gw) {
		r := g.do("GET", "/test/open/x", map[string]string{"X-Upstream-Status": "418", "X-Upstream-Body-Bytes": "100000"}, nil)
		if r.status != 418 || !bytes.Equal(r.body, upstream.Payload(100000)) {
			t.Errorf("status %d body %d bytes (intact: %v)", r.status, len(r.body), bytes.Equal(r.body, upstream.Payload(100000)))
		}
		// A large response streams through intact, several times on the
		// same keep-alive pools.
		for i := 0; i < 3; i++ {
			r = g.do("GET", "/test/open/big", map[string]string{"X-Upstream-Body-Bytes": "8388608"}, nil)
			if r.status != 200 || !bytes.Equal(r.body, upstream.Payload(8<<20)) {
				t.Fatalf("8 MiB response: status %d, %d bytes", r.status, len(r.body))
			}
		}
	}},
	{"body limits: 413 by Content-Length and when streaming; large bodies stream through", func(t *testing.T, g *gw) {
		r := g.do("POST", "/test/upload/x", nil, bytes.NewReader(make([]byte, 2048)))
		if r.status != 413 {
			t.Errorf("content-length over limit: %d", r.status)
		}
		r = g.do("POST", "/test/upload/x", nil, bytes.NewReader(make([]byte, 1000)))
		if r.status != 200 || r.echo(t).BodyBytes != 1000 {
			t.Errorf("under limit: %d %s", r.status, r.body)
		}
		// 1 MiB, above the 64 KiB buffer, forwarded intact.
		r = g.do("POST", "/test/big/x", nil, bytes.NewReader(make([]byte, 1<<20)))
		if r.status != 200 || r.echo(t).BodyBytes != 1<<20 {
			t.Errorf("1 MiB body: %d %s", r.status, r.body)
		}
		// Chunked (no Content-Length) over the limit.
		code, _ := g.raw("POST /test/upload/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
			"800\r\n" + strings.Repeat("a", 0x800) + "\r\n0\r\n\r\n")
		if code != 413 {
			t.Errorf("chunked over limit: %d", code)
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
	{"API keys: valid, revoked, expired, missing", func(t *testing.T, g *gw) {
		r := g.do("GET", "/api/v2/products/shoes", map[string]string{"X-API-Key": "glk_test_partner42"}, nil)
		if r.status != 200 {
			t.Fatalf("valid key: %d %s", r.status, r.body)
		}
		e := r.echo(t)
		if got := e.header("X-Partner-ID"); len(got) != 1 || got[0] != "partner_42" {
			t.Errorf("X-Partner-ID = %v", got)
		}
		if got := e.header("X-API-Key"); len(got) != 0 {
			t.Errorf("API key forwarded: %v", got)
		}
		if r.header.Get("RateLimit-Policy") != `"third_party";q=50;w=60` {
			t.Errorf("RateLimit-Policy = %q", r.header.Get("RateLimit-Policy"))
		}
		for _, k := range []string{"glk_test_revoked", "glk_test_expired", "glk_unknown"} {
			if r := g.do("GET", "/api/v2/products/shoes", map[string]string{"X-API-Key": k}, nil); r.status != 401 {
				t.Errorf("%s: %d", k, r.status)
			}
		}
		if r := g.do("GET", "/api/v2/products/shoes", nil, nil); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("missing key: %d %q", r.status, r.header.Get("WWW-Authenticate"))
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
