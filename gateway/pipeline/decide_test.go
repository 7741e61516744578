package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/auth"
	"github.com/gatelab/gatelab/gateway/auth/authtest"
	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/observe"
)

func durationNS(n int64) time.Duration { return time.Duration(n) }

// mapRouter is a minimal exact/prefix router for testing decide in isolation
// (the router engines have their own behaviour table; this only has to be
// right for the patterns used below).
type mapRouter struct{ specs []RouteSpec }

func (m mapRouter) Match(meth Method, path string) Match {
	var allow MethodSet
	best, bestLen := -1, -1
	for _, s := range m.specs {
		base, prefix := strings.CutSuffix(s.Pattern, "/*")
		ok := path == s.Pattern || (prefix && (path == base || strings.HasPrefix(path, base+"/")))
		if !ok {
			continue
		}
		l := len(base)
		if !prefix {
			l = 1 << 30
		}
		if !s.Methods.Has(meth) {
			allow |= s.Methods
			continue
		}
		if l > bestLen {
			best, bestLen = s.Index, l
		}
	}
	switch {
	case best >= 0:
		return Match{Route: best, Status: Found}
	case allow != 0:
		return Match{Status: MethodNotAllowed, Allow: allow}
	}
	return Match{Status: NotFound}
}

// scriptedLimiter answers from a function, so fail modes can be tested.
type scriptedLimiter struct {
	fn   func(key string, p Policy) (LimitDecision, error)
	keys []string
	last Policy
}

func (s *scriptedLimiter) Allow(_ context.Context, key string, p Policy) (LimitDecision, error) {
	s.keys = append(s.keys, strings.Clone(key))
	s.last = p
	return s.fn(key, p)
}

const testYAML = `
auth:
  jwt:
    jwks_file: %s
    issuers: ["https://issuer.gatelab.test"]
    audiences: ["gatelab"]
  api_keys:
    - id: k1
      sha256: %s
      partner_id: partner_9
      tier: partner
      scopes: [read]
rate_limits:
  tiers:
    - {name: standard, limit: 100, window: 60s, key: user_id}
    - {name: partner, limit: 7, window: 60s, key: api_key}
    - {name: ip, limit: 30, window: 60s, key: client_ip}
backends:
  - name: svc
    instances: [{url: "http://127.0.0.1:9"}]
routes:
  - {id: users, pattern: /api/v2/users/*, methods: [GET, POST], backend: svc, strip_prefix: /api/v2, rate_limit_tier: standard}
  - {id: pay, pattern: /api/v2/pay/*, methods: [POST], backend: svc, rate_limit_tier: standard, rate_limit_fail_mode: closed, rate_limit_deadline_ms: 20}
  - {id: admin, pattern: /api/v2/admin/*, backend: svc, required_scopes: [admin]}
  - {id: partner, pattern: /api/v2/products/*, methods: [GET], backend: svc, auth: api_key, rate_limit_tier: standard}
  - {id: health, pattern: /api/v2/health, methods: [GET], backend: self, auth: none, rate_limit_tier: ip}
`

type fixture struct {
	g   *Gateway
	lim *scriptedLimiter
	tok func(sub string, scopes ...string) string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	keys, _ := filepath.Abs("../../fixtures/keys")
	y := fmt.Sprintf(testYAML, filepath.Join(keys, "jwks.json"), auth.HashAPIKey("raw-partner-key"))
	cfg, err := config.Parse([]byte(y), "test.yaml", ".")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	lim := &scriptedLimiter{fn: func(_ string, p Policy) (LimitDecision, error) {
		return LimitDecision{Allowed: true, Limit: p.Limit, Remaining: p.Limit - 1, Reset: time.Now().Add(time.Minute)}, nil
	}}
	g, err := New(cfg, Options{
		RouterFactory: func(specs []RouteSpec) (Router, error) { return mapRouter{specs}, nil },
		Limiter:       lim,
		Metrics:       observe.NewMetrics(),
	})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	t.Cleanup(g.Close)
	return &fixture{g: g, lim: lim, tok: func(sub string, scopes ...string) string {
		tok, err := authtest.Mint(authtest.Options{Subject: sub, Scopes: scopes, TTL: time.Hour, Issuer: authtest.Issuer,
			Audience: []string{authtest.Audience}, Kid: "rsa-1", KeyFile: filepath.Join(keys, "rsa.pem")})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}}
}

func (f *fixture) decide(req Request) (*Decision, []Header) {
	if req.MethodText == "" {
		req.MethodText = "GET"
		req.Method = MethodGet
	}
	if req.ClientIP == "" {
		req.ClientIP = "192.0.2.7"
	}
	d := f.g.Acquire(time.Now())
	f.g.Decide(context.Background(), &req, d)
	return d, f.g.ResponseHeaders(d, &req, time.Now())
}

func header(hs []Header, k string) string {
	for _, h := range hs {
		if h.Key == k {
			return h.Value
		}
	}
	return ""
}

func TestDecide(t *testing.T) {
	f := newFixture(t)
	bearer := "Bearer " + f.tok("u1", "read")
	cases := []struct {
		name   string
		req    Request
		status int
		code   string
		check  func(t *testing.T, d *Decision, hs []Header)
	}{
		{"forward with stripped prefix", Request{RawPath: "/api/v2/users/me", Authorization: bearer}, 0, "", func(t *testing.T, d *Decision, hs []Header) {
			if d.UpstreamPath != "/users/me" || d.Target == nil || d.Target.Host != "127.0.0.1:9" {
				t.Errorf("upstream %q target %+v", d.UpstreamPath, d.Target)
			}
			if d.Identity.Subject != "u1" || d.Identity.ScopesHeader != "read" {
				t.Errorf("identity %+v", d.Identity)
			}
			if header(hs, "RateLimit-Policy") != `"standard";q=100;w=60` || header(hs, "X-RateLimit-Remaining") != "99" {
				t.Errorf("rate headers %v", hs)
			}
		}},
		{"non-canonical path", Request{RawPath: "/api/v2/users/../admin/x", Authorization: bearer}, 400, CodeBadRequest, nil},
		{"encoded dot segment", Request{RawPath: "/api/v2/users/%2e%2e/admin", Authorization: bearer}, 400, CodeBadRequest, nil},
		{"no route", Request{RawPath: "/nope"}, 404, CodeNotFound, nil},
		{"method not allowed", Request{RawPath: "/api/v2/users/x", Method: MethodDelete, MethodText: "DELETE"}, 405, CodeMethodNotAllowed, func(t *testing.T, d *Decision, hs []Header) {
			if header(hs, "Allow") != "GET, POST" {
				t.Errorf("Allow %q", header(hs, "Allow"))
			}
		}},
		{"missing token", Request{RawPath: "/api/v2/users/me"}, 401, auth.CodeMissingCredentials, func(t *testing.T, d *Decision, hs []Header) {
			if !strings.HasPrefix(header(hs, "WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", header(hs, "WWW-Authenticate"))
			}
		}},
		{"garbage token", Request{RawPath: "/api/v2/users/me", Authorization: "Bearer abc.def.ghi"}, 401, "", nil},
		{"missing scope", Request{RawPath: "/api/v2/admin/x", Authorization: bearer}, 403, CodeForbidden, nil},
		{"scope present", Request{RawPath: "/api/v2/admin/x", Authorization: "Bearer " + f.tok("root", "admin")}, 0, "", nil},
		{"body over limit by content-length", Request{RawPath: "/api/v2/users/me", Authorization: bearer, ContentLength: 11 << 20}, 413, CodePayloadTooLarge, nil},
		{"api key uses its own tier and hash key", Request{RawPath: "/api/v2/products/x", APIKey: "raw-partner-key"}, 0, "", func(t *testing.T, d *Decision, hs []Header) {
			if header(hs, "RateLimit-Policy") != `"partner";q=7;w=60` {
				t.Errorf("policy %q", header(hs, "RateLimit-Policy"))
			}
			last := f.lim.keys[len(f.lim.keys)-1]
			if strings.Contains(last, "raw-partner-key") || !strings.Contains(last, auth.HashAPIKey("raw-partner-key")) {
				t.Errorf("limiter key %q must hold the key hash, never the key", last)
			}
		}},
		{"self health", Request{RawPath: "/api/v2/health"}, 200, "", func(t *testing.T, d *Decision, hs []Header) {
			if string(d.Body()) != `{"status":"ok"}` {
				t.Errorf("body %s", d.Body())
			}
			last := f.lim.keys[len(f.lim.keys)-1]
			if last != "ip:client_ip:192.0.2.7" {
				t.Errorf("limiter key %q", last)
			}
		}},
		{"client request id kept", Request{RawPath: "/api/v2/health", RequestID: "abc-123"}, 200, "", func(t *testing.T, d *Decision, hs []Header) {
			if header(hs, "X-Request-ID") != "abc-123" {
				t.Errorf("request id %q", header(hs, "X-Request-ID"))
			}
		}},
		{"bad client request id replaced", Request{RawPath: "/api/v2/health", RequestID: "a b\r\nX-Evil: 1"}, 200, "", func(t *testing.T, d *Decision, hs []Header) {
			if len(d.RequestID) != 36 || strings.ContainsAny(d.RequestID, " \r\n") {
				t.Errorf("request id %q", d.RequestID)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, hs := f.decide(c.req)
			defer f.g.Release(d)
			if d.Status != c.status {
				t.Fatalf("status %d (%s), want %d", d.Status, d.Code, c.status)
			}
			if c.code != "" && d.Code != c.code {
				t.Errorf("code %q, want %q", d.Code, c.code)
			}
			if d.Status >= 400 {
				body := string(d.Body())
				if !strings.Contains(body, `"error":"`+d.Code+`"`) || !strings.Contains(body, `"request_id":"`+d.RequestID+`"`) {
					t.Errorf("error body %s", body)
				}
			}
			if c.check != nil {
				c.check(t, d, hs)
			}
		})
	}
}

func TestDecideLimiterFailModes(t *testing.T) {
	f := newFixture(t)
	bearer := "Bearer " + f.tok("u1")
	f.lim.fn = func(string, Policy) (LimitDecision, error) {
		return LimitDecision{}, fmt.Errorf("store down: %w", ErrNoDecision)
	}
	// fail_open (default): forwarded, no RateLimit headers, counted as no decision.
	d, hs := f.decide(Request{RawPath: "/api/v2/users/me", Authorization: bearer})
	if d.Status != 0 || !d.NoDecision {
		t.Errorf("fail open: status %d NoDecision %v", d.Status, d.NoDecision)
	}
	if f.lim.last.Deadline != 5*time.Millisecond {
		t.Errorf("default limiter deadline %v, want 5ms", f.lim.last.Deadline)
	}
	for _, h := range hs {
		if strings.Contains(h.Key, "RateLimit") {
			t.Errorf("fail open sent %s", h.Key)
		}
	}
	f.g.Release(d)
	// fail_closed: 503 with Retry-After, never forwarded.
	d, hs = f.decide(Request{RawPath: "/api/v2/pay/x", Method: MethodPost, MethodText: "POST", Authorization: bearer})
	if f.lim.last.Deadline != 20*time.Millisecond {
		t.Errorf("route limiter deadline %v, want 20ms", f.lim.last.Deadline)
	}
	if d.Status != 503 || d.Code != CodeRateLimitDown || d.Target != nil || header(hs, "Retry-After") == "" {
		t.Errorf("fail closed: status %d code %s target %v Retry-After %q", d.Status, d.Code, d.Target, header(hs, "Retry-After"))
	}
	f.g.Release(d)
	// Limited: 429 with Retry-After in whole seconds, never earlier than the
	// reset (30 s here, though the engine's own RetryAfter says 2.5 s).
	f.lim.fn = func(_ string, p Policy) (LimitDecision, error) {
		return LimitDecision{Allowed: false, Limit: p.Limit, Remaining: 0, Reset: time.Now().Add(30 * time.Second), RetryAfter: 2500 * time.Millisecond}, nil
	}
	d, hs = f.decide(Request{RawPath: "/api/v2/users/me", Authorization: bearer})
	ra := header(hs, "Retry-After")
	if d.Status != 429 || (ra != "30" && ra != "31") || !strings.Contains(string(d.Body()), `"retry_after":`+ra) {
		t.Errorf("limited: %d Retry-After %q body %s", d.Status, header(hs, "Retry-After"), d.Body())
	}
	if rl := header(hs, "RateLimit"); !strings.HasPrefix(rl, `"standard";r=0;t=`) {
		t.Errorf("RateLimit %q", rl)
	}
	f.g.Release(d)
	// Reset later than RetryAfter: Retry-After follows t, never earlier.
	f.lim.fn = func(_ string, p Policy) (LimitDecision, error) {
		return LimitDecision{Allowed: false, Limit: p.Limit, Reset: time.Now().Add(40 * time.Second), RetryAfter: 2 * time.Second}, nil
	}
	d, hs = f.decide(Request{RawPath: "/api/v2/users/me", Authorization: bearer})
	if ra := header(hs, "Retry-After"); ra != "40" && ra != "41" { // whole seconds of two clock reads
		t.Errorf("Retry-After %q, want 40", ra)
	}
	f.g.Release(d)
	// A rejection whose reset is sooner than RetryAfter (GCRA) keeps RetryAfter.
	f.lim.fn = func(_ string, p Policy) (LimitDecision, error) {
		return LimitDecision{Allowed: false, Limit: p.Limit, Reset: time.Now().Add(time.Second), RetryAfter: 7 * time.Second}, nil
	}
	d, hs = f.decide(Request{RawPath: "/api/v2/users/me", Authorization: bearer})
	rl := header(hs, "RateLimit")
	tval := rl[strings.LastIndex(rl, "t=")+2:]
	if header(hs, "Retry-After") != "7" || tval != "7" {
		t.Errorf("Retry-After %q, RateLimit %q: want both 7", header(hs, "Retry-After"), rl)
	}
	f.g.Release(d)
	f.g.Release(d)
}

func TestDecideKeyStoreUnavailable(t *testing.T) {
	// A JWKS URL nobody serves: no key can be loaded, so every token gets 503
	// (never 200, and not 401 which would blame the client).
	keys, _ := filepath.Abs("../../fixtures/keys")
	y := strings.Replace(fmt.Sprintf(testYAML, filepath.Join(keys, "jwks.json"), auth.HashAPIKey("x")),
		"jwks_file: "+filepath.Join(keys, "jwks.json"), "jwks_url: http://127.0.0.1:1/jwks.json", 1)
	cfg, err := config.Parse([]byte(y), "test.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{RouterFactory: func(s []RouteSpec) (Router, error) { return mapRouter{s}, nil },
		Limiter: &scriptedLimiter{fn: func(string, Policy) (LimitDecision, error) { return LimitDecision{Allowed: true}, nil }},
		Metrics: observe.NewMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	f := &fixture{g: g}
	tok, _ := authtest.Mint(authtest.Options{Subject: "u", TTL: time.Hour, Issuer: authtest.Issuer,
		Audience: []string{authtest.Audience}, Kid: "rsa-1", KeyFile: filepath.Join(keys, "rsa.pem")})
	d, _ := f.decide(Request{RawPath: "/api/v2/users/me", Authorization: "Bearer " + tok})
	defer g.Release(d)
	if d.Status != 503 || d.Target != nil {
		t.Fatalf("status %d target %v; want 503 and no forward", d.Status, d.Target)
	}
	if d.Code != auth.Code(auth.ErrKeyStoreUnavailable) {
		t.Errorf("code %q", d.Code)
	}
}

// Load shedding by priority: with the node's in-flight count above a
// route's threshold its requests get 503 overloaded with Retry-After,
// cheapest first (no limiter call); P0 routes are never shed.
func TestShedByPriority(t *testing.T) {
	keys, _ := filepath.Abs("../../fixtures/keys")
	y := fmt.Sprintf(testYAML, filepath.Join(keys, "jwks.json"), auth.HashAPIKey("raw-partner-key")) + `
  - {id: p0, pattern: /p0, backend: svc, auth: none, priority: P0, rate_limit_tier: ip}
  - {id: p1, pattern: /p1, backend: svc, auth: none, priority: P1, rate_limit_tier: ip}
  - {id: p3, pattern: /p3, backend: svc, auth: none, priority: P3, rate_limit_tier: ip}
shedding: {max_in_flight: 10, p1: 0.9, p2: 0.75, p3: 0.6}
`
	cfg, err := config.Parse([]byte(y), "test.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	lim := &scriptedLimiter{fn: func(_ string, p Policy) (LimitDecision, error) {
		return LimitDecision{Allowed: true, Limit: p.Limit, Remaining: 1, Reset: time.Now().Add(time.Minute)}, nil
	}}
	g, err := New(cfg, Options{RouterFactory: func(specs []RouteSpec) (Router, error) { return mapRouter{specs}, nil }, Limiter: lim, Metrics: observe.NewMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	// Hold n requests in flight, then decide one more on each route.
	statusAt := func(held int, path string) (int, *Decision) {
		var hold []*Decision
		for range held {
			hold = append(hold, g.Acquire(time.Now()))
		}
		defer func() {
			for _, d := range hold {
				g.Release(d)
			}
		}()
		d := g.Acquire(time.Now())
		g.Decide(context.Background(), &Request{Method: MethodGet, MethodText: "GET", RawPath: path, ClientIP: "192.0.2.1"}, d)
		st := d.Status
		if st == 503 && (d.Code != CodeOverloaded || d.RetryAfter < 1) {
			t.Errorf("%s: 503 code %q Retry-After %d", path, d.Code, d.RetryAfter)
		}
		g.Release(d)
		return st, d
	}
	// Thresholds with max 10: P3 above 6 in flight, P1 above 9, P0 never.
	for _, c := range []struct {
		held   int
		path   string
		status int
	}{
		{5, "/p3", 0}, {6, "/p3", 503}, {6, "/p1", 0}, {8, "/p1", 0}, {9, "/p1", 503}, {500, "/p0", 0},
	} {
		before := len(lim.keys)
		if st, _ := statusAt(c.held, c.path); st != c.status {
			t.Errorf("%d held in flight, %s: status %d, want %d", c.held, c.path, st, c.status)
		}
		if c.status == 503 && len(lim.keys) != before {
			t.Errorf("%s shed after a limiter call; shedding must come first", c.path)
		}
	}
	if g.InFlight() != 0 {
		t.Errorf("in flight %d after every Release", g.InFlight())
	}
}
