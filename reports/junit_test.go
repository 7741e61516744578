package reports

import (
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"
)

func sample() *Results {
	obs := 0.0123
	return &Results{
		Schema: Schema, RunID: "r1", Profile: "quick",
		Scenarios: []ScenarioResult{{
			Name: "steady", File: "steady.yaml",
			Targets: []Target{{Name: "gatelab-a"}, {Name: "nginx", Skipped: "nginx is not installed"}},
			Records: []Record{
				{Target: "gatelab-a", Rep: 1, Valid: false, Invalid: "achieved 10 req/s", Superseded: true},
				{Target: "gatelab-a", Rep: 1, Valid: true},
				{Target: "gatelab-b", Rep: 1, Valid: false, Invalid: "generator saturated"},
			},
			Budgets: []Budget{
				{Expr: "overhead.p99 < 10ms", Line: 7, Target: "gatelab-a", Observed: &obs, Text: "12.3ms", Verdict: Fail},
				{Expr: "availability >= 99%", Target: "gatelab-a", Text: "100%", Verdict: Pass},
				{Expr: "availability >= 99%", Target: "gatelab-b", Verdict: Invalid, Detail: "the run is INVALID"},
				{Expr: "availability >= 99%", Target: "nginx", Verdict: Skip, Detail: "target skipped"},
			},
		}},
	}
}

func TestJUnit(t *testing.T) {
	var b strings.Builder
	if err := WriteJUnit(&b, sample()); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, b.String())
	}
	// 4 budgets + the skipped target + the one invalid record not superseded.
	if doc.Tests != 6 || doc.Failures != 1 || doc.Errors != 2 || doc.Skipped != 2 {
		t.Fatalf("counts tests=%d failures=%d errors=%d skipped=%d\n%s", doc.Tests, doc.Failures, doc.Errors, doc.Skipped, b.String())
	}
	f := doc.Suites[0].Cases[0]
	if f.Name != "gatelab-a: overhead.p99 < 10ms" || f.Failure == nil ||
		f.Failure.Message != "observed 12.3ms, expected overhead.p99 < 10ms (steady.yaml:7)" {
		t.Fatalf("failure case %+v", f)
	}
}

func TestWriteRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "results.json")
	if err := Write(p, sample()); err != nil {
		t.Fatal(err)
	}
	r, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if *r.Scenarios[0].Budgets[0].Observed != 0.0123 || !r.Scenarios[0].Records[0].Superseded {
		t.Fatalf("round trip lost data: %+v", r.Scenarios[0])
	}
	bad := sample()
	bad.Schema = "gatelab.results/v0"
	if err := Write(p, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(p); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Fatalf("a file of another schema was read: %v", err)
	}
}

func TestBudgetTable(t *testing.T) {
	var b strings.Builder
	BudgetTable(&b, sample())
	out := b.String()
	for _, want := range []string{"FAIL    gatelab-a  overhead.p99 < 10ms: 12.3ms", "INVALID gatelab-b  availability >= 99%: the run is INVALID", "SKIP    nginx"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
