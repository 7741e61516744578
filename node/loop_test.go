package node_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

// A backend that points back at the gateway is a routing loop: the request
// comes back with the gateway's own Via entry and is refused with 508 at
// once, after one extra hop, instead of circling until the bulkhead
// refuses. Requests to real backends carry the gateway's Via entry. Both
// server engines.
func TestRoutingLoopDetected(t *testing.T) {
	ups := startUpstreams(t)
	for _, server := range []string{"nethttp", "fasthttp"} {
		t.Run(server, func(t *testing.T) {
			cfg := testConfig(t, ups)
			g := startConfigured(t, cfg, server)

			// Upstreams see "Via: <client's>, 1.1 gatelab-<id>".
			e := g.do("GET", "/test/open/x", map[string]string{"Via": "1.1 corp-proxy"}, nil).echo(t)
			via := e.header("Via")
			if len(via) != 1 || !strings.HasPrefix(via[0], "1.1 corp-proxy, 1.1 gatelab-") {
				t.Fatalf("Via upstream: %q", via)
			}

			// Point a backend at the gateway itself.
			nc := *cfg
			next := &nc
			next.Version = g.n.Version() + 1
			next.Backends = append(append([]config.Backend(nil), cfg.Backends...), config.Backend{Name: "myself",
				Instances: []config.Instance{{URL: g.base}}, HealthCheck: config.HealthCheck{Disabled: true}})
			next.Routes = append(append([]config.Route(nil), cfg.Routes...), config.Route{ID: "loop", Pattern: "/test/loop/*", Backend: "myself", Auth: config.AuthNone})
			next.ApplyDefaults()
			if err := next.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := g.n.Apply(next); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r := g.do("GET", "/test/loop/x", nil, nil)
			took := time.Since(start)
			// The inner hop answers 508; the outer one passes it back (a
			// 5xx from its upstream).
			if r.status != 508 || r.json(t)["error"] != "loop_detected" {
				t.Errorf("looping route: %d %s, want 508 loop_detected", r.status, r.body)
			}
			if took > 2*time.Second {
				t.Errorf("loop refused after %v", took)
			}
			waitFor(t, 5*time.Second, func() bool { return g.n.Gateway.InFlight() == 0 }, "nothing left in flight")
		})
	}
}
