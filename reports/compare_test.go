package reports

import (
	"bytes"
	"strings"
	"testing"
)

// spreadA and spreadB are two fixed draws of the same ±8 % spread around
// 1: a run-to-run jitter that a U test must not take for a change.
var (
	spreadA = []float64{0.92, 0.97, 1.00, 1.03, 1.08, 0.95}
	spreadB = []float64{1.05, 0.93, 0.99, 1.02, 0.96, 1.07}
)

// runOf builds a results file with one open-model scenario and one target
// whose repetitions' p99 and p99.9 are p99us times the spread; p50 and CPU
// carry the same spread around fixed values, RSS is constant.
func runOf(id string, p99us float64, spread []float64) *Results {
	s := ScenarioResult{Name: "steady", Load: LoadPlan{Mode: "open"}, Targets: []Target{{Name: "gatelab-fasthttp-trie-local", Kind: "gatelab"}}}
	for i, j := range spread {
		s.Records = append(s.Records, Record{Target: "gatelab-fasthttp-trie-local", Rep: i + 1, Valid: true,
			Latency:   Quantiles{P50: 500 * j, P99: p99us * j, P999: 3 * p99us * j},
			Resources: Resources{CPUPer1kMS: 60 * j, PeakRSSBytes: 40e6}})
	}
	// A superseded attempt and an invalid one never enter a sample.
	s.Records = append(s.Records, Record{Target: "gatelab-fasthttp-trie-local", Rep: 1, Superseded: true, Latency: Quantiles{P99: 1e9}},
		Record{Target: "gatelab-fasthttp-trie-local", Rep: 2, Invalid: "achieved 50 %", Latency: Quantiles{P99: 1e9}})
	return &Results{Schema: Schema, RunID: id, Scenarios: []ScenarioResult{s}}
}

func row(t *testing.T, d *Diff, metric string) DiffRow {
	t.Helper()
	for _, r := range d.Rows {
		if r.Metric == metric {
			return r
		}
	}
	t.Fatalf("no %s row in %+v", metric, d.Rows)
	return DiffRow{}
}

func TestCompareMarksADoubledP99AsARegression(t *testing.T) {
	base := runOf("base", 2000, spreadA)
	slow := runOf("slow", 4000, spreadB)
	d := Compare(base, slow, 0)
	r := row(t, d, "latency p99")
	if r.Change != Regression || r.P >= 0.05 || len(r.Base) != 6 || len(r.Cur) != 6 {
		t.Fatalf("2x p99: change %q p %.4f n %d+%d, want a regression with p < 0.05 over 6+6", r.Change, r.P, len(r.Base), len(r.Cur))
	}
	if r.Delta < 0.7 || r.Delta > 1.3 {
		t.Errorf("delta %.2f, want about +100 %%", r.Delta)
	}
	// The same change read the other way round is an improvement.
	if r := row(t, Compare(slow, base, 0), "latency p99"); r.Change != Improvement {
		t.Errorf("halved p99: change %q, want improvement", r.Change)
	}
	var b bytes.Buffer
	if err := RenderDiffMarkdown(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if got := d.Changed(Regression); len(got) != 2 || got[0].Metric != "latency p99" || got[1].Metric != "latency p99.9" {
		t.Errorf("regressions %+v, want exactly p99 and p99.9", got)
	}
	if got := d.Changed(Improvement); len(got) != 0 {
		t.Errorf("improvements %+v, want none", got)
	}
	if !strings.Contains(out, "## Regressions") || strings.Contains(out, "## Improvements") {
		t.Errorf("rendered diff does not list exactly the regression:\n%s", out)
	}
}

func TestCompareLeavesAnUnchangedRunUnmarked(t *testing.T) {
	d := Compare(runOf("a", 2000, spreadA), runOf("b", 2000, spreadB), 0)
	if len(d.Rows) != 5 {
		t.Fatalf("%d rows, want 5 (p50, p99, p99.9, CPU, RSS; no req/s in the open model, no overhead without a baseline)", len(d.Rows))
	}
	for _, r := range d.Rows {
		if r.Change != "" || r.TooFew {
			t.Errorf("%s: change %q p %.3f too few %v, want no change", r.Metric, r.Change, r.P, r.TooFew)
		}
	}
}

func TestCompareSaysWhenRepetitionsAreTooFew(t *testing.T) {
	d := Compare(runOf("a", 2000, spreadA[:2]), runOf("b", 4000, spreadB[:2]), 0)
	r := row(t, d, "latency p99")
	if r.Change != "" || !r.TooFew {
		t.Fatalf("2+2 repetitions: change %q warning %q; a U test cannot be significant there and must say so", r.Change, r.Warning)
	}
	var b bytes.Buffer
	if err := RenderDiffMarkdown(&b, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "-reps 4") {
		t.Errorf("no advice on repetitions:\n%s", b.String())
	}
}

func TestCompareNotesMissingScenariosAndTargets(t *testing.T) {
	a, b := runOf("a", 2000, spreadA), runOf("b", 2000, spreadB)
	a.Scenarios = append(a.Scenarios, ScenarioResult{Name: "spike"})
	b.Scenarios[0].Targets = append(b.Scenarios[0].Targets, Target{Name: "nginx"})
	b.Scenarios[0].Records = append(b.Scenarios[0].Records, Record{Target: "nginx", Valid: true})
	d := Compare(a, b, 0)
	got := strings.Join(d.Notes, "\n")
	for _, want := range []string{"scenario spike is only in the baseline", "steady/nginx is not in the baseline"} {
		if !strings.Contains(got, want) {
			t.Errorf("notes %q lack %q", got, want)
		}
	}
}

// closedRun is a closed-loop scenario with the direct baseline and one
// target at the given req/s (times the spread) in every repetition.
func closedRun(id string, direct, target float64, spread []float64) *Results {
	s := ScenarioResult{Name: "throughput", Load: LoadPlan{Mode: "closed"},
		Targets: []Target{{Name: "direct", Kind: "direct"}, {Name: "gatelab-fasthttp-trie-local", Kind: "gatelab"}}}
	for i, j := range spread {
		s.Records = append(s.Records, Record{Target: "direct", Rep: i + 1, Valid: true, Achieved: direct * j},
			Record{Target: "gatelab-fasthttp-trie-local", Rep: i + 1, Valid: true, Achieved: target * j})
	}
	return &Results{Schema: Schema, RunID: id, Scenarios: []ScenarioResult{s}}
}

// TestCompareRatioToDirectCancelsTheHost: a faster host doubles every
// rate; the absolute req/s shows it, the ratio to the same repetition's
// direct run does not, and a gateway that really got slower shows in both.
func TestCompareRatioToDirectCancelsTheHost(t *testing.T) {
	base := closedRun("base", 40000, 16000, spreadA)
	fasterHost := closedRun("fast", 80000, 32000, spreadB)
	d := Compare(base, fasterHost, 0)
	if r := row(t, d, "req/s"); r.Change != Improvement {
		t.Errorf("absolute req/s on a 2x host: %q, want improvement", r.Change)
	}
	if r := row(t, d, "req/s ÷ direct"); r.Change != "" || r.BaseMedian < 0.39 || r.BaseMedian > 0.41 {
		t.Errorf("ratio on a 2x host: change %q median %.3f, want no change at 0.4", r.Change, r.BaseMedian)
	}
	slower := closedRun("slow", 40000, 8000, spreadB)
	if r := row(t, Compare(base, slower, 0), "req/s ÷ direct"); r.Change != Regression {
		t.Errorf("gateway at half its rate: ratio change %q, want regression", r.Change)
	}
}
