package node_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/auth/authtest"
	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/observe"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// decideFixture builds a pipeline on the fixture config with the named
// router and the local limiter, and a request for the users route carrying a
// valid token. The tier limit is raised so the benchmark never hits 429.
func decideFixture(tb testing.TB, router string) (*pipeline.Gateway, *pipeline.Request) {
	tb.Helper()
	g := fixtureGateway(tb, router, nil)
	req := &pipeline.Request{
		Method: pipeline.MethodGet, MethodText: "GET", RawPath: "/api/v2/users/me", Query: "a=1",
		Host: "api.gatelab.test", ClientIP: "127.0.0.1", ContentLength: 0,
		Authorization: "Bearer " + fixtureToken(tb, "bench_user"), UserAgent: "bench",
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	return g, req
}

// fixtureGateway is a pipeline on the fixture config (changed by edit, if
// given) with the named router and the local limiter; tier limits are
// raised so nothing is ever rate limited.
func fixtureGateway(tb testing.TB, router string, edit func(*config.Config)) *pipeline.Gateway {
	tb.Helper()
	cfg, err := config.Load(filepath.Join(repoRootTB(tb), "fixtures", "gateway.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	for i := range cfg.RateLimit.Tiers {
		cfg.RateLimit.Tiers[i].Limit = 1 << 40
	}
	if edit != nil {
		edit(cfg)
	}
	rf, err := engines.NewRouterFactory(router)
	if err != nil {
		tb.Fatal(err)
	}
	lim, err := engines.NewLimiter("local", engines.LimiterOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	g, err := pipeline.New(cfg, pipeline.Options{RouterFactory: rf, Limiter: lim, Metrics: observe.NewMetrics()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Close)
	return g
}

// fixtureToken is a valid token for the users route, signed with the
// fixture key.
func fixtureToken(tb testing.TB, sub string) string {
	tb.Helper()
	tok, err := authtest.Mint(authtest.Options{Subject: sub, Scopes: []string{"users:read"}, TTL: time.Hour,
		Issuer: authtest.Issuer, Audience: []string{authtest.Audience}, Kid: "rsa-1",
		KeyFile: filepath.Join(repoRootTB(tb), "fixtures", "keys", "rsa.pem")})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func repoRootTB(tb testing.TB) string { return repoRoot(tb) }

// decideOnce is one request's pipeline work without the network: acquire,
// decide, response headers, release.
func decideOnce(g *pipeline.Gateway, req *pipeline.Request) int {
	d := g.Acquire(time.Now())
	g.Decide(context.Background(), req, d)
	st := d.Status
	g.ResponseHeaders(d, req, time.Now())
	g.Release(d)
	return st
}

// TestDecideAllocs enforces the decide path's allocation budget with a cached
// token and the local limiter: at most 2 per request (target 0-2).
func TestDecideAllocs(t *testing.T) {
	for _, router := range []string{"trie"} {
		g, req := decideFixture(t, router)
		if st := decideOnce(g, req); st != 0 {
			t.Fatalf("decide status %d, want forward", st)
		}
		allocs := testing.AllocsPerRun(1000, func() { decideOnce(g, req) })
		if allocs > 2 {
			t.Errorf("%s: decide path allocates %.1f per request; budget 2", router, allocs)
		}
	}
}

// BenchmarkDecide measures decide + response headers per router engine with a
// cached JWT and the local limiter (the forward path's policy cost).
func BenchmarkDecide(b *testing.B) {
	for _, router := range engines.Names(engines.KindRouter) {
		b.Run(router, func(b *testing.B) {
			g, req := decideFixture(b, router)
			if st := decideOnce(g, req); st != 0 {
				b.Fatalf("status %d", st)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				decideOnce(g, req)
			}
		})
	}
}

// benchExchange is an engine that forwards without I/O: it reads the
// request view, walks the header policy for a few inbound names and the
// upstream headers, and reports a 200 with the gateway's response headers.
type benchExchange struct {
	req  *pipeline.Request
	sink int
}

func (x *benchExchange) ReadRequest(req *pipeline.Request, _ *[64]byte) { *req = *x.req }

func (x *benchExchange) Answer(status int, headers []pipeline.Header, body []byte, close bool) {
	x.sink += status + len(headers) + len(body)
}

func (x *benchExchange) Forward(f *pipeline.Forward) pipeline.Forwarded {
	for _, h := range [...]string{"Accept", "User-Agent", "X-Real-IP", "Content-Type"} {
		if f.KeepHeader(h) {
			x.sink++
		}
	}
	x.sink += len(f.UpstreamHeaders())
	now := f.Now()
	x.sink += len(f.ResponseHeaders(now))
	return pipeline.Forwarded{Status: 200, HeadersAt: now}
}

// TestServeAllocs: the whole engine seam (Serve with a forwarding
// exchange) allocates nothing per request with a cached token and the
// local limiter.
func TestServeAllocs(t *testing.T) {
	g, req := decideFixture(t, "trie")
	x := &benchExchange{req: req}
	g.Serve(context.Background(), x)
	allocs := testing.AllocsPerRun(1000, func() { g.Serve(context.Background(), x) })
	if allocs > 0 {
		t.Errorf("Serve allocates %.1f per request; budget 0", allocs)
	}
}

// BenchmarkServe measures the pipeline's whole per-request work behind the
// engine seam (decide, header policy, response headers, record) per router.
func BenchmarkServe(b *testing.B) {
	for _, router := range engines.Names(engines.KindRouter) {
		b.Run(router, func(b *testing.B) {
			g, req := decideFixture(b, router)
			x := &benchExchange{req: req}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				g.Serve(context.Background(), x)
			}
		})
	}
}
