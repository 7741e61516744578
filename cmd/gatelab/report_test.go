package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatelab/gatelab/reports"
)

// gatelab report -in renders report.md and report.html next to the results
// (the same bytes as the renderers produce); -baseline compares, and
// -fail-on-regression turns a significant regression into exit 1.
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "results.json")
	b, err := os.ReadFile("../../reports/testdata/results.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI("report", "-in", in)
	if code != 0 || !strings.Contains(out, "report.md") || !strings.Contains(out, "report.html") {
		t.Fatalf("report -in: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	r, err := reports.Read(in)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := reports.RenderMarkdown(&want, r); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, reports.MarkdownFile)); err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Errorf("report.md is not the rendered report (err %v)", err)
	}
	if html, err := os.ReadFile(filepath.Join(dir, reports.HTMLFile)); err != nil || !bytes.Contains(html, []byte("<svg")) {
		t.Errorf("report.html missing or without a chart (err %v)", err)
	}

	// Baseline: every repetition's p99 doubled in the new run. With two
	// repetitions a side no U test can call it, and the output says so;
	// with four it is a significant regression.
	for _, c := range []struct {
		reps     int
		wantCode int
	}{{2, 0}, {4, 1}} {
		base, cur := repsOf(r, c.reps, 1), repsOf(r, c.reps, 2)
		bp, cp := filepath.Join(dir, "base.json"), filepath.Join(dir, "cur.json")
		if err := reports.Write(bp, base); err != nil {
			t.Fatal(err)
		}
		if err := reports.Write(cp, cur); err != nil {
			t.Fatal(err)
		}
		code, out, stderr := runCLI("report", "-baseline", bp, "-in", cp, "-out", dir, "-fail-on-regression")
		if code != c.wantCode {
			t.Errorf("%d reps: exit %d, want %d\n%s\n%s", c.reps, code, c.wantCode, out, stderr)
		}
		if c.reps == 2 && !strings.Contains(out, "-reps 4") {
			t.Errorf("2 reps: no advice on repetitions:\n%s", out)
		}
		if c.reps == 4 && !strings.Contains(out, "regression") {
			t.Errorf("4 reps: regression not marked:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(dir, reports.CompareFile)); err != nil {
			t.Errorf("compare.md not written: %v", err)
		}
	}

	// Bad input: exit 2 and one line saying why.
	if err := os.WriteFile(filepath.Join(dir, "old.json"), []byte(`{"schema":"gatelab.results/v0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-in", filepath.Join(dir, "missing.json")}, {"-in", filepath.Join(dir, "old.json")}} {
		code, _, stderr := runCLI(append([]string{"report"}, args...)...)
		if code != 2 || !strings.HasPrefix(stderr, "gatelab report: ") {
			t.Errorf("%v: exit %d stderr %q, want 2 with the reason", args, code, stderr)
		}
	}
	if code, _, stderr := runCLI("report"); code != 2 || !strings.Contains(stderr, "-in is required") {
		t.Errorf("no -in: exit %d %q", code, stderr)
	}
}

// repsOf keeps the steady scenario of r with its gatelab-fasthttp target's
// first valid record copied into n repetitions, p99 times factor.
func repsOf(r *reports.Results, n int, factor float64) *reports.Results {
	var rec reports.Record
	var s reports.ScenarioResult
	for _, sc := range r.Scenarios {
		if sc.Name == "steady" {
			s = sc
		}
	}
	for _, x := range s.Records {
		if x.Target == "gatelab-fasthttp-trie-local" && x.Valid {
			rec = x
			break
		}
	}
	s.Records = nil
	for i := 0; i < n; i++ {
		x := rec
		x.Rep = i + 1
		x.Latency.P99 = rec.Latency.P99 * factor * (1 + 0.01*float64(i))
		s.Records = append(s.Records, x)
	}
	out := *r
	out.Scenarios = []reports.ScenarioResult{s}
	return &out
}
