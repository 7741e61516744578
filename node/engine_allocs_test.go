package node_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/internal/rawtcp"
)

// staticAnswer is what the raw upstream answers to every request.
const staticAnswer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"

// rawUpstream answers every request (heads only, no bodies) with
// staticAnswer on keep-alive connections, allocating nothing per request.
func rawUpstream(tb testing.TB) string {
	tb.Helper()
	answer := []byte(staticAnswer)
	return rawtcp.Serve(tb, func(c net.Conn) {
		buf := make([]byte, 16<<10)
		have := 0
		for {
			n, err := c.Read(buf[have:])
			if err != nil {
				return
			}
			have += n
			for {
				end := bytes.Index(buf[:have], []byte("\r\n\r\n"))
				if end < 0 {
					break
				}
				if _, err := c.Write(answer); err != nil {
					return
				}
				have = copy(buf, buf[end+4:have])
			}
		}
	})
}

// rawClient sends one prebuilt request at a time on one connection and
// reads the response (Content-Length framed) into a fixed buffer.
type rawClient struct {
	c   net.Conn
	req []byte
	buf []byte
}

func (rc *rawClient) do(tb testing.TB) int {
	if _, err := rc.c.Write(rc.req); err != nil {
		tb.Fatal(err)
	}
	have := 0
	for {
		n, err := rc.c.Read(rc.buf[have:])
		if err != nil {
			tb.Fatal(err)
		}
		have += n
		end := bytes.Index(rc.buf[:have], []byte("\r\n\r\n"))
		if end < 0 {
			continue
		}
		head := rc.buf[:end]
		cl := 0
		if i := bytes.Index(head, []byte("\r\nContent-Length: ")); i >= 0 {
			v := head[i+len("\r\nContent-Length: "):]
			if j := bytes.IndexByte(v, '\r'); j >= 0 {
				v = v[:j]
			}
			cl, _ = strconv.Atoi(string(v))
		}
		if have >= end+4+cl {
			status, _ := strconv.Atoi(string(rc.buf[9:12]))
			return status
		}
	}
}

// TestEngineForwardAllocs: a proxied request through a real server engine
// over loopback sockets (client, gateway and upstream in this process),
// with a cached token and the local limiter. Budget: the fasthttp engine
// allocates nothing per request; nethttp is bounded by net/http's own
// parsing (about 50) and kept there.
func TestEngineForwardAllocs(t *testing.T) {
	budgets := map[string]float64{"fasthttp": 0, "nethttp": 50}
	for _, server := range engines.Names(engines.KindServer) {
		t.Run(server, func(t *testing.T) {
			budget, ok := budgets[server]
			if !ok {
				t.Fatalf("no allocation budget for server engine %q: add one", server)
			}
			up := rawUpstream(t)
			g := fixtureGateway(t, "trie", func(cfg *config.Config) {
				cfg.AccessLog.Output = "off"
				for i := range cfg.Backends {
					for j := range cfg.Backends[i].Instances {
						cfg.Backends[i].Instances[j].URL = "http://" + up
					}
				}
			})
			srv, err := engines.NewServer(server, g)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Shutdown(ctx)
			})
			tok := fixtureToken(t, "alloc_user")
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			rc := &rawClient{c: c, buf: make([]byte, 64<<10),
				req: []byte("GET /api/v2/users/me HTTP/1.1\r\nHost: api.gatelab.test\r\nAuthorization: Bearer " + tok + "\r\n\r\n")}
			for range 200 { // warm pools, caches and metric children
				if st := rc.do(t); st != 200 {
					t.Fatalf("status %d, want 200", st)
				}
			}
			allocs := testing.AllocsPerRun(2000, func() { rc.do(t) })
			t.Logf("%s: %.2f allocations per proxied request (client, gateway and upstream in one process)", server, allocs)
			if allocs > budget {
				t.Errorf("%s allocates %.2f per proxied request; budget %.1f", server, allocs, budget)
			}
		})
	}
}
