package node_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/policy"
	"github.com/gatelab/gatelab/internal/upstream"
)

// Load shedding end to end: with requests held in flight on a slow
// upstream, a P3 route is shed (503 overloaded, Retry-After, answered at
// once) while a P0 route on the same node is still served; once the load is
// gone the P3 route is served again. Both server engines.
func TestLoadShedding(t *testing.T) {
	ups := startUpstreams(t)
	for _, server := range []string{"nethttp", "fasthttp"} {
		t.Run(server, func(t *testing.T) {
			cfg := testConfig(t, ups)
			cfg.Shedding = config.Shedding{MaxInFlight: 10, P1: 0.9, P2: 0.75, P3: 0.6}
			cfg.Routes = append(cfg.Routes,
				config.Route{ID: "critical", Pattern: "/test/critical/*", Backend: "user-service", Auth: config.AuthNone, Priority: policy.P0},
				config.Route{ID: "analytics", Pattern: "/test/analytics/*", Backend: "user-service", Auth: config.AuthNone, Priority: policy.P3},
			)
			cfg.ApplyDefaults()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			g := startConfigured(t, cfg, server)

			// Before the load: both served.
			for _, p := range []string{"/test/critical/a", "/test/analytics/a"} {
				if r := g.do("GET", p, nil, nil); r.status != 200 {
					t.Fatalf("%s before load: %d", p, r.status)
				}
			}
			// Hold 8 requests in flight on the P0 route (the upstream waits
			// 3 s): above P3's threshold (6 of 10), below P1's.
			var held sync.WaitGroup
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for range 8 {
				held.Add(1)
				go func() {
					defer held.Done()
					req, _ := http.NewRequestWithContext(ctx, "GET", g.base+"/test/critical/held", nil)
					req.Header.Set(upstream.HeaderDelay, "3s")
					if res, err := client.Do(req); err == nil {
						res.Body.Close()
					}
				}()
			}
			waitFor(t, 5*time.Second, func() bool { return g.n.Gateway.InFlight() >= 8 }, "8 requests in flight")

			start := time.Now()
			r := g.do("GET", "/test/analytics/b", nil, nil)
			took := time.Since(start)
			if r.status != 503 || r.json(t)["error"] != "overloaded" || r.header.Get("Retry-After") == "" {
				t.Errorf("P3 under load: %d %q Retry-After %q, want 503 overloaded", r.status, r.body, r.header.Get("Retry-After"))
			}
			if took > time.Second {
				t.Errorf("the shed answer took %v: it must not wait for the load", took)
			}
			if r := g.do("GET", "/test/critical/b", nil, nil); r.status != 200 {
				t.Errorf("P0 under load: %d, want 200 (P0 is never shed)", r.status)
			}
			t.Logf("%s: shed P3 in %v with %d in flight", server, took, g.n.Gateway.InFlight())

			cancel()
			held.Wait()
			waitFor(t, 5*time.Second, func() bool { return g.n.Gateway.InFlight() == 0 }, "load gone")
			if r := g.do("GET", "/test/analytics/c", nil, nil); r.status != 200 {
				t.Errorf("P3 after the load: %d, want 200", r.status)
			}
		})
	}
}
