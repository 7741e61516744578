package reports

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"golang.org/x/perf/benchmath"
)

// Diff is the change between a baseline run and a new one, metric by
// metric, with benchstat's significance test: the samples are the valid
// repetitions of each scenario x target on each side (a repetition is the
// unit that carries the run-to-run spread; seconds inside one run would
// understate it), compared with the Mann-Whitney U test
// (benchmath.AssumeNothing, what benchstat uses by default). A change is
// marked only when p < Alpha; everything else is "~". With fewer than 4
// repetitions per side the test cannot reach p < 0.05 whatever the data,
// and the row says so.
type Diff struct {
	Base, Cur string // run ids
	Alpha     float64
	Rows      []DiffRow
	// Notes name what could not be compared (a scenario or target in only
	// one of the runs).
	Notes []string
}

// DiffRow is one metric of one scenario x target.
type DiffRow struct {
	Scenario, Target string
	Metric           string // e.g. "latency p99"
	// LowerIsBetter says which direction is a regression.
	LowerIsBetter bool
	Base, Cur     []float64 // per-repetition values, sorted
	BaseMedian    float64
	CurMedian     float64
	// Delta is CurMedian/BaseMedian - 1; NaN when the base median is 0.
	Delta float64
	P     float64
	// Change is "regression", "improvement" or "" (not significant).
	Change string
	// TooFew: both sides have fewer repetitions than the U test needs to
	// reach p < Alpha however far apart they are.
	TooFew  bool
	Warning string
	format  unitFmt
}

// Change kinds of a DiffRow.
const (
	Regression  = "regression"
	Improvement = "improvement"
)

// diffMetric is one metric the comparison reads from a record.
type diffMetric struct {
	name   string
	lower  bool // lower is better
	closed bool // only for closed-loop scenarios (open-model rates are set by the plan)
	// get reads the metric from a record; direct is the direct baseline's
	// record of the same repetition (nil when there is none).
	get    func(r, direct *Record) (float64, bool)
	format unitFmt
}

// minUTestReps is the smallest sample size per side at which a U test can
// reach p < 0.05 (p >= 0.1 at 3+3).
const minUTestReps = 4

var diffMetrics = []diffMetric{
	{name: "req/s", closed: true, get: func(r, _ *Record) (float64, bool) { return r.Achieved, true }, format: fmtRate},
	// Throughput as a fraction of the direct run in the same repetition:
	// what the host's speed of the day cancels out of.
	{name: "req/s ÷ direct", closed: true, get: func(r, d *Record) (float64, bool) {
		if d == nil || d == r || d.Achieved == 0 {
			return 0, false
		}
		return r.Achieved / d.Achieved, true
	}, format: fmtRatio},
	{name: "latency p50", lower: true, get: func(r, _ *Record) (float64, bool) { return r.Latency.P50, true }, format: fmtMicros},
	{name: "latency p99", lower: true, get: func(r, _ *Record) (float64, bool) { return r.Latency.P99, true }, format: fmtMicros},
	{name: "latency p99.9", lower: true, get: func(r, _ *Record) (float64, bool) { return r.Latency.P999, true }, format: fmtMicros},
	{name: "overhead p50", lower: true, get: func(r, _ *Record) (float64, bool) { return overheadOf(r, func(q *Quantiles) float64 { return q.P50 }) }, format: fmtMicros},
	{name: "overhead p99", lower: true, get: func(r, _ *Record) (float64, bool) { return overheadOf(r, func(q *Quantiles) float64 { return q.P99 }) }, format: fmtMicros},
	{name: "CPU / 1k req", lower: true, get: func(r, _ *Record) (float64, bool) {
		return r.Resources.CPUPer1kMS, r.Resources.CPUPer1kMS > 0
	}, format: fmtMillis},
	{name: "peak RSS", lower: true, get: func(r, _ *Record) (float64, bool) {
		return float64(r.Resources.PeakRSSBytes), r.Resources.PeakRSSBytes > 0
	}, format: fmtBytes},
}

func overheadOf(r *Record, f func(*Quantiles) float64) (float64, bool) {
	if r.Overhead == nil {
		return 0, false
	}
	return f(r.Overhead), true
}

// Compare computes the change from base to cur at significance level
// alpha (0: 0.05).
func Compare(base, cur *Results, alpha float64) *Diff {
	if alpha <= 0 {
		alpha = benchmath.DefaultThresholds.CompareAlpha
	}
	th := &benchmath.Thresholds{CompareAlpha: alpha}
	d := &Diff{Base: base.RunID, Cur: cur.RunID, Alpha: alpha}
	bs := map[string]*ScenarioResult{}
	for i := range base.Scenarios {
		bs[base.Scenarios[i].Name] = &base.Scenarios[i]
	}
	seen := map[string]bool{}
	for i := range cur.Scenarios {
		cs := &cur.Scenarios[i]
		seen[cs.Name] = true
		b := bs[cs.Name]
		if b == nil {
			d.Notes = append(d.Notes, fmt.Sprintf("scenario %s is not in the baseline", cs.Name))
			continue
		}
		bt, ct := samplesByTarget(b), samplesByTarget(cs)
		bd, cd := directByRep(b), directByRep(cs)
		for _, t := range targetOrder(cs) {
			bRecs, ok := bt[t]
			if !ok {
				d.Notes = append(d.Notes, fmt.Sprintf("%s/%s is not in the baseline", cs.Name, t))
				continue
			}
			for _, m := range diffMetrics {
				if m.closed && cs.Load.Mode != "closed" {
					continue
				}
				bv, cv := values(bRecs, bd, m), values(ct[t], cd, m)
				if len(bv) == 0 || len(cv) == 0 {
					continue
				}
				d.Rows = append(d.Rows, compareRow(cs.Name, t, m, bv, cv, th))
			}
		}
		for t := range bt {
			if _, ok := ct[t]; !ok {
				d.Notes = append(d.Notes, fmt.Sprintf("%s/%s is only in the baseline", cs.Name, t))
			}
		}
	}
	for _, s := range base.Scenarios {
		if !seen[s.Name] {
			d.Notes = append(d.Notes, fmt.Sprintf("scenario %s is only in the baseline", s.Name))
		}
	}
	sort.Strings(d.Notes)
	return d
}

func compareRow(scenario, target string, m diffMetric, bv, cv []float64, th *benchmath.Thresholds) DiffRow {
	bs, cs := benchmath.NewSample(bv, th), benchmath.NewSample(cv, th)
	bc := benchmath.AssumeNothing.Summary(bs, 0.95).Center
	cc := benchmath.AssumeNothing.Summary(cs, 0.95).Center
	cmp := benchmath.AssumeNothing.Compare(bs, cs)
	row := DiffRow{Scenario: scenario, Target: target, Metric: m.name, LowerIsBetter: m.lower,
		Base: bs.Values, Cur: cs.Values, BaseMedian: bc, CurMedian: cc, P: cmp.P, Delta: math.NaN(), format: m.format}
	if bc != 0 {
		row.Delta = cc/bc - 1
	}
	var warns []string
	for _, w := range cmp.Warnings {
		warns = append(warns, w.Error())
	}
	row.Warning = strings.Join(warns, "; ")
	row.TooFew = cmp.P >= cmp.Alpha && len(bv) < minUTestReps && len(cv) < minUTestReps
	if cmp.P < cmp.Alpha && cc != bc {
		if (cc > bc) == m.lower {
			row.Change = Regression
		} else {
			row.Change = Improvement
		}
	}
	return row
}

// samplesByTarget groups a scenario's measured records by target: valid,
// not superseded, not knee probes.
func samplesByTarget(s *ScenarioResult) map[string][]*Record {
	out := map[string][]*Record{}
	for i := range s.Records {
		r := &s.Records[i]
		if !r.Valid || r.Superseded || r.KneeProbe {
			continue
		}
		out[r.Target] = append(out[r.Target], r)
	}
	return out
}

// targetOrder is the scenario's targets in run order, then any target
// with records that the target list lacks.
func targetOrder(s *ScenarioResult) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range s.Targets {
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t.Name)
		}
	}
	for _, r := range s.Records {
		if !seen[r.Target] {
			seen[r.Target] = true
			out = append(out, r.Target)
		}
	}
	return out
}

// directByRep maps a repetition to the direct baseline's measured record.
func directByRep(s *ScenarioResult) map[int]*Record {
	direct := map[string]bool{}
	for _, t := range s.Targets {
		if t.Kind == "direct" {
			direct[t.Name] = true
		}
	}
	out := map[int]*Record{}
	for _, r := range samplesByTarget(s) {
		for _, rec := range r {
			if direct[rec.Target] {
				out[rec.Rep] = rec
			}
		}
	}
	return out
}

func values(rs []*Record, direct map[int]*Record, m diffMetric) []float64 {
	var v []float64
	for _, r := range rs {
		if x, ok := m.get(r, direct[r.Rep]); ok {
			v = append(v, x)
		}
	}
	return v
}

// Changed returns the rows marked as a significant regression or
// improvement.
func (d *Diff) Changed(kind string) []DiffRow {
	var out []DiffRow
	for _, r := range d.Rows {
		if r.Change == kind {
			out = append(out, r)
		}
	}
	return out
}

// RenderDiffMarkdown writes the comparison for a pull-request comment: the
// significant regressions, then the improvements, then every compared
// metric in a collapsed table.
func RenderDiffMarkdown(w io.Writer, d *Diff) error {
	m := &mdWriter{w: w}
	reg, imp := d.Changed(Regression), d.Changed(Improvement)
	m.f("# gatelab: %s against baseline %s\n\n", d.Cur, d.Base)
	m.f("%d significant regression(s), %d significant improvement(s) over %d compared metrics (Mann-Whitney U test over repetitions, alpha %g; \"~\" is no significant change).\n",
		len(reg), len(imp), len(d.Rows), d.Alpha)
	m.f("\nAbsolute latencies and rates move with the host and its load on the day; the overhead (minus the direct run of the same repetition) and req/s ÷ direct are measured against the same run's baseline and travel between runs better.\n")
	few := 0
	for _, r := range d.Rows {
		if r.TooFew {
			few++
		}
	}
	if few > 0 {
		m.f("\n> %d metric(s) had too few repetitions to show any difference (a U test needs at least 4 per side at alpha 0.05): run both sides with `-reps 4` or more.\n", few)
	}
	for _, part := range []struct {
		title string
		rows  []DiffRow
	}{{"Regressions", reg}, {"Improvements", imp}} {
		if len(part.rows) == 0 {
			continue
		}
		m.f("\n## %s\n", part.title)
		m.table(diffHead, "llrrrrl", diffRows(part.rows))
	}
	m.f("\n<details><summary>Every compared metric</summary>\n")
	m.table(diffHead, "llrrrrl", diffRows(d.Rows))
	m.f("\n</details>\n")
	for _, n := range d.Notes {
		m.f("\n- %s", mdText(n))
	}
	if len(d.Notes) > 0 {
		m.f("\n")
	}
	return m.err
}

var diffHead = []string{"scenario / target", "metric", "baseline", "new", "delta", "p", "n"}

func diffRows(rows []DiffRow) [][]string {
	var out [][]string
	for _, r := range rows {
		bn, bu := r.format(r.BaseMedian, r.BaseMedian)
		cn, cu := r.format(r.CurMedian, r.CurMedian)
		delta := "~"
		if r.Change != "" {
			delta = "**" + fmtDelta(r.Delta) + "** " + r.Change
		}
		p := fmt.Sprintf("%.3f", r.P)
		if r.TooFew {
			p += " (too few)"
		}
		out = append(out, []string{mdCode(r.Scenario + "/" + r.Target), mdText(r.Metric), bn + bu, cn + cu, delta, p,
			fmt.Sprintf("%d+%d", len(r.Base), len(r.Cur))})
	}
	return out
}

func fmtDelta(d float64) string {
	if math.IsNaN(d) {
		return "?"
	}
	return fmt.Sprintf("%+.1f%%", d*100)
}
