package main

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatelab/gatelab/harness/peers"
	"github.com/gatelab/gatelab/internal/testproc"
	"github.com/gatelab/gatelab/suites"
	"go.yaml.in/yaml/v3"
)

// readConformReport decodes <dir>/<name>.yaml strictly.
func readConformReport(t *testing.T, dir, name string) *suites.Report {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name+".yaml"))
	if err != nil {
		t.Fatalf("report of %s: %v", name, err)
	}
	defer f.Close()
	var r suites.Report
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("report of %s: %v", name, err)
	}
	return &r
}

// junitSuites reads <dir>/junit.xml: suite name -> tests.
func junitSuites(t *testing.T, dir string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Tests int    `xml:"tests,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("junit.xml: %v", err)
	}
	m := map[string]int{}
	for _, s := range doc.Suites {
		m[s.Name] = s.Tests
	}
	return m
}

// gatelab conform against one engine combination and nginx, with a -cases
// selection: the reports are written, the selected cases ran, exit 0.
func TestConformReferenceAndPeer(t *testing.T) {
	bin := testproc.Binary(t)
	dir := t.TempDir()
	root, _ := filepath.Abs("../..")
	wantPeer := true
	if _, err := peers.Find(peers.KindNginx); err != nil {
		if os.Getenv("GATELAB_REQUIRE_NGINX") == "1" {
			t.Fatal(err)
		}
		wantPeer = false
	}
	code, out, stderr := runCLI("conform", "-bin", bin, "-root", root, "-engines", "nethttp-trie-local",
		"-peers", "nginx", "-cases", "routing/", "-report", dir)
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr)
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	names := []string{"gatelab-nethttp-trie-local"}
	if wantPeer {
		names = append(names, "nginx")
	} else if !strings.Contains(out, "notice: not run: nginx") {
		t.Errorf("nginx missing and no notice says so")
	}
	suitesByName := junitSuites(t, dir)
	if len(suitesByName) != len(names) {
		t.Errorf("junit suites %v, want %v", suitesByName, names)
	}
	for _, n := range names {
		r := readConformReport(t, dir, n)
		if r.Target != n || len(r.Cases) != len(suites.All()) {
			t.Errorf("%s: target %q, %d cases (want all %d listed)", n, r.Target, len(r.Cases), len(suites.All()))
		}
		ran := 0
		for _, c := range r.Cases {
			selected := strings.HasPrefix(c.ID, "routing/")
			if !selected && (c.Outcome != suites.Skipped || !strings.Contains(c.Reason, "-cases")) {
				t.Errorf("%s: %s not selected but %s (%s)", n, c.ID, c.Outcome, c.Reason)
			}
			// Every target passes every routing case it runs (nginx
			// declares only routing.prefix and skips the others).
			if selected && c.Outcome == suites.Failed {
				t.Errorf("%s: %s failed: %s", n, c.ID, c.Reason)
			}
			if c.Outcome == suites.Passed {
				ran++
			}
		}
		if ran == 0 {
			t.Errorf("%s: no routing case passed", n)
		}
		if suitesByName["conformance/"+n] != len(r.Cases) {
			t.Errorf("%s: junit has %d tests, the report %d cases", n, suitesByName["conformance/"+n], len(r.Cases))
		}
		if !strings.Contains(out, n+" (") {
			t.Errorf("no summary for %s on stdout", n)
		}
	}
	if !strings.Contains(out, "conformance: every core case passed on every reference target") || !strings.Contains(out, dir) {
		t.Errorf("final line missing:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "config", "gatelab-nethttp-trie-local.yaml")); err != nil {
		t.Errorf("the reference gateway's rendered config was not kept: %v", err)
	}
}

// prefixProxy is a user's "gateway" for the test: the fixture's prefix
// routes ("/x/*" matches /x and below, the longest wins) with strip_prefix,
// to the upstreams of the capabilities file; broken sends everything to
// alpha.
func prefixProxy(t *testing.T, upstreams map[string]string, broken bool) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var best *suites.Route
		for i, rt := range suites.Routes {
			base, ok := strings.CutSuffix(rt.Pattern, "/*")
			if !ok || rt.Needs != suites.RoutingPrefix || r.URL.Path != base && !strings.HasPrefix(r.URL.Path, base+"/") {
				continue
			}
			if best == nil || len(rt.Pattern) > len(best.Pattern) {
				best = &suites.Routes[i]
			}
		}
		if best == nil {
			http.NotFound(w, r)
			return
		}
		b := best.Backend
		if broken {
			b = suites.BackendAlpha
		}
		// Strip on the escaped path, so escapes reach the backend as sent.
		raw := strings.TrimPrefix(r.URL.EscapedPath(), best.Strip)
		if raw == "" {
			raw = "/"
		}
		r.URL.Path, _ = url.PathUnescape(raw)
		r.URL.RawPath = raw
		httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstreams[b]}).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// gatelab conform -target: conform starts the echo upstreams where the
// capabilities file says, runs the cases its features allow, names the
// report after it; as the only target, its core failures fail the run.
func TestConformExternalTarget(t *testing.T) {
	bin := testproc.Binary(t)
	root, _ := filepath.Abs("../..")
	ups := map[string]string{}
	for _, b := range []string{"alpha", "beta", "gamma", "dead"} {
		ups[b] = testproc.FreeAddr(t)
	}
	caps := fmt.Sprintf(`implementation: {name: my-proxy, version: "0.1", mode: {kind: test}}
features: [routing.prefix]
upstreams: {alpha: %q, beta: %q, gamma: %q, dead: %q}
`, ups["alpha"], ups["beta"], ups["gamma"], ups["dead"])
	capsFile := filepath.Join(t.TempDir(), "caps.yaml")
	if err := os.WriteFile(capsFile, []byte(caps), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		broken bool
		code   int
		final  string
	}{
		{false, 0, "conformance: every core case passed;"},
		{true, 1, "conformance: FAILED on my-proxy"},
	} {
		t.Run(fmt.Sprintf("broken=%v", c.broken), func(t *testing.T) {
			dir := t.TempDir()
			code, out, stderr := runCLI("conform", "-bin", bin, "-root", root, "-target", prefixProxy(t, ups, c.broken),
				"-capabilities", capsFile, "-report", dir, "-cases", "routing/,upstream/backend-answers-pass-through")
			t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr)
			if code != c.code || !strings.Contains(out, c.final) {
				t.Fatalf("exit %d, want %d with %q", code, c.code, c.final)
			}
			r := readConformReport(t, dir, "my-proxy")
			if r.Implementation.Version != "0.1" || r.Implementation.Mode["kind"] != "test" || !slices.Equal(r.Supported, []suites.Feature{suites.RoutingPrefix}) {
				t.Errorf("report %+v", r)
			}
			for _, cr := range r.Cases {
				selected := strings.HasPrefix(cr.ID, "routing/") || cr.ID == "upstream/backend-answers-pass-through"
				needsOther := slices.ContainsFunc(cr.Features, func(f suites.Feature) bool { return f != suites.RoutingPrefix })
				if !selected && (cr.Outcome != suites.Skipped || !strings.Contains(cr.Reason, "-cases")) {
					t.Errorf("%s not selected but %s (%s)", cr.ID, cr.Outcome, cr.Reason)
				}
				if selected && needsOther && (cr.Outcome != suites.Skipped || !strings.Contains(cr.Reason, "does not declare")) {
					t.Errorf("%s needs an undeclared feature but %s (%s)", cr.ID, cr.Outcome, cr.Reason)
				}
				if selected && !needsOther && cr.Outcome != suites.Passed && !c.broken {
					t.Errorf("%s: %s %s", cr.ID, cr.Outcome, cr.Reason)
				}
				if cr.ID == "routing/longest-prefix" && (cr.Outcome == suites.Failed) != c.broken {
					t.Errorf("%s: %s %s", cr.ID, cr.Outcome, cr.Reason)
				}
			}
		})
	}
}

// Bad input: exit 2, nothing run.
func TestConformBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "caps.yaml")
	if err := os.WriteFile(bad, []byte("implementation: {name: x}\nfeatures: [teleport]\ncolour: blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-engines", "nethttp-trie"}, "want SERVER-ROUTER-LIMITER"},
		{[]string{"-engines", "apache-trie-local"}, `no server engine is named "apache"`},
		{[]string{"-peers", "envoy"}, `unknown peer "envoy"`},
		{[]string{"-features", "routing.prefix,teleport"}, `unknown "teleport"`},
		{[]string{"-cases", "no-such-group/"}, `no case id begins with "no-such-group/"`},
		{[]string{"-target", "http://127.0.0.1:1"}, "-target needs -capabilities"},
		{[]string{"-admin", "http://127.0.0.1:1"}, "go with -target"},
		{[]string{"-target", "http://127.0.0.1:1", "-capabilities", bad, "-engines", "all"}, "with -target only your gateway runs"},
		{[]string{"-engines", "none", "-peers", "none"}, "nothing to run"},
		{[]string{"-parallel", "0"}, "-parallel 0"},
		{[]string{"-target", "127.0.0.1:8080", "-capabilities", bad}, "-target: \"127.0.0.1:8080\": want http://HOST:PORT"},
		{[]string{"-target", "http://127.0.0.1:1", "-admin", "http://h:1/?x", "-capabilities", bad}, "-admin: "},
	} {
		code, out, stderr := runCLI(append([]string{"conform"}, c.args...)...)
		if code != 2 || out != "" || strings.Count(stderr, c.msg) != 1 {
			t.Errorf("%v: exit %d stdout %q stderr %q; want 2 and %q once", c.args, code, out, stderr, c.msg)
		}
	}
	// A bad capabilities file: every problem with its line, exit 2.
	code, _, stderr := runCLI("conform", "-target", "http://127.0.0.1:1", "-capabilities", bad)
	for _, s := range []string{":1: implementation.version: missing", `:2: features[0]: unknown feature "teleport"`, ":3: field colour not found", "no address for backend alpha"} {
		if code != 2 || !strings.Contains(stderr, s) {
			t.Errorf("bad capabilities: exit %d, stderr lacks %q:\n%s", code, s, stderr)
		}
	}
}

// A reference target that does not start fails the run, and the reports
// say so: a failed "target/start" case in its YAML and in junit.xml.
func TestConformTargetDidNotStart(t *testing.T) {
	bin := testproc.Binary(t)
	root, _ := filepath.Abs("../..")
	// The real binary for everything but "serve", which fails at once.
	wrapper := filepath.Join(t.TempDir(), "gatelab-no-serve")
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = serve ]; then echo 'broken on purpose' >&2; exit 3; fi\nexec %q \"$@\"\n", bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	code, out, stderr := runCLI("conform", "-bin", wrapper, "-root", root, "-engines", "nethttp-trie-local", "-peers", "none",
		"-cases", "routing/longest-prefix", "-report", dir)
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr)
	if code != 1 || !strings.Contains(out, "gatelab-nethttp-trie-local: did not start") || !strings.Contains(out, "FAILED on gatelab-nethttp-trie-local") {
		t.Fatalf("exit %d; want 1 with the start failure on stdout", code)
	}
	r := readConformReport(t, dir, "gatelab-nethttp-trie-local")
	if len(r.Cases) != 1 || r.Cases[0].ID != "target/start" || r.Cases[0].Outcome != suites.Failed || len(r.Profiles) != 1 || r.Profiles[0].Result != suites.Failure {
		t.Errorf("report %+v", r)
	}
	if n := junitSuites(t, dir)["conformance/gatelab-nethttp-trie-local"]; n != 1 {
		t.Errorf("junit: %d tests for the target, want 1", n)
	}
}
