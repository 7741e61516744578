package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatelab/gatelab/harness/budget"
	"github.com/gatelab/gatelab/harness/peers"
	"github.com/gatelab/gatelab/harness/scenario"
	"github.com/gatelab/gatelab/reports"
)

// parity sends the same probe (the first route's request, answered by the
// upstream's echo) through every target that will be measured and compares
// what the upstream received with the first gatelab target's view. A target
// that fails is measured and reported but not ranked.
func (sr *scenarioRun) parity(ctx context.Context) {
	rt := sr.s.Routes[0]
	method, path, _ := strings.Cut(rt.Request, " ")
	urls := map[string]string{}
	ref := ""
	var started []*running
	defer func() {
		for _, r := range started {
			r.stop()
		}
	}()
	tokens := map[string]string{}
	for _, t := range sr.targets {
		if t.skip != "" || t.Kind == kindDirect {
			continue
		}
		r, err := sr.start(ctx, t, 0)
		if err != nil {
			sr.Parity = append(sr.Parity, reports.ParityResult{Target: t.Name, Diffs: []string{"could not start: " + err.Error()}})
			continue
		}
		started = append(started, r)
		urls[t.Name] = r.bases[0]
		if t.Kind == kindGatelab && ref == "" {
			ref = t.Name
		}
		if reqs, _, err := sr.requests(t, r, "parity"); err == nil && len(reqs) > 0 {
			tokens[t.Name] = reqs[0].Header.Get("Authorization")
		}
	}
	if ref == "" || len(urls) < 2 {
		return
	}
	h := http.Header{}
	h.Set("X-Upstream-Echo", "1")
	if tok := tokens[ref]; tok != "" {
		h.Set("Authorization", tok) // peers ignore it; gatelab needs it
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The gateway consumes the token and never forwards it; peers pass it
	// on. That is policy, not a parity failure.
	probe := peers.Probe{Method: method, Path: path, Header: h, Uncompared: []string{"Authorization"}}
	for _, p := range peers.Parity(pctx, probe, urls, ref) {
		sr.Parity = append(sr.Parity, reports.ParityResult{Target: p.Target, OK: p.OK, Diffs: p.Diffs})
		if !p.OK {
			sr.l.logf("  PARITY: %s differs from %s: %s", p.Target, ref, strings.Join(p.Diffs, "; "))
		} else {
			sr.l.logf("  parity: %s ok", p.Target)
		}
	}
}

// knee searches, per target, the highest rate at which the scenario's knee
// bound holds: the direct baseline is measured at every probed rate (for
// overhead bounds), then the rate is bisected between from and to.
func (sr *scenarioRun) knee(ctx context.Context, reps int) {
	k := sr.s.Knee
	stages := func(rate float64) []scenario.Stage {
		return []scenario.Stage{{Duration: sr.s.Load.Warmup + k.Trial, Rate: rate}}
	}
	var direct *target
	for _, t := range sr.targets {
		if t.Kind == kindDirect && t.skip == "" {
			direct = t
		}
	}
	// Each probed rate is measured n times (the profile's repetitions, at
	// most 3), the direct baseline beside every one; the bound is judged
	// on the median, and a rate where most trials were invalid fails.
	n := min(max(reps, 1), 3)
	probe := func(t *target, rate float64, rep int) (float64, bool, float64, bool) {
		var vals, achieved []float64
		for i := 0; i < n && ctx.Err() == nil; i++ {
			var peersOf []*trial
			if direct != nil {
				d := sr.runTrial(ctx, direct, rep, stages(rate))
				d.rec.KneeProbe = true
				sr.trials = append(sr.trials, d)
				peersOf = append(peersOf, d)
			}
			tr := sr.runTrial(ctx, t, rep, stages(rate))
			tr.rec.KneeProbe = true
			sr.trials = append(sr.trials, tr)
			achieved = append(achieved, tr.rec.Achieved)
			if !tr.rec.Valid {
				continue
			}
			v := budget.Evaluate(k.Parsed, &trialSource{sr: sr, tr: tr, peers: append(peersOf, tr)})
			if v.Result == budget.Pass || v.Result == budget.Fail {
				vals = append(vals, v.Observed)
			}
		}
		if len(vals)*2 <= n-1 || len(vals) == 0 { // most trials invalid or unjudged
			return 0, false, median(achieved), false
		}
		med := median(vals)
		return med, budget.Evaluate(k.Parsed, constSource(med)).Result == budget.Pass, median(achieved), true
	}
	rep := 0
	for _, t := range sr.targets {
		if t.Kind == kindDirect || t.skip != "" || ctx.Err() != nil {
			continue
		}
		rep++
		kr := reports.KneeResult{Target: t.Name, Bound: k.Bound}
		lo, hi := k.From, k.To
		for step := 0; step < k.Steps && ctx.Err() == nil; step++ {
			rate := lo
			if step > 0 {
				rate = (lo + hi) / 2
			}
			obs, ok, achieved, valid := probe(t, rate, rep)
			kr.Trials = append(kr.Trials, reports.KneeTrial{Rate: rate, Achieved: achieved, Observed: obs, OK: ok, Valid: valid})
			sr.l.logf("  knee %s: %.0f req/s -> %s", t.Name, rate, map[bool]string{true: "holds", false: "fails"}[ok])
			if ok {
				kr.Knee = rate
				lo = rate
				if step == 0 {
					continue
				}
			} else {
				if step == 0 {
					break // even the lowest rate fails the bound
				}
				hi = rate
			}
		}
		sr.Knee = append(sr.Knee, kr)
	}
}

// printSummary writes a scenario's table: per target the medians and
// spreads over the repetitions.
func printSummary(w io.Writer, s reports.ScenarioResult) {
	if len(s.Summary) == 0 && len(s.Knee) == 0 {
		for _, n := range s.Notes {
			fmt.Fprintf(w, "%s: %s\n", s.Name, n)
		}
		return
	}
	fmt.Fprintf(w, "%s (%s load)\n", s.Name, s.Load.Mode)
	fmt.Fprintf(w, "  %-34s %5s %9s %9s %9s %9s %10s %10s %9s %8s %s\n", "target", "valid", "req/s", "p50", "p99", "p99.9", "over p50", "over p99", "cpu/1k", "rss", "rank")
	for _, x := range s.Summary {
		op50, op99 := "-", "-"
		if x.OverP50 != nil {
			op50, op99 = fmtUS(x.OverP50.Median), fmtUS(x.OverP99.Median)
		}
		rank := "-"
		if x.Rank > 0 {
			rank = fmt.Sprint(x.Rank)
		}
		if x.GeneratorBound {
			rank += " (generator-bound)"
		}
		cpu, rss := "-", "-" // the direct run has no target process; containers are not sampled
		if x.CPUPer1k.Median > 0 {
			cpu = fmtUS(x.CPUPer1k.Median * 1000)
		}
		if x.PeakRSS.Median > 0 {
			rss = fmt.Sprintf("%.0fM", x.PeakRSS.Median/1e6)
		}
		fmt.Fprintf(w, "  %-34s %2d/%-2d %9.0f %9s %9s %9s %10s %10s %9s %8s %s\n", x.Target, x.Valid, x.Reps, x.RPS.Median,
			fmtUS(x.P50.Median), fmtUS(x.P99.Median), fmtUS(x.P999.Median), op50, op99, cpu, rss, rank)
	}
	for _, k := range s.Knee {
		fmt.Fprintf(w, "  knee %-29s %.0f req/s (%s)\n", k.Target, k.Knee, k.Bound)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func fmtUS(v float64) string {
	switch {
	case v >= 1e6 || v <= -1e6:
		return fmt.Sprintf("%.2fs", v/1e6)
	case v >= 1e3 || v <= -1e3:
		return fmt.Sprintf("%.2fms", v/1e3)
	default:
		return fmt.Sprintf("%.0fus", v)
	}
}
