package peers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/harness/fleet"
	"github.com/gatelab/gatelab/internal/upstream"
)

// present reports whether kind's binary is installed. When it is not, it
// logs a notice and returns false, or fails the test when
// GATELAB_REQUIRE_<KIND>=1.
func present(t *testing.T, kind string) bool {
	t.Helper()
	_, err := Find(kind)
	if err == nil {
		return true
	}
	env := "GATELAB_REQUIRE_" + strings.ToUpper(kind)
	if !errors.Is(err, ErrNotInstalled) || os.Getenv(env) == "1" {
		t.Fatalf("%v (%s=%s)", err, env, os.Getenv(env))
	}
	t.Logf("NOTICE: %s is not installed, its checks are SKIPPED (set %s=1 to fail instead): %v", kind, env, err)
	return false
}

// need is present for a test about one kind: it skips the test instead.
func need(t *testing.T, kind string) {
	t.Helper()
	if !present(t, kind) {
		t.Skipf("NOTICE: %s is not installed", kind)
	}
}

func startUpstream(t *testing.T, name string) *upstream.Server {
	t.Helper()
	s, err := upstream.Start("127.0.0.1:0", name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// oddDir is a run directory whose name needs quoting in both formats.
func oddDir(t *testing.T, name string) string {
	return filepath.Join(t.TempDir(), name+` a'b"c;{#}\d`)
}

func listen(t *testing.T) string {
	t.Helper()
	port, err := fleet.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func get(t *testing.T, url string, h http.Header) (int, *upstream.Echo) {
	t.Helper()
	code, _, e := fetch(t, url, h)
	return code, e
}

// fetch GETs url with h and returns the status, the answer's headers and,
// for a 200, the echo the upstream answered with.
func fetch(t *testing.T, url string, h http.Header) (int, http.Header, *upstream.Echo) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	// Redirects are not followed: a peer's own 301 is its answer.
	client := &http.Client{Transport: &http.Transport{Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, resp.Header, nil
	}
	var e upstream.Echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("GET %s: the answer is not an echo: %v", url, err)
	}
	return resp.StatusCode, resp.Header, &e
}

// bigExchange POSTs reqBytes and asks the upstream for respBytes; it
// returns how many request bytes the upstream counted, after checking the
// whole answer arrived.
func bigExchange(ctx context.Context, url string, reqBytes, respBytes int) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Twice: once for the echo (body count), once for the large answer.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(upstream.Payload(reqBytes)))
	if err != nil {
		return 0, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	var e upstream.Echo
	err = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("the echo: status %d: %w", resp.StatusCode, err)
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(upstream.HeaderBodyBytes, fmt.Sprint(respBytes))
	resp, err = client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != int64(respBytes) || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("a %d-byte answer arrived as status %d with %d bytes: %v", respBytes, resp.StatusCode, n, err)
	}
	return e.BodyBytes, nil
}

// alive reports whether pid is a process that has not exited (a zombie
// has).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestPeers starts each installed peer from one route table, checks the
// routes, strip and X-Forwarded-For through real traffic, checks parity
// between the peers and against a mis-rendered one, and checks Stop leaves
// no process behind.
func TestPeers(t *testing.T) {
	users := startUpstream(t, "users")
	products := startUpstream(t, "products")
	orders := startUpstream(t, "orders")
	deep := startUpstream(t, "deep")
	table := []Route{
		{ID: "users", Prefix: "/api/v2/users/", StripPrefix: "/api/v2", Upstreams: []string{users.Addr()}, TimeoutMS: 3000},
		{ID: "products", Prefix: "/api/v2/products/", Upstreams: []string{products.Addr()}},
		// Base paths: stripped whole (to "/"), and a deeper route's base
		// inside another route's prefix, forwarded unchanged.
		{ID: "orders", Prefix: "/orders/", StripPrefix: "/orders", Base: true, Upstreams: []string{orders.Addr()}},
		{ID: "deep", Prefix: "/api/v2/users/deep/", Base: true, Upstreams: []string{deep.Addr()}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	peers := map[string]*Peer{}
	var pids []int
	for _, kind := range Kinds() {
		if !present(t, kind) {
			continue
		}
		// Not a subtest: the peers must outlive this loop.
		dir := oddDir(t, kind)
		p, err := Start(ctx, kind, Config{Listen: listen(t), Dir: dir, Routes: table, AccessLog: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Stop() })
		peers[kind] = p
		pids = append(pids, p.Proc.PIDs()...)
		t.Logf("%s %s (%s) on %s, pids %v", kind, p.Version, p.Binary, p.URL, p.Proc.PIDs())
		if p.Version == "" {
			t.Errorf("%s: no version", kind)
		}
		if len(p.Proc.PIDs()) < 2 {
			t.Errorf("%s: want a master and a worker, got pids %v", kind, p.Proc.PIDs())
		}
		// The pid file is where the quoted Dir says.
		pidFile := filepath.Join(dir, kind+".pid")
		if b, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(p.Proc.PID()) {
			t.Errorf("%s: pid file %s: %q, %v; want %d", kind, pidFile, b, err, p.Proc.PID())
		}

		code, e := get(t, p.URL+"/api/v2/users/me?x=1", http.Header{"X-Forwarded-For": {"6.6.6.6"}})
		if code != 200 || e.Name != "users" || e.Path != "/users/me" || e.Query != "x=1" {
			t.Errorf("%s: users route: %d %+v, want the users upstream to get /users/me?x=1", kind, code, e)
		} else if xff := e.Headers["X-Forwarded-For"]; len(xff) != 1 || xff[0] != "127.0.0.1" {
			t.Errorf("%s: users route: upstream X-Forwarded-For %q, want [127.0.0.1] (the spoofed one replaced)", kind, xff)
		}
		code, e = get(t, p.URL+"/api/v2/products/42", nil)
		if code != 200 || e.Name != "products" || e.Path != "/api/v2/products/42" {
			t.Errorf("%s: products route: %d %+v, want the products upstream to get the path unchanged", kind, code, e)
		}
		if code, _ = get(t, p.URL+"/nope", nil); code != http.StatusNotFound {
			t.Errorf("%s: no route: status %d, want 404", kind, code)
		}
		checkBase(t, kind, p.URL)
		// Large bodies both ways pass without temp files (nginx's workers
		// run as nobody under root and may not be able to write into Dir).
		if got, err := bigExchange(ctx, p.URL+"/api/v2/users/big", 2<<20, 4<<20); err != nil || got != 2<<20 {
			t.Errorf("%s: a 2 MiB request body reached the upstream as %d bytes, answer: %v", kind, got, err)
		}
	}

	probe := Probe{Path: "/api/v2/users/me?a=1&b=2", Header: http.Header{"X-Probe": {"one"}, "Accept": {"application/json"}}}
	if len(peers) == 2 {
		res := Parity(ctx, probe, map[string]string{KindNginx: peers[KindNginx].URL, KindHAProxy: peers[KindHAProxy].URL}, KindNginx)
		for _, r := range res {
			if !r.OK || r.Status != 200 || r.Upstream["path"] != "/users/me" {
				t.Errorf("parity nginx vs haproxy: %+v", r)
			}
		}
	}

	// A peer rendered with the wrong strip prefix fails parity on the path.
	for _, kind := range Kinds() {
		good := peers[kind]
		if good == nil {
			continue
		}
		wrong := append([]Route(nil), table...)
		wrong[0].StripPrefix = "/api"
		bad, err := Start(ctx, kind, Config{Listen: listen(t), Dir: oddDir(t, "wrong-"+kind), Routes: wrong})
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, bad.Proc.PIDs()...)
		res := Parity(ctx, probe, map[string]string{"good": good.URL, "wrong": bad.URL}, "good")
		if r := res[indexOf(res, "good")]; !r.OK {
			t.Errorf("%s: the reference failed: %+v", kind, r)
		}
		r := res[indexOf(res, "wrong")]
		if r.OK || len(r.Diffs) != 1 || !strings.Contains(r.Diffs[0], `upstream path: "/v2/users/me", good has "/users/me"`) {
			t.Errorf("%s: a wrong strip: %+v, want one path diff", kind, r)
		}
		if err := bad.Stop(); err != nil {
			t.Error(err)
		}
		break // one kind is enough to show a wrong render is caught
	}

	for kind, p := range peers {
		if err := p.Stop(); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
		if err := p.Stop(); err != nil {
			t.Errorf("%s: second Stop: %v", kind, err)
		}
		b, err := os.ReadFile(p.AccessLogPath)
		if err != nil || !strings.Contains(string(b), "/api/v2/products/42") {
			t.Errorf("%s: access log %s: %v, want a line per request, got:\n%s", kind, p.AccessLogPath, err, b)
		}
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d is still running after Stop", pid)
		}
	}
}

// checkBase checks Route.Base through a peer started from TestPeers's
// table: the base path is routed exactly, stripped, query kept; a longer
// name is not; a route without Base leaves its base unrouted.
func checkBase(t *testing.T, kind, url string) {
	t.Helper()
	for _, c := range []struct{ path, name, upPath, query string }{
		{"/orders", "orders", "/", ""}, // stripped whole
		{"/orders?x=1&y=%2F", "orders", "/", "x=1&y=%2F"},
		{"/orders/", "orders", "/", ""},
		{"/orders/a/b", "orders", "/a/b", ""},
		{"/api/v2/users/deep", "deep", "/api/v2/users/deep", ""}, // beats the users prefix
		{"/api/v2/users/deep/x", "deep", "/api/v2/users/deep/x", ""},
		{"/api/v2/users/deepx", "users", "/users/deepx", ""}, // not the deep route: whole segments
	} {
		code, e := get(t, url+c.path, nil)
		if code != 200 || e.Name != c.name || e.Path != c.upPath || e.Query != c.query {
			t.Errorf("%s: GET %s: %d %+v, want %s to get %s query %q", kind, c.path, code, e, c.name, c.upPath, c.query)
		}
	}
	// Not routed: a longer name than a base, and the base of a route
	// without Base (nginx redirects it to the prefix, haproxy says 404).
	for _, p := range []string{"/ordersx", "/ordersx/a", "/api/v2/products"} {
		if code, e := get(t, url+p, nil); code == 200 || e != nil {
			t.Errorf("%s: GET %s: %d %+v, want it not routed", kind, p, code, e)
		}
	}
}

// TestPeersRequestID starts each installed peer with Config.RequestID and
// checks through real traffic that every request gets one X-Request-ID,
// the same upstream and back to the client: a generated version 4 UUID,
// new each time, unless the client sent a well-formed one, which is kept;
// the upstream's own X-Request-ID answer never reaches the client.
func TestPeersRequestID(t *testing.T) {
	users := startUpstream(t, "users")
	routes := []Route{{ID: "users", Prefix: "/users/", Base: true, Upstreams: []string{users.Addr()}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, kind := range Kinds() {
		t.Run(kind, func(t *testing.T) {
			need(t, kind)
			p, err := Start(ctx, kind, Config{Listen: listen(t), Dir: t.TempDir(), Routes: routes, RequestID: true})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			seen := map[string]bool{}
			for _, c := range []struct {
				sent string // "" sends none
				keep bool
			}{
				{"", false}, {"", false},
				{"conf-req-42", true}, {"a.b_c:d-E9", true}, {strings.Repeat("r", 128), true},
				{"bad id", false}, {`"quoted"`, false}, {"a<b>", false}, {strings.Repeat("r", 129), false},
			} {
				h := http.Header{upstream.HeaderAddHeader: {"X-Request-ID: from-the-upstream"}}
				if c.sent != "" {
					h.Set("X-Request-ID", c.sent)
				}
				code, got, e := fetch(t, p.URL+"/users/rid", h)
				if code != 200 || e == nil {
					t.Fatalf("X-Request-ID %.20q: status %d", c.sent, code)
				}
				rid := got.Values("X-Request-ID")
				up := http.Header(e.Headers).Values("X-Request-ID")
				switch {
				case len(rid) != 1 || !slices.Equal(up, rid):
					t.Errorf("X-Request-ID %.20q: the client got %q, the upstream %q; want one, the same", c.sent, rid, up)
				case c.keep && rid[0] != c.sent:
					t.Errorf("X-Request-ID %.20q: replaced by %q; want it kept", c.sent, rid[0])
				case !c.keep && !uuid4.MatchString(rid[0]):
					t.Errorf("X-Request-ID %.20q: got %q; want a generated version 4 UUID", c.sent, rid[0])
				case !c.keep && seen[rid[0]]:
					t.Errorf("X-Request-ID %.20q: %q generated twice", c.sent, rid[0])
				}
				if len(rid) > 0 {
					seen[rid[0]] = true
				}
			}
		})
	}
}

// TestStartBusyPort: a listen address already in use gives an error with the peer's own words, and nothing is
// left running.
func TestStartBusyPort(t *testing.T) {
	up := startUpstream(t, "users")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, kind := range Kinds() {
		t.Run(kind, func(t *testing.T) {
			need(t, kind)
			routes := []Route{{ID: "u", Prefix: "/u/", Upstreams: []string{up.Addr()}}}
			p, err := Start(ctx, kind, Config{Listen: up.Addr(), Dir: t.TempDir(), Routes: routes})
			if err == nil {
				p.Stop()
				t.Fatal("Start on a port in use succeeded")
			}
			t.Logf("%v", err)
			if !strings.Contains(err.Error(), "in use") && !strings.Contains(err.Error(), "cannot bind") {
				t.Errorf("error without the peer's reason: %v", err)
			}
		})
	}
}
