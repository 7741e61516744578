package suites_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatelab/gatelab/suites"
	"go.yaml.in/yaml/v3"
)

// fakeReport runs fakeCases against a fake target declaring only
// routing.prefix.
func fakeReport(t *testing.T) *suites.Report {
	t.Helper()
	var past atomic.Bool
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return suites.Run(context.Background(), newFakeTarget(t, suites.RoutingPrefix), fakeCases(&past, release), suites.Options{Version: "v-test"})
}

// The YAML report decodes back into the same report (strictly: every key
// it writes is a field), with the counts, ids and reasons of the run.
func TestReportYAMLRoundTrip(t *testing.T) {
	t.Parallel()
	rep := fakeReport(t)
	var b bytes.Buffer
	if err := rep.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	var back suites.Report
	dec := yaml.NewDecoder(&b)
	dec.KnownFields(true)
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("decoding the report: %v\n%s", err, b.String())
	}
	if back.APIVersion == "" || back.Kind != "ConformanceReport" || back.Target != "fake" || back.GatelabVersion != "v-test" || back.Date != rep.Date {
		t.Errorf("header: %+v", back)
	}
	if back.Implementation.Name != "fake" || back.Implementation.Version != "0.1" || back.Implementation.Mode["server"] != "httptest" {
		t.Errorf("implementation: %+v", back.Implementation)
	}
	// Per level: core has pass, errorf, fatalf, panic, two overruns;
	// extended has skipf and undeclared.
	want := map[suites.Level]struct {
		result                  string
		passed, failed, skipped int
	}{
		suites.Core:     {suites.Failure, 1, 5, 0},
		suites.Extended: {suites.Partial, 0, 0, 2},
	}
	if len(back.Profiles) != len(want) {
		t.Fatalf("profiles %+v", back.Profiles)
	}
	for _, p := range back.Profiles {
		w := want[p.Level]
		if p.Result != w.result || p.Passed != w.passed || p.Failed != w.failed || p.Skipped != w.skipped {
			t.Errorf("%s: %s %d/%d/%d, want %s %d/%d/%d", p.Level, p.Result, p.Passed, p.Failed, p.Skipped, w.result, w.passed, w.failed, w.skipped)
		}
		for _, refs := range [][]suites.CaseRef{p.Fails, p.Skips} {
			for _, r := range refs {
				if r.ID == "" || r.Reason == "" {
					t.Errorf("%s: a case reference without id or reason: %+v", p.Level, r)
				}
			}
		}
	}
	var fails []string
	for _, r := range back.Profiles[0].Fails {
		fails = append(fails, r.ID)
	}
	slices.Sort(fails)
	if w := []string{"fake/errorf", "fake/fatalf", "fake/overrun-ctx", "fake/overrun-stuck", "fake/panic"}; !slices.Equal(fails, w) {
		t.Errorf("core failedTests %v, want %v", fails, w)
	}
	if len(back.Cases) != len(rep.Cases) {
		t.Fatalf("%d cases back, %d written", len(back.Cases), len(rep.Cases))
	}
	for i, c := range back.Cases {
		o := rep.Cases[i]
		if c.ID != o.ID || c.Level != o.Level || c.Outcome != o.Outcome || c.Reason != o.Reason || !slices.Equal(c.Features, o.Features) || !slices.Equal(c.Log, o.Log) {
			t.Errorf("case %d: %+v back, %+v written", i, c, o)
		}
	}
	// Features: routing.prefix declared, the others the cases need not;
	// every feature a case needs is in exactly one list.
	if !slices.Contains(back.Supported, suites.RoutingPrefix) {
		t.Errorf("supported %v lacks routing.prefix", back.Supported)
	}
	for _, f := range []suites.Feature{suites.CORS, suites.AuthJWT} {
		if !slices.Contains(back.Unsupported, f) || slices.Contains(back.Supported, f) {
			t.Errorf("%s: supported %v unsupported %v", f, back.Supported, back.Unsupported)
		}
	}
	for _, f := range suites.AllFeatures() {
		if slices.Contains(back.Supported, f) == slices.Contains(back.Unsupported, f) {
			t.Errorf("%s is in both feature lists or in neither", f)
		}
	}
}

type junitDoc struct {
	XMLName xml.Name `xml:"testsuites"`
	Suites  []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// JUnit XML: a suite per report, a case per conformance case, counts that
// match the elements.
func TestReportJUnit(t *testing.T) {
	t.Parallel()
	rep := fakeReport(t)
	other := suites.Run(context.Background(), newFakeTarget(t, suites.RoutingPrefix), []suites.Case{
		{ID: "only/pass", Level: suites.Core, Run: func(*suites.T) {}},
	}, suites.Options{})
	var b bytes.Buffer
	if err := suites.WriteJUnit(&b, rep, other); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "<?xml") {
		t.Errorf("no XML header: %.60q", b.String())
	}
	var doc junitDoc
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("parsing: %v\n%s", err, b.String())
	}
	if len(doc.Suites) != 2 {
		t.Fatalf("%d suites, want 2", len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Name != "conformance/fake" || s.Tests != 8 || s.Failures != 5 || s.Skipped != 2 || len(s.Cases) != 8 {
		t.Errorf("suite %s: tests %d failures %d skipped %d cases %d; want 8 5 2 8", s.Name, s.Tests, s.Failures, s.Skipped, len(s.Cases))
	}
	fails, skips := 0, 0
	for _, c := range s.Cases {
		if c.Failure != nil {
			fails++
			if c.Failure.Message == "" {
				t.Errorf("%s: failure without a message", c.Name)
			}
		}
		if c.Skipped != nil {
			skips++
		}
		if c.Name == "fake/panic" && (c.Failure == nil || !strings.Contains(c.Failure.Message, "panic")) {
			t.Errorf("fake/panic: %+v", c.Failure)
		}
		if !strings.HasPrefix(c.Classname, "conformance.fake.") {
			t.Errorf("%s: classname %q", c.Name, c.Classname)
		}
	}
	if fails != s.Failures || skips != s.Skipped {
		t.Errorf("%d failure and %d skipped elements; attributes say %d and %d", fails, skips, s.Failures, s.Skipped)
	}
	if s2 := doc.Suites[1]; s2.Tests != 1 || s2.Failures != 0 || s2.Skipped != 0 {
		t.Errorf("second suite %+v", s2)
	}
}

// The console summary: one line per level with its counts, each failed
// case with its reason, the unsupported features.
func TestReportSummary(t *testing.T) {
	t.Parallel()
	rep := fakeReport(t)
	var b bytes.Buffer
	rep.Summary(&b)
	out := b.String()
	for _, s := range []string{
		"fake (fake 0.1 server=httptest)",
		"core     failure  passed 1, failed 5, skipped 0",
		"extended partial  passed 0, failed 0, skipped 2",
		"FAIL fake/errorf: first problem; second problem 2",
		"FAIL fake/panic: panic",
		"unsupported: ",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("summary lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "FAIL fake/pass") || strings.Contains(out, "FAIL fake/skipf") {
		t.Errorf("summary lists a case that did not fail:\n%s", out)
	}
}
