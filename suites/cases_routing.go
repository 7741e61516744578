package suites

import (
	"fmt"
	"slices"
	"strings"
)

// routingCases: which backend gets a request, and with what path.
//
// Wildcard precedence is not covered: a route pattern is exact, a prefix
// ("/a/*") or the catch-all "/*", and a catch-all in the fixture would
// answer every unrouted path, so the 404 case could not exist beside it.
// Prefix-versus-prefix (longest wins) and exact-versus-prefix are covered.
var routingCases = []Case{
	{
		ID:          "routing/longest-prefix",
		Description: "A request goes to the route with the longest matching prefix (a prefix also matches its base path, at whole segments only), with strip_prefix removed from the path the backend sees; the query is kept.",
		Level:       Core,
		Features:    []Feature{RoutingPrefix},
		Run: func(t *T) {
			for _, c := range []struct{ path, backend, upstreamPath, query string }{
				{"/conf/prefix/a?x=1", BackendAlpha, "/prefix/a", "x=1"},
				{"/conf/prefix/deeper/b?y=2", BackendBeta, "/prefix/deeper/b", "y=2"},
				{"/conf/prefix/deeper", BackendBeta, "/prefix/deeper", ""},    // the base of the longer prefix
				{"/conf/prefix", BackendAlpha, "/prefix", ""},                 // the base of the shorter one
				{"/conf/prefix/deeperx", BackendAlpha, "/prefix/deeperx", ""}, // a prefix matches whole segments
				{"/conf/prefix/a/", BackendAlpha, "/prefix/a/", ""},           // a trailing slash is kept
			} {
				r := t.Get(c.path, nil)
				e := t.MustEcho(r)
				if r.Status != 200 || e.Name != c.backend || e.Path != c.upstreamPath || e.Query != c.query {
					t.Errorf("GET %s: status %d, backend %q path %q query %q; want 200 from %s at %s query %q",
						c.path, r.Status, e.Name, e.Path, e.Query, c.backend, c.upstreamPath, c.query)
				}
			}
		},
	},
	{
		ID:          "routing/exact-beats-prefix",
		Description: "An exact route wins over a prefix route that also matches its path, and matches nothing but that path (not below it, not a longer name).",
		Level:       Core,
		Features:    []Feature{RoutingExact, RoutingPrefix},
		Run: func(t *T) {
			for _, c := range []struct{ path, backend, upstreamPath string }{
				{"/conf/prefix/exact", BackendGamma, "/conf/prefix/exact"}, // the exact route has no strip_prefix
				{"/conf/prefix/exact/x", BackendAlpha, "/prefix/exact/x"},
				{"/conf/prefix/exactly", BackendAlpha, "/prefix/exactly"},
				{"/conf/prefix/exact/", BackendAlpha, "/prefix/exact/"},
			} {
				r := t.Get(c.path, nil)
				e := t.MustEcho(r)
				if r.Status != 200 || e.Name != c.backend || e.Path != c.upstreamPath {
					t.Errorf("GET %s: status %d, backend %q path %q; want 200 from %s at %s",
						c.path, r.Status, e.Name, e.Path, c.backend, c.upstreamPath)
				}
			}
		},
	},
	{
		ID:          "routing/strip-prefix",
		Description: "strip_prefix removes exactly the configured leading segments: the route's base path becomes \"/\", the rest of the path keeps its escapes and the query is kept.",
		Level:       Core,
		Features:    []Feature{RoutingPrefix},
		Run: func(t *T) {
			for _, c := range []struct{ path, rawPath, query string }{
				{"/conf/h-strip", "/", ""},
				{"/conf/h-strip/", "/", ""},
				{"/conf/h-strip/a/b?q=1&r=%2F", "/a/b", "q=1&r=%2F"},
				{"/conf/h-strip/a%20b/c", "/a%20b/c", ""},
				{"/conf/h-strip/conf/h-strip/x", "/conf/h-strip/x", ""}, // stripped once, at the start only
			} {
				r := t.Get(c.path, nil)
				e := t.MustEcho(r)
				if r.Status != 200 || e.Name != BackendGamma || e.RawPath != c.rawPath || e.Query != c.query {
					t.Errorf("GET %s: status %d, backend %q raw path %q query %q; want 200 from %s at %s query %q",
						c.path, r.Status, e.Name, e.RawPath, e.Query, BackendGamma, c.rawPath, c.query)
				}
			}
		},
	},
	{
		ID:          "routing/no-route-404",
		Description: "A path no route matches (including a near miss: another letter case, a longer segment) is answered 404 by the gateway and reaches no backend.",
		Level:       Core,
		Features:    []Feature{RoutingMethods, RoutingPrefix},
		Run: func(t *T) {
			// Sanity: the prefix the near misses are near is routed.
			if r := t.Get("/conf/prefix/a", nil); r.Status != 200 || r.Echo == nil {
				t.Fatalf("GET /conf/prefix/a: status %d; want 200 from a backend (the fixture's prefix route)", r.Status)
			}
			for _, m := range []string{"GET", "POST", "DELETE"} {
				for _, p := range []string{"/conf/h-no-such-route/x", "/conf/prefixes/a", "/conf/PREFIX/a", "/conf"} {
					r := t.Do(m, p, nil, nil)
					if r.Status != 404 || r.Echo != nil {
						t.Errorf("%s %s: status %d (reached a backend: %v); want 404 from the gateway", m, p, r.Status, r.Echo != nil)
					}
				}
			}
		},
	},
	{
		ID:          "routing/method-not-allowed-405",
		Description: "A path that is routed for other methods only is answered 405 with an Allow header listing exactly the methods routed there, and reaches no backend; each method goes to its own route.",
		Level:       Core,
		Features:    []Feature{RoutingMethods},
		Run: func(t *T) {
			// A GET-only prefix route: Allow may add HEAD (RFC 9110 9.3.2
			// makes HEAD part of GET) but nothing else.
			if r := t.Get("/conf/get-only/x", nil); r.Status != 200 || r.Echo == nil || r.Echo.Name != BackendAlpha {
				t.Errorf("GET /conf/get-only/x: status %d; want 200 from %s", r.Status, BackendAlpha)
			}
			for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
				r := t.Do(m, "/conf/get-only/x", nil, nil)
				allow := listTokens(r.Header.Values("Allow"))
				if r.Status != 405 || r.Echo != nil {
					t.Errorf("%s /conf/get-only/x: status %d (reached a backend: %v); want 405 from the gateway", m, r.Status, r.Echo != nil)
				} else if !sameMethods(allow, []string{"GET"}, []string{"HEAD"}) {
					t.Errorf("%s /conf/get-only/x: Allow %q; want GET (and at most HEAD besides)", m, allow)
				}
			}
			// Two routes on one pattern, by method.
			for _, c := range []struct{ method, backend string }{{"GET", BackendAlpha}, {"POST", BackendBeta}} {
				r := t.Do(c.method, "/conf/h-method/x", nil, []byte{})
				if r.Status != 200 || r.Echo == nil || r.Echo.Name != c.backend || r.Echo.Method != c.method {
					t.Errorf("%s /conf/h-method/x: status %d, echo %v; want 200 from %s", c.method, r.Status, echoWho(r.Echo), c.backend)
				}
			}
			r := t.Do("DELETE", "/conf/h-method/x", nil, nil)
			allow := listTokens(r.Header.Values("Allow"))
			if r.Status != 405 || r.Echo != nil {
				t.Errorf("DELETE /conf/h-method/x: status %d (reached a backend: %v); want 405", r.Status, r.Echo != nil)
			} else if !sameMethods(allow, []string{"GET", "POST"}, []string{"HEAD"}) {
				t.Errorf("DELETE /conf/h-method/x: Allow %q; want GET and POST (and at most HEAD besides)", allow)
			}
		},
	},
	{
		ID:          "routing/dot-segments-rejected",
		Description: "A request path with a \".\" or \"..\" segment, literal or percent-encoded, is refused with 400 and never forwarded: it would reach another route once a backend resolved it.",
		Level:       Core,
		Features:    []Feature{RoutingCanonical, RoutingPrefix},
		Run: func(t *T) {
			rejectPaths(t, []string{
				"/conf/prefix/a/../exact", // -> /conf/prefix/exact, another route
				"/conf/prefix/deeper/../b",
				"/conf/prefix/./a",
				"/conf/prefix/a/..",
				"/conf/prefix/a/.",
				"/conf/prefix/%2e%2e/exact",
				"/conf/prefix/%2E/a",
				"/conf/prefix/.%2e/x",
				"/conf/h-strip/../prefix/a",
			})
		},
	},
	{
		ID:          "routing/encoded-separators-rejected",
		Description: "A request path with an encoded '/' or '\\', a raw '\\', or a percent-encoded unreserved character (an alias of a plain path) is refused with 400 and never forwarded, so no decoding step can move it to another route.",
		Level:       Core,
		Features:    []Feature{RoutingCanonical, RoutingPrefix},
		Run: func(t *T) {
			rejectPaths(t, []string{
				"/conf/prefix/deeper%2Fb", // decoded: /conf/prefix/deeper/b, the beta route
				"/conf/prefix/deeper%2fb",
				"/conf%2Fprefix/a",
				"/conf/prefix/a%5Cb",
				"/conf/prefix/a%5cb",
				"/conf/prefix/a\\..\\exact",
				"/conf/%70refix/a", // %70 is 'p': an alias of /conf/prefix/a
				"/conf/prefix/%65xact",
				"/conf/prefix/a%2",  // a truncated escape
				"/conf/prefix/a%zz", // not hex
			})
		},
	},
	{
		ID:          "routing/doubled-slashes-rejected",
		Description: "A request path with an empty segment (\"//\") is refused with 400 and never forwarded, wherever the empty segment is.",
		Level:       Core,
		Features:    []Feature{RoutingCanonical, RoutingPrefix},
		Run: func(t *T) {
			rejectPaths(t, []string{
				"//conf/prefix/a",
				"/conf//prefix/a",
				"/conf/prefix//exact",
				"/conf/prefix/a//",
				"/conf/prefix/deeper//b",
			})
		},
	},
	{
		ID:          "routing/safe-escapes-forwarded-verbatim",
		Description: "Percent escapes that cannot change the route (a space, '?', '%', non-ASCII bytes) are accepted and reach the backend exactly as the client sent them, letter case of the hex digits included.",
		Level:       Core,
		Features:    []Feature{RoutingCanonical, RoutingPrefix},
		Run: func(t *T) {
			for _, c := range []struct{ path, rawPath string }{
				{"/conf/prefix/a%20b", "/prefix/a%20b"},
				{"/conf/prefix/a%3Fb", "/prefix/a%3Fb"},
				{"/conf/prefix/a%3fb", "/prefix/a%3fb"},
				{"/conf/prefix/100%25", "/prefix/100%25"},
				{"/conf/prefix/caf%C3%A9", "/prefix/caf%C3%A9"},
				{"/conf/prefix/a.b/..c/.d", "/prefix/a.b/..c/.d"}, // dots inside names are not dot segments
			} {
				r := t.Raw("GET " + c.path + " HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n")
				e := t.MustEcho(r)
				if r.Status != 200 || e.Name != BackendAlpha || e.RawPath != c.rawPath {
					t.Errorf("GET %s: status %d, backend %q raw path %q; want 200 from %s at %s",
						c.path, r.Status, e.Name, e.RawPath, BackendAlpha, c.rawPath)
				}
			}
		},
	},
}

// rejectPaths sends GET for each path byte for byte and requires 400 from
// the gateway: no backend may see it.
func rejectPaths(t *T, paths []string) {
	for _, p := range paths {
		r := t.Raw("GET " + p + " HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n\r\n")
		switch {
		case r.Echo != nil:
			t.Errorf("GET %s: forwarded to %s as %q (status %d); want 400 from the gateway", p, r.Echo.Name, r.Echo.RawPath, r.Status)
		case r.Status != 400:
			t.Errorf("GET %s: status %d; want 400", p, r.Status)
		}
	}
}

// sameMethods reports whether got holds every method of want, and nothing
// beyond want and optional.
func sameMethods(got, want, optional []string) bool {
	for _, m := range want {
		if !slices.Contains(got, m) {
			return false
		}
	}
	for _, m := range got {
		if !slices.Contains(want, m) && !slices.Contains(optional, m) {
			return false
		}
	}
	return true
}

// echoWho describes where a request went, for messages.
func echoWho(e *Echo) string {
	if e == nil {
		return "no backend"
	}
	return fmt.Sprintf("%s %s %s", e.Name, e.Method, strings.TrimSpace(e.RawPath))
}
