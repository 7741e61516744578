package node_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/policy"
)

// A client that hangs up in the middle of its request body is not the
// backend's failure: however many do it, the backend stays in rotation and
// its breaker closed (otherwise any caller could knock a healthy backend
// out). Both server engines.
func TestClientAbortsDoNotEjectBackend(t *testing.T) {
	ups := startUpstreams(t)
	for _, server := range []string{"nethttp", "fasthttp"} {
		t.Run(server, func(t *testing.T) {
			cfg := testConfig(t, ups)
			cfg.Routes = append(cfg.Routes, config.Route{ID: "upload", Pattern: "/test/victim/*", Methods: policy.Methods{policy.MethodPost},
				Backend: "order-service", Auth: config.AuthNone, MaxBodyBytes: 4 << 20})
			for i := range cfg.Backends {
				if cfg.Backends[i].Name == "order-service" {
					cfg.Backends[i].HealthCheck.PassiveFailures = 3
					cfg.Backends[i].CircuitBreaker.MinRequests = 5
				}
			}
			cfg.ApplyDefaults()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			g := startConfigured(t, cfg, server)
			chunk := strings.Repeat("x", 200<<10)
			const aborts = 12
			for i := range aborts {
				c, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(c, "POST /test/victim/%d HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n%s", i, chunk)
				c.Close()
			}
			waitFor(t, 10*time.Second, func() bool { return g.n.Gateway.InFlight() == 0 }, "aborted uploads finished")
			b := g.n.Gateway.Snapshot().Backends["order-service"].R
			if b.Healthy() != 1 || b.State().String() != "closed" {
				t.Errorf("after %d aborted uploads: %d healthy instances, breaker %s; want 1 and closed (%+v)", aborts, b.Healthy(), b.State(), b.Status())
			}
			if r := g.do("POST", "/test/victim/ok", nil, strings.NewReader("fine")); r.status != 200 {
				t.Errorf("a normal upload after the aborts: %d %s", r.status, r.body)
			}
			// The access log is written asynchronously: wait for the lines.
			waitFor(t, 5*time.Second, func() bool { return strings.Count(g.log.String(), "/test/victim/") >= aborts }, "access log lines")
			for _, line := range strings.Split(g.log.String(), "\n") {
				if strings.Contains(line, "/test/victim/") && !strings.Contains(line, "/test/victim/ok") && !strings.Contains(line, `"error_type":"client_body_error"`) {
					t.Errorf("aborted upload not logged as client_body_error: %s", line)
					break
				}
			}
		})
	}
}
