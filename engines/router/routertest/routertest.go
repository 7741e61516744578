// Package routertest is the behaviour test and benchmark shared by every
// router engine. An engine's tests call Run and Bench with its factory;
// engines/router/all_test.go runs them for every registered engine.
package routertest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// Short names for the tables below.
const (
	get     = pipeline.MethodGet
	head    = pipeline.MethodHead
	post    = pipeline.MethodPost
	put     = pipeline.MethodPut
	patch   = pipeline.MethodPatch
	del     = pipeline.MethodDelete
	options = pipeline.MethodOptions
	unknown = pipeline.MethodUnknown
	all     = pipeline.AllMethods
)

func set(ms ...pipeline.Method) pipeline.MethodSet {
	var s pipeline.MethodSet
	for _, m := range ms {
		s = s.With(m)
	}
	return s
}

func found(route int) pipeline.Match { return pipeline.Match{Route: route, Status: pipeline.Found} }

func notAllowed(s pipeline.MethodSet) pipeline.Match {
	return pipeline.Match{Status: pipeline.MethodNotAllowed, Allow: s}
}

var notFound = pipeline.Match{Status: pipeline.NotFound}

// rt is a route of a case table; its Index is its position.
type rt struct {
	methods pipeline.MethodSet
	pattern string
}

type probe struct {
	m    pipeline.Method
	path string
	want pipeline.Match
}

func specs(routes []rt) []pipeline.RouteSpec {
	out := make([]pipeline.RouteSpec, len(routes))
	for i, r := range routes {
		out[i] = pipeline.RouteSpec{Index: i, Pattern: r.pattern, Methods: r.methods}
	}
	return out
}

// cases is the behaviour table every engine must pass. Expected answers are
// written out by hand, not computed.
var cases = []struct {
	name   string
	routes []rt
	probes []probe
}{
	{
		name:   "exact beats prefix",
		routes: []rt{{all, "/a/*"}, {all, "/a/b/*"}, {all, "/a/b"}},
		probes: []probe{
			{get, "/a/b", found(2)},
			{get, "/a/b/", found(1)},
			{get, "/a/b/c", found(1)},
			{get, "/a/c", found(0)},
			{get, "/a", found(0)},
		},
	},
	{
		name:   "longer prefix beats shorter",
		routes: []rt{{all, "/*"}, {all, "/a/*"}, {all, "/a/b/c/*"}, {all, "/a/b/*"}},
		probes: []probe{
			{get, "/a/b/c/d", found(2)},
			{get, "/a/b/c", found(2)},
			{get, "/a/b/cd", found(3)},
			{get, "/a/b/x/y", found(3)},
			{get, "/a/b", found(3)},
			{get, "/a/x", found(1)},
			{get, "/ab", found(0)},
			{get, "/x", found(0)},
		},
	},
	{
		name:   "catch-all is the last resort",
		routes: []rt{{all, "/*"}, {all, "/a"}, {all, "/b/*"}},
		probes: []probe{
			{get, "/a", found(1)},
			{get, "/a/", found(0)},
			{get, "/ab", found(0)},
			{get, "/b", found(2)},
			{get, "/b/c/d", found(2)},
			{get, "/c", found(0)},
			{get, "/", found(0)},
			{post, "/x/y/z", found(0)},
		},
	},
	{
		name:   "prefix matches at segment boundaries only",
		routes: []rt{{all, "/a/b/*"}},
		probes: []probe{
			{get, "/a/b", found(0)},
			{get, "/a/b/", found(0)},
			{get, "/a/b/c", found(0)},
			{get, "/a/b/c/d", found(0)},
			{get, "/a/bc", notFound},
			{get, "/a/bc/d", notFound},
			{get, "/a/b%20c", notFound},
			{get, "/a", notFound},
			{get, "/a/", notFound},
			{get, "/", notFound},
			{get, "/A/b", notFound}, // case-sensitive
			{get, "/x/a/b", notFound},
		},
	},
	{
		name:   "exact matches only itself",
		routes: []rt{{all, "/a/b"}, {all, "/c/"}},
		probes: []probe{
			{get, "/a/b", found(0)},
			{get, "/a/b/", notFound},
			{get, "/a/bc", notFound},
			{get, "/a/b/c", notFound},
			{get, "/a", notFound},
			{get, "/c/", found(1)},
			{get, "/c", notFound},
			{get, "/c/d", notFound},
		},
	},
	{
		name:   "same pattern with disjoint methods is separate routes",
		routes: []rt{{set(get), "/users"}, {set(post), "/users"}, {set(put, del), "/users/*"}, {set(get, head), "/users/*"}},
		probes: []probe{
			{get, "/users", found(0)},
			{post, "/users", found(1)},
			{put, "/users", found(2)},
			{head, "/users", found(3)},
			{patch, "/users", notAllowed(set(get, head, post, put, del))},
			{get, "/users/7", found(3)},
			{del, "/users/7", found(2)},
			{post, "/users/7", notAllowed(set(get, head, put, del))},
		},
	},
	{
		name:   "same pattern with overlapping methods: table order",
		routes: []rt{{set(get, post), "/x"}, {set(get, put), "/x"}, {set(get), "/y/*"}, {all, "/y/*"}},
		probes: []probe{
			{get, "/x", found(0)},
			{post, "/x", found(0)},
			{put, "/x", found(1)},
			{del, "/x", notAllowed(set(get, post, put))},
			{get, "/y/z", found(2)},
			{post, "/y/z", found(3)},
		},
	},
	{
		name:   "method mismatch falls through to shorter prefixes",
		routes: []rt{{set(del), "/*"}, {set(put), "/a/*"}, {set(post), "/a/b/*"}, {set(get), "/a/b/c"}},
		probes: []probe{
			{get, "/a/b/c", found(3)},
			{post, "/a/b/c", found(2)},
			{put, "/a/b/c", found(1)},
			{del, "/a/b/c", found(0)},
			{patch, "/a/b/c", notAllowed(set(get, post, put, del))},
			{get, "/a/b/c/d", notAllowed(set(post, put, del))},
			{patch, "/a/x", notAllowed(set(put, del))},
			{patch, "/z", notAllowed(set(del))},
		},
	},
	{
		name:   "405 carries the union of the matching candidates only",
		routes: []rt{{set(get), "/a/b"}, {set(post), "/a/*"}, {set(put), "/c/*"}, {set(patch), "/a/b/c"}, {set(options), "/a/b/*"}},
		probes: []probe{
			{del, "/a/b", notAllowed(set(get, post, options))},
			{del, "/a/x", notAllowed(set(post))},
			{del, "/a/b/c", notAllowed(set(patch, post, options))},
			{del, "/c", notAllowed(set(put))},
			{del, "/d", notFound},
		},
	},
	{
		// A route whose path matcher passes but whose boundary check fails,
		// after a method mismatch on an earlier candidate: still a 405.
		name:   "method mismatch followed by a near-miss prefix",
		routes: []rt{{set(get), "/a/bc"}, {set(post), "/a/b/*"}},
		probes: []probe{
			{del, "/a/bc", notAllowed(set(get))},
			{post, "/a/bc", notAllowed(set(get))},
			{get, "/a/bc", found(0)},
			{post, "/a/b", found(1)},
			{get, "/a/b", notAllowed(set(post))},
		},
	},
	{
		name:   "404",
		routes: []rt{{all, "/a"}, {set(get), "/b/*"}},
		probes: []probe{
			{get, "/c", notFound},
			{get, "/ab", notFound},
			{get, "/bc", notFound},
			{get, "/", notFound},
			{post, "/c", notFound},
			{unknown, "/c", notFound},
		},
	},
	{
		name:   "no routes",
		routes: nil,
		probes: []probe{{get, "/", notFound}, {get, "/a", notFound}},
	},
	{
		name:   "unknown method never matches",
		routes: []rt{{all, "/a"}, {all, "/b/*"}},
		probes: []probe{
			{unknown, "/a", notAllowed(all)},
			{unknown, "/b/c", notAllowed(all)},
			{pipeline.Method(99), "/a", notAllowed(all)},
			{unknown, "/c", notFound},
			{get, "/a", found(0)},
		},
	},
	{
		name:   "unknown method under a catch-all",
		routes: []rt{{all, "/*"}},
		probes: []probe{{unknown, "/anything", notAllowed(all)}, {options, "/anything", found(0)}},
	},
	{
		name:   "root exact",
		routes: []rt{{set(get), "/"}, {set(get, post), "/*"}},
		probes: []probe{
			{get, "/", found(0)},
			{post, "/", found(1)},
			{put, "/", notAllowed(set(get, post))},
			{get, "/a", found(1)},
		},
	},
	{
		name:   "root exact without a catch-all",
		routes: []rt{{set(get), "/"}, {all, "/a/*"}},
		probes: []probe{
			{get, "/", found(0)},
			{post, "/", notAllowed(set(get))},
			{get, "/b", notFound},
			{get, "/a", found(1)},
		},
	},
	{
		name:   "a path that does not start with '/' never matches",
		routes: []rt{{all, "/*"}, {all, "/a"}},
		probes: []probe{
			{get, "", notFound},
			{get, "a", notFound},
			{get, "*", notFound},
			{get, "/a", found(1)},
		},
	},
	{
		name:   "escapes are matched as bytes, never decoded",
		routes: []rt{{all, "/a%20b"}, {all, "/caf%C3%A9/*"}},
		probes: []probe{
			{get, "/a%20b", found(0)},
			{get, "/a b", notFound},
			{get, "/caf%C3%A9/menu", found(1)},
			{get, "/caf%C3%A9", found(1)},
			{get, "/caf%c3%a9/menu", notFound},
			{get, "/caf\xc3\xa9/menu", notFound},
		},
	},
	{
		name:   "regexp metacharacters are literal",
		routes: []rt{{all, "/a.b"}, {all, "/(x)+/*"}, {all, "/p|q"}, {all, "/$^[z]/*"}},
		probes: []probe{
			{get, "/a.b", found(0)},
			{get, "/aXb", notFound},
			{get, "/(x)+/y", found(1)},
			{get, "/xx/y", notFound},
			{get, "/p|q", found(2)},
			{get, "/p", notFound},
			{get, "/q", notFound},
			{get, "/$^[z]", found(3)},
			{get, "/z", notFound},
		},
	},
}

// Run is the behaviour test every router engine must pass.
func Run(t *testing.T, factory pipeline.RouterFactory) {
	t.Run("cases", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r, err := factory(specs(c.routes))
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				for _, p := range c.probes {
					if got := r.Match(p.m, p.path); got != p.want {
						t.Errorf("Match(%s, %q) = %s, want %s", methodName(p.m), p.path, show(got), show(p.want))
					}
				}
			})
		}
	})
	t.Run("returns RouteSpec.Index", func(t *testing.T) { testIndex(t, factory) })
	t.Run("invalid tables", func(t *testing.T) { testInvalid(t, factory) })
	t.Run("immutable", func(t *testing.T) { testImmutable(t, factory) })
	t.Run("many routes", func(t *testing.T) {
		for _, n := range FixtureSizes {
			t.Run(fmt.Sprint(n), func(t *testing.T) { testFixture(t, factory, n) })
		}
	})
	t.Run("concurrent", func(t *testing.T) { testConcurrent(t, factory) })
}

func testIndex(t *testing.T, factory pipeline.RouterFactory) {
	routes := []pipeline.RouteSpec{
		{Index: 7, Pattern: "/a/*", Methods: all},
		{Index: 3, Pattern: "/a/b", Methods: set(get)},
	}
	r, err := factory(routes)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, p := range []probe{{get, "/a/b", found(3)}, {post, "/a/b", found(7)}, {get, "/a", found(7)}} {
		if got := r.Match(p.m, p.path); got != p.want {
			t.Errorf("Match(%s, %q) = %s, want %s", methodName(p.m), p.path, show(got), show(p.want))
		}
	}
}

func testInvalid(t *testing.T, factory pipeline.RouterFactory) {
	valid := []string{"/", "/*", "/a", "/a/", "/a/*", "/a%20b/*", "/a:b@c!$&'()+,;="}
	for _, p := range valid {
		if _, err := factory([]pipeline.RouteSpec{{Pattern: p, Methods: all}}); err != nil {
			t.Errorf("pattern %q rejected: %v", p, err)
		}
	}
	invalid := []string{
		"", "a", "a/*", "*", "**", "/**", "/a*", "/a/*/b", "/*/a", "/a/**", "/a/*x", "/*a",
		"//", "//*", "/a//b", "/a//*", "/a/./b", "/./a", "/a/../b", "/a/.", "/a/..", "/../*",
		"/a%2Fb", "/a%2fb", "/%41", "/a%2e", "/a%", "/a%zz", "/a b", "/a\\b", "/a#b", "/a\x00",
		"/a?b", "/a{id}", "/a}", "/{a}/*", "/caf\xc3\xa9", "/\xff",
	}
	for _, p := range invalid {
		// The bad route sits between good ones: the whole table is refused.
		routes := []pipeline.RouteSpec{
			{Index: 0, Pattern: "/ok", Methods: all},
			{Index: 1, Pattern: p, Methods: all},
			{Index: 2, Pattern: "/ok2/*", Methods: all},
		}
		if r, err := factory(routes); err == nil {
			t.Errorf("pattern %q accepted, want an error", p)
		} else if r != nil {
			t.Errorf("pattern %q: error %v but a non-nil router", p, err)
		}
	}
	for _, ms := range []pipeline.MethodSet{0, 1 /* MethodUnknown only */, 1 << 15, all | 1} {
		if _, err := factory([]pipeline.RouteSpec{{Pattern: "/a", Methods: ms}}); err == nil {
			t.Errorf("method set %#x accepted, want an error", uint16(ms))
		}
	}
}

// testImmutable checks that New neither changes the caller's table nor keeps
// reading it afterwards.
func testImmutable(t *testing.T, factory pipeline.RouterFactory) {
	routes := specs([]rt{{set(get), "/b"}, {all, "/*"}, {set(post), "/a/*"}, {set(get), "/a/b"}, {all, "/a/b/*"}})
	orig := slices.Clone(routes)
	r, err := factory(routes)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if !slices.Equal(routes, orig) {
		t.Fatalf("New changed its input: %v, was %v", routes, orig)
	}
	probes := []probe{
		{get, "/a/b", found(3)}, {post, "/a/b", found(4)}, {post, "/a/x", found(2)},
		{get, "/b", found(0)}, {get, "/c", found(1)},
	}
	for i := range routes {
		routes[i] = pipeline.RouteSpec{Index: 100 + i, Pattern: "/zzz", Methods: set(del)}
	}
	for _, p := range probes {
		if got := r.Match(p.m, p.path); got != p.want {
			t.Errorf("after changing the input slice: Match(%s, %q) = %s, want %s", methodName(p.m), p.path, show(got), show(p.want))
		}
	}
}

// testFixture compares the engine with Reference on a generated table, over
// the sample requests and paths derived from every route.
func testFixture(t *testing.T, factory pipeline.RouterFactory, n int) {
	routes, reqs := Fixture(t, n)
	r, err := factory(routes)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ref := Reference(routes)
	check := func(m pipeline.Method, path string) pipeline.Match {
		want := ref.Match(m, path)
		if got := r.Match(m, path); got != want {
			t.Errorf("Match(%s, %q) = %s, want %s", methodName(m), path, show(got), show(want))
		}
		return want
	}
	// The sample requests must exercise every outcome, or the fixture (or the
	// generator) is broken and the benchmark measures the wrong thing.
	var hitsExact, hitsPrefix, notAllowed, missed int
	for _, q := range reqs {
		switch got := check(q.Method, q.Path); {
		case got.Status == pipeline.Found && strings.HasSuffix(routes[got.Route].Pattern, "/*"):
			hitsPrefix++
		case got.Status == pipeline.Found:
			hitsExact++
		case got.Status == pipeline.MethodNotAllowed:
			notAllowed++
		default:
			missed++
		}
	}
	if hitsExact == 0 || hitsPrefix == 0 || notAllowed == 0 || missed == 0 {
		t.Errorf("sample requests: %d exact hits, %d prefix hits, %d 405s, %d 404s; want some of each",
			hitsExact, hitsPrefix, notAllowed, missed)
	}
	// Paths derived from the routes, with several methods. Slow engines make
	// this the expensive part, so large tables use a sample of the routes.
	step := 1
	if len(routes) > 500 {
		step = len(routes) / 100
	}
	for i := 0; i < len(routes); i += step {
		base := strings.TrimSuffix(routes[i].Pattern, "/*")
		paths := []string{base, base + "/", base + "/x", base + "/x/y", base + "x"}
		if j := strings.LastIndexByte(base, '/'); j > 0 {
			paths = append(paths, base[:j])
		}
		for _, path := range paths {
			for _, m := range []pipeline.Method{unknown, get, post, del} {
				check(m, path)
			}
		}
	}
}

func testConcurrent(t *testing.T, factory pipeline.RouterFactory) {
	routes, reqs := Fixture(t, 500)
	r, err := factory(routes)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	want := make([]pipeline.Match, len(reqs))
	for i, q := range reqs {
		want[i] = r.Match(q.Method, q.Path)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 4; round++ {
				for i := range reqs {
					// Each goroutine walks the requests from a different start.
					k := (i + g*61) % len(reqs)
					if got := r.Match(reqs[k].Method, reqs[k].Path); got != want[k] {
						t.Errorf("concurrent Match(%s, %q) = %s, want %s", methodName(reqs[k].Method), reqs[k].Path, show(got), show(want[k]))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// Bench measures Match over the sample requests of the n-route fixture (exact
// and prefix hits, method mismatches, misses), cycling through them in file
// order.
//
// Besides the usual metrics it reports exact-allocs/op, the allocation count
// per Match as a fraction: the testing package rounds allocs/op down, which
// shows an engine that allocates on some requests only (gorilla/mux on hits)
// as 0.
func Bench(b *testing.B, factory pipeline.RouterFactory, n int) {
	routes, reqs := Fixture(b, n)
	r, err := factory(routes)
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	b.ReportAllocs()
	var sink pipeline.MatchStatus
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	i := 0
	for b.Loop() {
		q := &reqs[i]
		sink += r.Match(q.Method, q.Path).Status
		if i++; i == len(reqs) {
			i = 0
		}
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "exact-allocs/op")
	_ = sink
}

// Reference is a deliberately naive router used as the oracle for generated
// tables: it collects every route whose pattern matches, orders them by
// precedence and picks the first that allows the method. It allocates, does
// not validate patterns and is meant for tests only.
func Reference(routes []pipeline.RouteSpec) pipeline.Router {
	return reference(slices.Clone(routes))
}

type reference []pipeline.RouteSpec

func (ref reference) Match(m pipeline.Method, path string) pipeline.Match {
	if !strings.HasPrefix(path, "/") {
		return notFound
	}
	type cand struct {
		spec  pipeline.RouteSpec
		rank  int // exact: max; prefix: length of the base
		order int
	}
	var cands []cand
	for i, s := range ref {
		if base, ok := strings.CutSuffix(s.Pattern, "/*"); ok {
			if path == base || strings.HasPrefix(path, base+"/") {
				cands = append(cands, cand{s, len(base), i})
			}
		} else if path == s.Pattern {
			cands = append(cands, cand{s, int(^uint(0) >> 1), i})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		if a.rank != b.rank {
			return b.rank - a.rank // higher rank first (ranks are >= 0)
		}
		return a.order - b.order
	})
	var allow pipeline.MethodSet
	for _, c := range cands {
		if c.spec.Methods.Has(m) {
			return found(c.spec.Index)
		}
		allow |= c.spec.Methods
	}
	if allow != 0 {
		return notAllowed(allow)
	}
	return notFound
}

// FixtureSizes are the generated route tables in fixtures/routes.
var FixtureSizes = []int{50, 500, 5000}

// Request is one sample request of a fixture.
type Request struct {
	Method pipeline.Method
	Path   string
}

// Fixture loads fixtures/routes/routes-<n>.txt and requests-<n>.txt (written
// by `go run ./fixtures/routes/gen`). It finds the repository root by walking
// up from the working directory to go.mod.
func Fixture(tb testing.TB, n int) ([]pipeline.RouteSpec, []Request) {
	tb.Helper()
	dir := filepath.Join(repoRoot(tb), "fixtures", "routes")
	var routes []pipeline.RouteSpec
	readLines(tb, filepath.Join(dir, fmt.Sprintf("routes-%d.txt", n)), func(methods, pattern string) error {
		var ms pipeline.MethodSet
		if methods == "*" {
			ms = pipeline.AllMethods
		} else {
			for name := range strings.SplitSeq(methods, ",") {
				m := pipeline.ParseMethod(name)
				if m == pipeline.MethodUnknown {
					return fmt.Errorf("unknown method %q", name)
				}
				ms = ms.With(m)
			}
		}
		routes = append(routes, pipeline.RouteSpec{Index: len(routes), Pattern: pattern, Methods: ms})
		return nil
	})
	var reqs []Request
	readLines(tb, filepath.Join(dir, fmt.Sprintf("requests-%d.txt", n)), func(method, path string) error {
		reqs = append(reqs, Request{Method: pipeline.ParseMethod(method), Path: path})
		return nil
	})
	if len(routes) != n || len(reqs) == 0 {
		tb.Fatalf("fixture %d: %d routes and %d requests", n, len(routes), len(reqs))
	}
	return routes, reqs
}

// readLines calls fn with the two space-separated fields of every line that
// is neither empty nor a '#' comment.
func readLines(tb testing.TB, name string, fn func(a, b string) error) {
	tb.Helper()
	f, err := os.Open(name)
	if err != nil {
		tb.Fatalf("%v (run `go run ./fixtures/routes/gen`)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || text[0] == '#' {
			continue
		}
		a, b, ok := strings.Cut(text, " ")
		if !ok {
			tb.Fatalf("%s:%d: want two space-separated fields: %q", name, line, text)
		}
		if err := fn(a, b); err != nil {
			tb.Fatalf("%s:%d: %v", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("routertest: no go.mod above the working directory")
		}
		dir = parent
	}
}

func methodName(m pipeline.Method) string {
	if s := m.String(); s != "" {
		return s
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}

// show renders a Match for failure messages, every field included.
func show(m pipeline.Match) string {
	status := map[pipeline.MatchStatus]string{
		pipeline.NotFound: "NotFound", pipeline.Found: "Found", pipeline.MethodNotAllowed: "MethodNotAllowed",
	}[m.Status]
	if status == "" {
		status = fmt.Sprintf("Status(%d)", m.Status)
	}
	return fmt.Sprintf("{%s Route:%d Allow:%#x %q}", status, m.Route, uint16(m.Allow), m.Allow.Allow())
}
