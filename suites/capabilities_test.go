package suites_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatelab/gatelab/suites"
)

func TestCapabilitiesLoad(t *testing.T) {
	c, err := suites.LoadCapabilities("testdata/capabilities.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Implementation.Name != "my-gateway" || c.Implementation.Version != "2.3.1" || c.Implementation.Mode["workers"] != "4" || c.Implementation.Mode["tls"] != "off" {
		t.Errorf("implementation %+v", c.Implementation)
	}
	if w := []suites.Feature{suites.RoutingPrefix, suites.RoutingExact, suites.HeadersForwarded}; !slices.Equal(c.Features, w) {
		t.Errorf("features %v, want %v", c.Features, w)
	}
	if c.Upstreams["alpha"] != "127.0.0.1:18081" || c.Upstreams["dead"] != "127.0.0.1:18084" || len(c.Upstreams) != 4 {
		t.Errorf("upstreams %v", c.Upstreams)
	}
	if c.File != "testdata/capabilities.yaml" {
		t.Errorf("file %q", c.File)
	}
	if _, err := suites.LoadCapabilities("testdata/no-such-file.yaml"); err == nil || !strings.Contains(err.Error(), "no-such-file") {
		t.Errorf("missing file: %v", err)
	}
}

// Every problem of a file is reported, each with its line, not only the
// first.
func TestCapabilitiesEveryProblemWithItsLine(t *testing.T) {
	const file = `implementation:
  name: "bad name"
  vendor: acme
features:
  - routing.prefix
  - routing.teleport
  - routing.prefix
upstream_hosts: 1
upstreams:
  alpha: 127.0.0.1:18081
  beta: example.com:80
  delta: 127.0.0.1:18085
  dead: 127.0.0.1:0
`
	_, err := suites.ParseCapabilities([]byte(file), "caps.yaml")
	var ps suites.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v (%T), want Problems", err, err)
	}
	want := []struct {
		line int
		text string
	}{
		{2, `"bad name": only letters`},
		{3, "field vendor not found"},
		{1, "implementation.version: missing"},
		{6, `unknown feature "routing.teleport"`},
		{7, "routing.prefix is also features[0]"},
		{8, "field upstream_hosts not found"},
		{9, "no address for backend gamma"},
		{11, "the host must be an IP address"},
		{12, `unknown backend "delta"`},
		{13, "the port must be 1..65535"},
	}
	for _, w := range want {
		found := false
		for _, p := range ps {
			found = found || p.Line == w.line && strings.Contains(p.String(), w.text)
		}
		if !found {
			t.Errorf("no problem on line %d with %q in:\n%v", w.line, w.text, err)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(ps), len(want), err)
	}
	if !strings.HasPrefix(ps[0].String(), "caps.yaml:") {
		t.Errorf("problem %q does not name the file", ps[0])
	}
	t.Logf("the problems as printed:\n%v", err)
	if !strings.Contains(err.Error(), "known: routing.prefix,") {
		t.Errorf("unknown feature problem does not list the known ones:\n%v", err)
	}
}

func TestCapabilitiesSyntaxAndEmpty(t *testing.T) {
	_, err := suites.ParseCapabilities([]byte("features: [routing.prefix\n"), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), "invalid YAML") {
		t.Errorf("syntax error: %v", err)
	}
	_, err = suites.ParseCapabilities(nil, "c.yaml")
	for _, s := range []string{"implementation.name: missing", "features: none declared", "no address for backend alpha"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("empty file: %v; want %q", err, s)
		}
	}
}

// Every feature a case needs can be declared in a capabilities file.
func TestCapabilitiesKnowEveryCaseFeature(t *testing.T) {
	for _, f := range suites.AllFeatures() {
		if !slices.Contains(suites.KnownFeatures, f) {
			t.Errorf("feature %s is needed by a case but missing from KnownFeatures", f)
		}
	}
	for _, r := range suites.Routes {
		if !slices.Contains(suites.KnownFeatures, r.Needs) {
			t.Errorf("route %s needs %q, not in KnownFeatures", r.ID, r.Needs)
		}
	}
}
