package node_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/internal/rawtcp"
)

// A reload that removes a backend closes the gateway's idle connections to
// it at once, on both engines, instead of leaving them open until the
// upstream times them out (a gateway whose backends come and go would
// otherwise collect them).
func TestReloadClosesRemovedBackendsConnections(t *testing.T) {
	ups := startUpstreams(t)
	for _, server := range []string{"nethttp", "fasthttp"} {
		t.Run(server, func(t *testing.T) {
			// Reports every connection that carried a proxied request (not
			// a health probe) once it is closed.
			closed := make(chan struct{}, 16)
			addr := rawtcp.Serve(t, func(c net.Conn) {
				proxied := false
				defer func() {
					if proxied {
						closed <- struct{}{}
					}
				}()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					proxied = proxied || req.URL.Path != "/healthz"
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			cfg := testConfig(t, ups)
			cfg.Backends = append(cfg.Backends, config.Backend{Name: "going-service",
				Instances: []config.Instance{{URL: "http://" + addr, Weight: 1}}})
			cfg.Routes = append(cfg.Routes, config.Route{ID: "going", Pattern: "/test/going/*", Backend: "going-service", Auth: config.AuthNone})
			cfg.ApplyDefaults()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			g := startConfigured(t, cfg, server)
			if r := g.do("GET", "/test/going/x", nil, nil); r.status != 200 {
				t.Fatalf("through the backend: %d", r.status)
			}
			select {
			case <-closed:
				t.Fatal("the connection closed before the reload")
			default:
			}
			if err := g.n.Apply(testConfig(t, ups)); err != nil { // without going-service
				t.Fatal(err)
			}
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("the removed backend's pooled connection is still open 5 s after the reload")
			}
		})
	}
}
