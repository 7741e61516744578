package peers

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current renderers")

// twoRoutes is the golden files' Config: one route stripped and spread over
// two upstreams, one forwarded unchanged, in a Dir that needs quoting.
func twoRoutes() Config {
	return Config{
		Listen: "127.0.0.1:18080",
		Dir:    `/var/lib/gatelab/run 1/it's "odd"; {x}`,
		Routes: []Route{
			{ID: "users", Prefix: "/api/v2/users/", StripPrefix: "/api/v2", Upstreams: []string{"127.0.0.1:19001", "127.0.0.1:19002"}, TimeoutMS: 2500},
			{ID: "products", Prefix: "/api/v2/products/", Upstreams: []string{"127.0.0.1:19003"}},
		},
		AccessLog: true,
	}
}

// baseRoutes is the Base golden files' Config: base paths stripped to a
// shorter path, stripped whole (to "/") and forwarded unchanged, beside a
// prefix without Base.
func baseRoutes() Config {
	return Config{
		Listen: "127.0.0.1:18080",
		Dir:    "/var/lib/gatelab/run",
		Routes: []Route{
			{ID: "users", Prefix: "/api/v2/users/", StripPrefix: "/api/v2", Base: true, Upstreams: []string{"127.0.0.1:19001"}},
			{ID: "orders", Prefix: "/orders/", StripPrefix: "/orders", Base: true, Upstreams: []string{"127.0.0.1:19002"}},
			{ID: "deep", Prefix: "/api/v2/users/deep/", Base: true, Upstreams: []string{"127.0.0.1:19003"}},
			{ID: "products", Prefix: "/api/v2/products/", Upstreams: []string{"127.0.0.1:19003"}},
		},
	}
}

// requestIDRoutes is twoRoutes with RequestID: the request-id golden
// files differ from the two-routes ones by its lines only.
func requestIDRoutes() Config {
	c := twoRoutes()
	c.RequestID = true
	return c
}

func TestRenderGolden(t *testing.T) {
	configs := []struct {
		name string
		c    func() Config
	}{{"two-routes", twoRoutes}, {"base-routes", baseRoutes}, {"request-id", requestIDRoutes}}
	for _, kind := range Kinds() {
		for _, cf := range configs {
			t.Run(kind+"/"+cf.name, func(t *testing.T) {
				checkGolden(t, kind, cf.name, cf.c)
			})
		}
	}
}

// checkGolden compares Render(kind, c()) with testdata/KIND-NAME.golden
// (rewritten with -update) and checks a second render gives the same bytes.
func checkGolden(t *testing.T, kind, name string, c func() Config) {
	t.Helper()
	got, err := Render(kind, c())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", kind+"-"+name+".golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("Render(%s) differs from %s (go test -update rewrites it); got:\n%s", kind, golden, got)
	}
	again, _ := Render(kind, c())
	if again != got {
		t.Error("two renders of the same Config differ")
	}
}

// TestRenderDefaults checks the zero fields' defaults land in both files
// and that Render does not change the caller's Config.
func TestRenderDefaults(t *testing.T) {
	c := twoRoutes()
	c.AccessLog = false
	want := map[string][]string{
		KindNginx:   {"worker_processes 1;", "keepalive 64;", "proxy_read_timeout 10000ms;", "access_log off;"},
		KindHAProxy: {"nbthread 1\n", "pool-max-conn 64 ", "    timeout server 10000ms\n", "http-reuse always"},
	}
	for _, kind := range Kinds() {
		got, err := Render(kind, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want[kind] {
			if !strings.Contains(got, w) {
				t.Errorf("%s: no %q in\n%s", kind, w, got)
			}
		}
		if kind == KindHAProxy && strings.Contains(got, "log ") {
			t.Errorf("haproxy logs with AccessLog off:\n%s", got)
		}
	}
	if c.Routes[1].TimeoutMS != 0 || c.Workers != 0 {
		t.Error("Render changed the caller's Config")
	}
}

// TestRenderOrder: haproxy picks the first matching use_backend, so the
// longer prefix must come first whatever the table's order.
func TestRenderOrder(t *testing.T) {
	c := Config{Listen: "127.0.0.1:1", Dir: "/d", Routes: []Route{
		{ID: "all", Prefix: "/", Upstreams: []string{"127.0.0.1:2"}},
		{ID: "api", Prefix: "/api/", Upstreams: []string{"127.0.0.1:3"}},
	}}
	h, err := Render(KindHAProxy, c)
	if err != nil {
		t.Fatal(err)
	}
	if i, j := strings.Index(h, "use_backend route_api"), strings.Index(h, "use_backend route_all"); i < 0 || j < 0 || i > j {
		t.Errorf("use_backend route_api must come before route_all:\n%s", h)
	}
	n, err := Render(KindNginx, c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(n, "return 404") {
		t.Errorf("a route on / must replace nginx's 404 location:\n%s", n)
	}
}

func TestRenderProblems(t *testing.T) {
	good := Route{ID: "users", Prefix: "/api/v2/users/", StripPrefix: "/api/v2", Upstreams: []string{"127.0.0.1:9001"}}
	with := func(f func(*Config)) Config {
		c := Config{Listen: "127.0.0.1:8080", Dir: "/tmp/run", Routes: []Route{good}}
		f(&c)
		return c
	}
	route := func(f func(*Route)) Config {
		return with(func(c *Config) { f(&c.Routes[0]) })
	}
	cases := []struct {
		name string
		c    Config
		want []string
	}{
		{"empty listen", with(func(c *Config) { c.Listen = "" }), []string{"listen: empty"}},
		{"listen without port", with(func(c *Config) { c.Listen = "127.0.0.1" }), []string{`listen "127.0.0.1": not host:port`}},
		{"listen port 0", with(func(c *Config) { c.Listen = "127.0.0.1:0" }), []string{"port \"0\" is not 1..65535"}},
		{"relative dir", with(func(c *Config) { c.Dir = "run" }), []string{"not absolute"}},
		{"dollar in dir", with(func(c *Config) { c.Dir = "/tmp/$x" }), []string{"contains '$'"}},
		{"newline in dir", with(func(c *Config) { c.Dir = "/tmp/a\nb" }), []string{"control character"}},
		{"no routes", with(func(c *Config) { c.Routes = nil }), []string{"routes: none"}},
		{"negative workers", with(func(c *Config) { c.Workers = -1 }), []string{"workers: -1"}},
		{"no upstream", route(func(r *Route) { r.Upstreams = nil }), []string{"routes[0] (users): no upstream"}},
		{"bad upstream", route(func(r *Route) { r.Upstreams = []string{"http://x:1"} }), []string{"upstreams[0]"}},
		{"prefix without slash", route(func(r *Route) { r.Prefix = "api/v2/users/" }), []string{"does not start with '/'"}},
		{"prefix with space", route(func(r *Route) { r.Prefix = "/api v2/" }), []string{"character ' ' is not allowed"}},
		{"prefix with dot segment", route(func(r *Route) { r.Prefix = "/api/../x/" }), []string{"\"..\" segment"}},
		{"strip not a segment", route(func(r *Route) { r.StripPrefix = "/api/v" }), []string{"not a whole-segment prefix"}},
		{"strip ends with slash", route(func(r *Route) { r.StripPrefix = "/api/" }), []string{"must not end with '/'"}},
		{"bad id", route(func(r *Route) { r.ID = "us ers" }), []string{"only letters, digits"}},
		{"base of /", route(func(r *Route) { r.Prefix, r.StripPrefix, r.Base = "/", "", true }), []string{`base: prefix "/" has no base path`}},
		{"base without slash", route(func(r *Route) { r.Prefix, r.Base = "/api/v2/users", true }), []string{`base: prefix "/api/v2/users" has no base path`}},
		{"duplicates", with(func(c *Config) { c.Routes = append(c.Routes, good) }), []string{`id "users" is also routes[0]'s`, `prefix "/api/v2/users/" is also routes[0]'s`}},
		{"every problem at once", Config{Routes: []Route{{Prefix: "x"}}}, []string{
			"listen: empty", "dir: empty", "routes[0]: id is empty", `prefix "x": does not start with '/'`, "routes[0]: no upstream",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, kind := range Kinds() {
				_, err := Render(kind, tc.c)
				var ie *InvalidConfigError
				if !errors.As(err, &ie) {
					t.Fatalf("%s: got %v, want an *InvalidConfigError", kind, err)
				}
				if len(ie.Problems) != len(tc.want) {
					t.Errorf("%s: %d problems, want %d: %q", kind, len(ie.Problems), len(tc.want), ie.Problems)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %q not in:\n%v", kind, w, err)
					}
				}
			}
		})
	}
	if _, err := Render("envoy", with(func(*Config) {})); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("Render(envoy): %v, want ErrUnknownKind", err)
	}
}

func TestQuote(t *testing.T) {
	if got, want := nginxQuote(`/a b"c\d`), `"/a b\"c\\d"`; got != want {
		t.Errorf("nginxQuote: %s, want %s", got, want)
	}
	if got, want := haproxyQuote(`/a b'c"$d\`), `'/a b'\''c"$d\'`; got != want {
		t.Errorf("haproxyQuote: %s, want %s", got, want)
	}
}

// TestRenderBase checks what the Base golden files must say, in words: the
// base path is an exact match with the strip applied ("/" when nothing is
// left), haproxy tries exact matches before every prefix and rewrites a
// wholly stripped base before the general rule, and a route without Base
// gets no exact match.
func TestRenderBase(t *testing.T) {
	n, err := Render(KindNginx, baseRoutes())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"location = \"/api/v2/users\" {\n            proxy_pass \"http://route_users/users\";",
		"location = \"/orders\" {\n            proxy_pass \"http://route_orders/\";",
		"location = \"/api/v2/users/deep\" {\n            proxy_pass \"http://route_deep\";",
	} {
		if !strings.Contains(n, want) {
			t.Errorf("nginx: no %q in\n%s", want, n)
		}
	}
	if strings.Count(n, "location = ") != 3 {
		t.Errorf("nginx: want 3 exact locations (products has no Base):\n%s", n)
	}

	h, err := Render(KindHAProxy, baseRoutes())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"use_backend route_users if { path '/api/v2/users' }\n",
		"use_backend route_orders if { path '/orders' }\n",
		"use_backend route_deep if { path '/api/v2/users/deep' }\n",
		"http-request replace-path '^/orders$' '/'\n    http-request replace-path '^/orders(/.*)$' '\\1'\n",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("haproxy: no %q in\n%s", want, h)
		}
	}
	if strings.Count(h, " if { path ") != 3 || strings.Count(h, "replace-path '^/api/v2$'") != 0 {
		t.Errorf("haproxy: want 3 exact matches and no whole-strip rewrite for users:\n%s", h)
	}
	// Every exact match comes before the first prefix match.
	if last, first := strings.LastIndex(h, " if { path "), strings.Index(h, " if route_"); first < 0 || last > first {
		t.Errorf("haproxy: an exact match after a prefix match:\n%s", h)
	}
}
