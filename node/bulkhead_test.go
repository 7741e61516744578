package node_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/internal/upstream"
)

// The bulkhead counts a request until its response body is delivered, not
// only until its headers: two clients that stop reading large responses
// hold a max_in_flight 2 backend full, a third request gets 503
// backend_busy at once, and when they go away the backend takes requests
// again. Both server engines (fasthttp streams bodies after its handler
// returns).
func TestBulkheadHoldsUntilBodyDelivered(t *testing.T) {
	ups := startUpstreams(t)
	for _, server := range []string{"nethttp", "fasthttp"} {
		t.Run(server, func(t *testing.T) {
			cfg := testConfig(t, ups)
			for i := range cfg.Backends {
				if cfg.Backends[i].Name == "product-service" {
					cfg.Backends[i].MaxInFlight = 2
				}
			}
			cfg.Routes = append(cfg.Routes, config.Route{ID: "big", Pattern: "/test/download/*", Backend: "product-service", Auth: config.AuthNone})
			cfg.ApplyDefaults()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			g := startConfigured(t, cfg, server)
			addr := strings.TrimPrefix(g.base, "http://")
			var held []net.Conn
			for i := range 2 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
				fmt.Fprintf(c, "GET /test/download/%d HTTP/1.1\r\nHost: x\r\n%s: %d\r\n\r\n", i, upstream.HeaderBodyBytes, 256<<20)
				res, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("download %d: %v %v", i, err, res)
				}
				// Read nothing more: the body backs up into the gateway.
			}
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			b := g.n.Gateway.Snapshot().Backends["product-service"].R
			if got := b.Status().InFlight; got != 2 {
				t.Errorf("backend in flight with two bodies undelivered: %d, want 2", got)
			}
			r := g.do("GET", "/test/download/third", nil, nil)
			if r.status != 503 || r.json(t)["error"] != "backend_busy" {
				t.Errorf("third request with the bulkhead full: %d %s, want 503 backend_busy", r.status, r.body)
			}
			for _, c := range held {
				c.Close()
			}
			held = nil
			waitFor(t, 10*time.Second, func() bool { return b.Status().InFlight == 0 }, "bodies abandoned")
			if r := g.do("GET", "/test/download/again", map[string]string{upstream.HeaderBodyBytes: "1024"}, nil); r.status != 200 {
				t.Errorf("after the clients left: %d %s", r.status, r.body)
			}
		})
	}
}
