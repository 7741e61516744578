package reports

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/report.golden.md from testdata/results.json")

// TestReportGolden renders report.md from a fixed results.json (a real lab
// run, trimmed) and compares it byte for byte with the golden file: a
// schema change (a renamed or dropped field decodes as zero) or a renderer
// change shows up as a diff. After an intended change:
// go test ./reports/ -run Golden -update, and review the diff.
func TestReportGolden(t *testing.T) {
	r, err := Read("testdata/results.json")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := RenderMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/report.golden.md"
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("report.md differs from %s at line %d:\n got: %s\nwant: %s", golden, i+1, g, w)
			}
		}
	}
	// What the issue asks report.md to carry, present in this run.
	for _, want := range []string{
		"| **FAIL** | throughput | `gatelab-fasthttp-trie-local` | `rps.ratio{target:gatelab-fasthttp-trie-local, vs:nginx}` |", // a budget row, observed and expected
		"## Scenario `backend-down`", "fault upstream.kill `orders-down`", // a fault window
		"overhead p99.9", "CPU / 1k req", "RSS", // the ranking's columns
		"Throughput at the knee", // the knee
		"## Manifest", "sha256",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// TestReportMarksInvalidAndSkipped: an invalid repetition and a skipped
// target are listed with their reasons, and markup in names is escaped.
func TestReportMarksInvalidAndSkipped(t *testing.T) {
	r := &Results{Schema: Schema, RunID: "x", Verdict: Invalid, ExitCode: 2, Scenarios: []ScenarioResult{{
		Name: "steady", Load: LoadPlan{Mode: "open", Stages: []Stage{{DurationS: 6, Rate: 1000}}},
		Targets: []Target{{Name: "gatelab-nethttp-trie-redis", Skipped: "redis-server not installed"}, {Name: "a|b<script>"}},
		Records: []Record{{Target: "a|b<script>", Rep: 1, Invalid: "generator 80 ms behind", Superseded: true},
			{Target: "a|b<script>", Rep: 1, Invalid: "achieved 612 of 1000 req/s (61 %)"}},
		Summary: []Summary{{Target: "a|b<script>", Reps: 1}},
	}}}
	var b bytes.Buffer
	if err := RenderMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"# gatelab bench x: INVALID", "| **INVALID** | `a\\|b<script>` | 1 | achieved 612 of 1000 req/s (61 %) |",
		"| superseded (run again) | `a\\|b<script>` | 1 | generator 80 ms behind |",
		"| skipped | `gatelab-nethttp-trie-redis` | - | redis-server not installed |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// A target without a process of its own (the direct run) shows "-" for CPU
// and RSS in both reports, never a measured-looking zero.
func TestNoResourcesShowAsDash(t *testing.T) {
	r := &Results{Schema: Schema, RunID: "x", Scenarios: []ScenarioResult{{Name: "steady", Load: LoadPlan{Mode: "closed", Workers: 1},
		Targets: []Target{{Name: "direct", Kind: "direct"}},
		Summary: []Summary{{Target: "direct", Reps: 1, Valid: 1, RPS: Spread{Median: 1000, Min: 1000, Max: 1000},
			P50: Spread{Median: 500, Min: 500, Max: 500}, P99: Spread{Median: 900, Min: 900, Max: 900}, P999: Spread{Median: 990, Min: 990, Max: 990}}}}}}
	var md, html bytes.Buffer
	if err := RenderMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if err := RenderHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| 500 µs | 900 µs | 990 µs | 0 | - | - |") {
		t.Errorf("report.md: the direct run's CPU and RSS are not '-':\n%s", md.String())
	}
	if out := html.String(); strings.Contains(out, "0.00 µs") || strings.Contains(out, ">0 MB") {
		t.Errorf("report.html shows a zero CPU or RSS for the direct run")
	}
}
