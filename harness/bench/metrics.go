package bench

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatelab/gatelab/harness/budget"
	"github.com/gatelab/gatelab/harness/load"
	"github.com/gatelab/gatelab/harness/scenario"
	"github.com/gatelab/gatelab/reports"
)

// trialSource answers budget metrics for one trial; peers are the other
// trials of the same repetition (the direct baseline, the "vs" targets).
type trialSource struct {
	sr    *scenarioRun
	tr    *trial
	peers []*trial
}

func (s *trialSource) find(glob string) *trial {
	for _, p := range s.peers {
		if p.t.Name == glob || budget.TagMatches(glob, p.t.Name) {
			return p
		}
	}
	return nil
}

func (s *trialSource) direct() *trial { return s.find("direct") }

// statOf reads the stat of a metric ("latency.p99.9" -> 99.9) with the
// catalogue's own parser; max is 100 and mean is -1.
func statOf(metric, prefix string) (float64, bool) {
	st := strings.TrimPrefix(metric, prefix+".")
	if st == "mean" {
		return -1, true
	}
	return budget.Percentile(st)
}

// statValue is the stat of a duration histogram, in seconds.
func statValue(samples []load.Sample, corrected bool, keep func(*load.Sample) bool, q float64) (float64, bool) {
	h := load.Hist(samples, corrected, keep)
	if h.TotalCount() == 0 {
		return 0, false
	}
	var v float64
	switch {
	case q < 0:
		v = h.Mean()
	case q >= 100:
		v = float64(h.Max())
	default:
		v = float64(h.ValueAtQuantile(q))
	}
	return v / 1e6, true
}

// Value implements budget.Source.
func (s *trialSource) Value(e budget.Expr) (float64, bool, error) {
	tr := s.tr
	if tr.run == nil {
		return 0, false, nil
	}
	route, _ := e.Tag("route")
	phase, _ := e.Tag("phase")
	keep := tr.filter(route, phase)
	count := func(t *trial, pred func(*load.Sample) bool) (n, total int64) {
		k := t.filter(route, phase)
		for i := range t.run.Samples {
			x := &t.run.Samples[i]
			if k(x) {
				total++
				if pred(x) {
					n++
				}
			}
		}
		return n, total
	}
	ratio := func(pred func(*load.Sample) bool) (float64, bool, error) {
		n, total := count(tr, pred)
		if total == 0 {
			return 0, false, nil
		}
		return float64(n) / float64(total), true, nil
	}
	m := e.Metric
	switch {
	case strings.HasPrefix(m, "latency."), strings.HasPrefix(m, "uncorrected."):
		prefix, corrected := "latency", true
		if strings.HasPrefix(m, "uncorrected.") {
			prefix, corrected = "uncorrected", false
		}
		q, ok := statOf(m, prefix)
		if !ok {
			return 0, false, fmt.Errorf("bad stat in %s", m)
		}
		v, ok := statValue(tr.run.Samples, corrected, keep, q)
		return v, ok, nil
	case strings.HasPrefix(m, "overhead.") || strings.HasPrefix(m, "overhead_ratio."):
		prefix := strings.SplitN(m, ".", 2)[0]
		q, ok := statOf(m, prefix)
		if !ok {
			return 0, false, fmt.Errorf("bad stat in %s", m)
		}
		d := s.direct()
		if d == nil || d.run == nil || !d.rec.Valid {
			return 0, false, nil
		}
		v, ok1 := statValue(tr.run.Samples, true, keep, q)
		b, ok2 := statValue(d.run.Samples, true, d.filter(route, phase), q)
		if !ok1 || !ok2 {
			return 0, false, nil
		}
		if prefix == "overhead_ratio" {
			if b <= 0 {
				return 0, false, nil
			}
			return v / b, true, nil
		}
		return v - b, true, nil
	case strings.HasPrefix(m, "latency_delta."):
		q, ok := statOf(m, "latency_delta")
		if !ok {
			return 0, false, fmt.Errorf("bad stat in %s", m)
		}
		vs, _ := e.Tag("vs")
		other := s.find(vs)
		if other == nil || other.run == nil || !other.rec.Valid {
			return 0, false, nil
		}
		v, ok1 := statValue(tr.run.Samples, true, keep, q)
		b, ok2 := statValue(other.run.Samples, true, other.filter(route, phase), q)
		if !ok1 || !ok2 {
			return 0, false, nil
		}
		return v - b, true, nil
	case m == "availability":
		return ratio(func(x *load.Sample) bool { return x.Code != 0 && x.Code < 500 })
	case m == "errors.ratio":
		return ratio(func(x *load.Sample) bool { return x.Code == 0 })
	case strings.HasPrefix(m, "status."):
		parts := strings.Split(m, ".")
		if len(parts) != 3 {
			return 0, false, fmt.Errorf("bad status metric %s", m)
		}
		match := statusMatcher(parts[1])
		if parts[2] == "count" {
			n, _ := count(tr, match)
			return float64(n), true, nil
		}
		return ratio(match)
	case m == "requests":
		_, total := count(tr, func(*load.Sample) bool { return true })
		return float64(total), true, nil
	case m == "rps":
		return s.rps(tr, route, phase)
	case m == "rps.ratio":
		vs, _ := e.Tag("vs")
		other := s.find(vs)
		if other == nil || other.run == nil || !other.rec.Valid {
			return 0, false, nil
		}
		a, ok1, _ := s.rps(tr, route, phase)
		b, ok2, _ := s.rps(other, route, phase)
		if !ok1 || !ok2 || b == 0 {
			return 0, false, nil
		}
		return a / b, true, nil
	case m == "admitted.ratio":
		tier, _ := e.Tag("tier")
		var n int64
		var allowed float64
		for _, r := range s.sr.s.Routes {
			if (route != "" && r.ID != route) || (tier != "" && r.Tier != tier) {
				continue
			}
			if a, ok := tr.admitted(s.sr.s, r.ID, phase); ok {
				n += a.Admitted
				allowed += a.Allowed
			}
		}
		if allowed == 0 {
			return 0, false, nil
		}
		return float64(n) / allowed, true, nil
	case strings.HasPrefix(m, "propagation."):
		q, ok := statOf(m, "propagation")
		if !ok || len(tr.prop) == 0 {
			return 0, false, nil
		}
		ds := slices.Clone(tr.prop)
		slices.Sort(ds)
		return pick(ds, q).Seconds(), true, nil
	case strings.HasPrefix(m, "limiter.decision."):
		q, ok := statOf(m, "limiter.decision")
		if !ok {
			return 0, false, nil
		}
		v, ok := tr.limiterQuantile(phase, q)
		return v, ok, nil
	case m == "cpu.per_1k":
		if tr.rec.Requests == 0 {
			return 0, false, nil
		}
		return tr.rec.Resources.CPUPer1kMS / 1000, true, nil
	case m == "rss.peak":
		return float64(tr.rec.Resources.PeakRSSBytes), tr.rec.Resources.PeakRSSBytes > 0, nil
	}
	return 0, false, fmt.Errorf("metric %s is not measured by this lab", m)
}

// rps is the requests per second of a route and phase: requests due in the
// window over the window's measured length.
func (s *trialSource) rps(t *trial, route, phase string) (float64, bool, error) {
	k := t.filter(route, phase)
	var n int64
	for i := range t.run.Samples {
		if k(&t.run.Samples[i]) {
			n++
		}
	}
	secs := t.run.Measured.Seconds()
	if phase != "" {
		for _, w := range t.windows {
			if w.Name == phase {
				from := max(w.From, t.warmup)
				secs = (w.To - from).Seconds()
			}
		}
	}
	if secs <= 0 {
		return 0, false, nil
	}
	return float64(n) / secs, true, nil
}

func statusMatcher(status string) func(*load.Sample) bool {
	return func(x *load.Sample) bool { return budget.StatusMatches(status, int(x.Code)) }
}

// pick is the q-th percentile (nearest rank) of sorted durations; q<0 the mean.
func pick(ds []time.Duration, q float64) time.Duration {
	if q < 0 {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		return sum / time.Duration(len(ds))
	}
	i := int(math.Ceil(q/100*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// partialSource answers abort budgets mid-run from the samples so far.
type partialSource struct{ tr *trial }

func (p *partialSource) Value(e budget.Expr) (float64, bool, error) {
	m := e.Metric
	if !(strings.HasPrefix(m, "latency.") || strings.HasPrefix(m, "uncorrected.") || m == "availability" || m == "errors.ratio" || strings.HasPrefix(m, "status.")) {
		return 0, false, nil
	}
	t := *p.tr
	t.run = p.tr.partial
	return (&trialSource{tr: &t}).Value(e)
}

// appliesTo reports whether a budget judges target t: its target, server,
// router and limiter tags must match; without a target tag only gatelab
// targets are judged.
func appliesTo(e budget.Expr, t *target) bool {
	if g, ok := e.Tag("target"); ok {
		if !budget.TagMatches(g, t.Name) {
			return false
		}
	} else if t.Kind != kindGatelab {
		return false
	}
	for _, kv := range [][2]string{{"server", t.Server}, {"router", t.Router}, {"limiter", t.Limiter}} {
		if g, ok := e.Tag(kv[0]); ok && !budget.TagMatches(g, kv[1]) {
			return false
		}
	}
	return true
}

// evaluate judges every budget of the scenario on every target it applies
// to: the per-repetition values of the valid trials, their median against
// the threshold.
func (sr *scenarioRun) evaluate() {
	profile := sr.l.o.Profile
	sr.Budgets = append(sr.Budgets, sr.abortBudgets...)
	byRep := map[int][]*trial{}
	for _, tr := range sr.trials {
		if !tr.rec.Superseded {
			byRep[tr.rec.Rep] = append(byRep[tr.rec.Rep], tr)
		}
	}
	for _, b := range sr.s.Budgets {
		if len(b.Profiles) > 0 && !slices.Contains(b.Profiles, profile) {
			continue
		}
		for _, t := range sr.targets {
			if !appliesTo(b.Parsed, t) || sr.abortedOn(b, t) {
				continue
			}
			if t.skip != "" {
				sr.Budgets = append(sr.Budgets, budgetSkip(b.Parsed, t.Name, reports.Skip, "target skipped: "+shorten(t.skip, 120)))
				continue
			}
			if vs := sr.skippedVs(b.Parsed); vs != nil {
				sr.Budgets = append(sr.Budgets, budgetSkip(b.Parsed, t.Name, reports.Skip, "vs target "+vs.Name+" skipped: "+shorten(vs.skip, 120)))
				continue
			}
			var vals []float64
			invalid, nodata := "", ""
			for _, tr := range sr.trials {
				if tr.t != t || tr.rec.Superseded {
					continue
				}
				if !tr.rec.Valid {
					invalid = tr.rec.Invalid
					continue
				}
				src := &trialSource{sr: sr, tr: tr, peers: byRep[tr.rec.Rep]}
				v, ok, err := src.Value(b.Parsed)
				if err != nil {
					nodata = err.Error()
					continue
				}
				if !ok {
					nodata = "no data for this filter"
					continue
				}
				vals = append(vals, v)
			}
			if len(vals) == 0 {
				switch {
				case sr.Error != "":
					sr.Budgets = append(sr.Budgets, budgetSkip(b.Parsed, t.Name, reports.Invalid, "not evaluated: the scenario did not run: "+sr.Error))
				case invalid != "":
					sr.Budgets = append(sr.Budgets, budgetSkip(b.Parsed, t.Name, reports.Invalid, "not evaluated: the run is INVALID: "+invalid))
				case nodata != "":
					sr.Budgets = append(sr.Budgets, budgetSkip(b.Parsed, t.Name, reports.NoData, nodata))
				default:
					sr.Budgets = append(sr.Budgets, budgetSkip(b.Parsed, t.Name, reports.NoData, "not run"))
				}
				continue
			}
			med := median(vals)
			v := budget.Evaluate(b.Parsed, constSource(med))
			verdict := reports.Pass
			if v.Result == budget.Fail {
				verdict = reports.Fail
			}
			obs := med
			text := v.ObservedText()
			if len(vals) > 1 {
				lo, hi := slices.Min(vals), slices.Max(vals)
				text += fmt.Sprintf(" (median of %d: %s..%s)", len(vals),
					budget.FormatValue(b.Parsed.Kind, b.Parsed.Unit, lo), budget.FormatValue(b.Parsed.Kind, b.Parsed.Unit, hi))
			}
			sr.Budgets = append(sr.Budgets, reports.Budget{Expr: b.Expr, Line: b.Line, Target: t.Name, Observed: &obs, Text: text,
				PerRep: vals, Verdict: verdict, Abort: b.Abort})
		}
	}
}

// skippedVs returns the target a budget compares with (its vs tag) when
// that target was skipped for a missing dependency, else nil.
func (sr *scenarioRun) skippedVs(e budget.Expr) *target {
	vs, ok := e.Tag("vs")
	if !ok {
		return nil
	}
	for _, t := range sr.targets {
		if t.Name == vs && t.skip != "" {
			return t
		}
	}
	return nil
}

// abortedOn reports whether b already failed on t mid-run.
func (sr *scenarioRun) abortedOn(b scenario.Budget, t *target) bool {
	for _, a := range sr.abortBudgets {
		if a.Expr == b.Expr && a.Target == t.Name {
			return true
		}
	}
	return false
}

type constSource float64

func (c constSource) Value(budget.Expr) (float64, bool, error) { return float64(c), true, nil }

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func spread(v []float64) reports.Spread {
	if len(v) == 0 {
		return reports.Spread{}
	}
	return reports.Spread{Median: median(v), Min: slices.Min(v), Max: slices.Max(v)}
}

// computeOverhead sets each record's overhead against the direct record of
// the same repetition.
func (sr *scenarioRun) computeOverhead() {
	direct := map[int]*trial{}
	for _, tr := range sr.trials {
		if tr.t.Kind == kindDirect && tr.rec.Valid {
			direct[tr.rec.Rep] = tr
		}
	}
	for _, tr := range sr.trials {
		d := direct[tr.rec.Rep]
		if tr.t.Kind == kindDirect || d == nil || tr.run == nil || sr.s.Load.Mode == scenario.ModeClosed {
			continue
		}
		a, b := tr.rec.Latency, d.rec.Latency
		tr.rec.Overhead = &reports.Quantiles{P50: a.P50 - b.P50, P90: a.P90 - b.P90, P99: a.P99 - b.P99, P999: a.P999 - b.P999,
			P9999: a.P9999 - b.P9999, Max: a.Max - b.Max, Mean: a.Mean - b.Mean}
	}
}

// summarise computes each target's medians and spreads and ranks them:
// by achieved throughput in the closed model, by p99 otherwise. Closed-loop
// targets within 80 % of the direct run (the generator's ceiling against
// the upstream) are marked generator-bound.
func (sr *scenarioRun) summarise() {
	closed := sr.s.Load.Mode == scenario.ModeClosed
	var ceiling float64
	for _, t := range sr.targets {
		var rps, p50, p99, p999, o50, o99, o999, cpu, rss, errs []float64
		n, valid := 0, 0
		for _, tr := range sr.trials {
			if tr.t != t || tr.rec.Superseded || tr.rec.KneeProbe {
				continue // a knee's probes run at different rates: no median
			}
			n++
			if !tr.rec.Valid {
				continue
			}
			valid++
			r := tr.rec
			rps = append(rps, r.Achieved)
			p50, p99, p999 = append(p50, r.Latency.P50), append(p99, r.Latency.P99), append(p999, r.Latency.P999)
			if r.Overhead != nil {
				o50, o99, o999 = append(o50, r.Overhead.P50), append(o99, r.Overhead.P99), append(o999, r.Overhead.P999)
			}
			cpu, rss = append(cpu, r.Resources.CPUPer1kMS), append(rss, float64(r.Resources.PeakRSSBytes))
			if r.Requests > 0 {
				errs = append(errs, float64(r.Status["0"])/float64(r.Requests))
			}
		}
		if n == 0 {
			continue
		}
		s := reports.Summary{Target: t.Name, Reps: n, Valid: valid, RPS: spread(rps), P50: spread(p50), P99: spread(p99), P999: spread(p999),
			CPUPer1k: spread(cpu), PeakRSS: spread(rss), ErrorRate: spread(errs)}
		if len(o99) > 0 {
			a, b, c := spread(o50), spread(o99), spread(o999)
			s.OverP50, s.OverP99, s.OverP999 = &a, &b, &c
		}
		if t.Kind == kindDirect {
			ceiling = s.RPS.Median
		}
		sr.Summary = append(sr.Summary, s)
	}
	var ranked []*reports.Summary
	for i := range sr.Summary {
		s := &sr.Summary[i]
		if s.Valid == 0 || s.Target == "direct" || parityFailed(sr.Parity, s.Target) {
			continue
		}
		if closed && ceiling > 0 && s.RPS.Median >= 0.8*ceiling {
			s.GeneratorBound = true
		}
		ranked = append(ranked, s)
	}
	sort.SliceStable(ranked, func(i, j int) bool {
		if closed {
			return ranked[i].RPS.Median > ranked[j].RPS.Median
		}
		return ranked[i].P99.Median < ranked[j].P99.Median
	})
	for i, s := range ranked {
		s.Rank = i + 1
	}
	if closed && ceiling > 0 {
		sr.Notes = append(sr.Notes, fmt.Sprintf("generator ceiling: %.0f req/s against the upstream directly; targets at 80 %% of it or more are generator-bound and their rank says little", ceiling))
	}
}

func parityFailed(ps []reports.ParityResult, target string) bool {
	for _, p := range ps {
		if p.Target == target && !p.OK {
			return true
		}
	}
	return false
}

// shorten cuts s to n bytes with an ellipsis (the whole text is in the
// target's Skipped field).
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
