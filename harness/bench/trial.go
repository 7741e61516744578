package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gatelab/gatelab/harness/budget"
	"github.com/gatelab/gatelab/harness/faults"
	"github.com/gatelab/gatelab/harness/load"
	"github.com/gatelab/gatelab/harness/scenario"
	"github.com/gatelab/gatelab/reports"
)

// trial is one scenario x target x repetition, with the raw samples kept
// for budget evaluation.
type trial struct {
	t    *target
	rec  *reports.Record
	run  *load.Run
	reqs []reqMeta // request index -> route and user
	// limiter snapshots of gatelab_ratelimit_decision_seconds at window
	// edges, keyed "from:<name>" / "to:<name>" and "from:" / "to:" for the
	// measured window.
	limiter map[string]histSnap
	// rejections: gatelab_rejections_total per label set at the same edges.
	rejections map[string]map[string]float64
	prop       []time.Duration
	windows    []scenario.Window
	warmup     time.Duration
	// partial collects samples during the run for abort budgets; aborted
	// says why an abort budget stopped the trial.
	partial *load.Run
	aborted string
}

// runTrial runs one trial of t; a target that fails to start gives an
// invalid record with the reason.
func (sr *scenarioRun) runTrial(ctx context.Context, t *target, rep int, stages []scenario.Stage) *trial {
	s := sr.s
	tr := &trial{t: t, windows: s.Windows(), warmup: s.Load.Warmup, limiter: map[string]histSnap{}}
	tr.rec = &reports.Record{Target: t.Name, Rep: rep, Started: time.Now().UTC(), Status: map[string]int64{}}
	invalid := func(why string) *trial {
		tr.rec.Valid, tr.rec.Invalid = false, why
		sr.l.logf("  %-34s rep %d  INVALID: %s", t.Name, rep, why)
		return tr
	}
	r, err := sr.start(ctx, t, rep)
	if err != nil {
		return invalid("could not start: " + err.Error())
	}
	defer r.stop()
	if p := sr.l.prom; p != nil && len(r.admins) > 0 {
		defer p.add(s.Name, t.Name, rep, r.admins)()
	}
	reqs, meta, err := sr.requests(t, r, fmt.Sprintf("r%dt%d", rep, time.Now().UnixNano()%1e6))
	if err != nil {
		return invalid(err.Error())
	}
	tr.reqs = meta

	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	total := s.Load.TotalDuration()
	if s.Load.Mode != scenario.ModeClosed {
		total = 0
		for _, st := range stages {
			total += st.Duration
		}
	}
	// The fault timeline and the scrapes run beside the load.
	var events []faults.Event
	actions := sr.faultActions(t, r, tr)
	wg.Add(1)
	go func() {
		defer wg.Done()
		events = faults.Run(tctx, start, actions)
	}()
	if len(r.admins) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.scrapeEdges(tctx, start, r.admins, total)
		}()
	}
	var usage0 struct {
		sync.Once
		tgt, up time.Duration
	}
	markWindow := func() {
		usage0.Do(func() { usage0.tgt, usage0.up = r.usage().CPU, sr.upstreamCPU() })
	}
	warm := time.AfterFunc(s.Load.Warmup, markWindow)
	defer warm.Stop()
	lastTick := time.Time{}
	ok, bad := 0, 0 // answers since the last progress line
	progress := func(elapsed time.Duration, ss []load.Sample) {
		if sr.abortCheck(t, tr, ss) { // every tick's samples, printed or not
			cancel()
		}
		for _, x := range ss {
			if x.Code >= 200 && x.Code < 500 {
				ok++
			} else {
				bad++
			}
		}
		if time.Since(lastTick) < 900*time.Millisecond {
			return
		}
		lastTick = time.Now()
		sr.l.logf("    %-34s rep %d  %5.1fs/%.0fs  phase %-14s %d ok, %d errors/5xx", t.Name, rep, elapsed.Seconds(), total.Seconds(), phaseAt(tr.windows, elapsed), ok, bad)
		ok, bad = 0, 0
	}
	var run *load.Run
	if s.Load.Mode == scenario.ModeClosed {
		run, err = load.Closed(tctx, load.ClosedSpec{Workers: s.Load.Workers, Duration: s.Load.Duration, Warmup: s.Load.Warmup,
			Timeout: s.Load.Timeout, Requests: reqs, Name: t.Name, Tick: progress})
	} else {
		var sched load.Schedule
		for _, st := range stages {
			sched = append(sched, load.Stage{Duration: st.Duration, Rate: st.Rate, To: st.To})
		}
		run, err = load.Open(tctx, load.OpenSpec{Schedule: sched, Requests: reqs, Warmup: s.Load.Warmup, Timeout: s.Load.Timeout,
			Name: t.Name, Tick: progress})
	}
	markWindow()
	end := r.usage()
	cpuT, cpuU := end.CPU-usage0.tgt, sr.upstreamCPU()-usage0.up
	peak := end.PeakRSS
	cancel()
	wg.Wait()
	for i, e := range events {
		fe := reports.FaultEvent{Name: e.Name, Kind: e.Kind, StartS: e.Applied.Seconds(), EndS: e.Reverted.Seconds()}
		if e.Err != nil {
			fe.Error = e.Err.Error()
			sr.l.logf("    fault %s: %v", actions[i].Name, e.Err)
		}
		tr.rec.Faults = append(tr.rec.Faults, fe)
	}
	if err != nil {
		return invalid("load: " + err.Error())
	}
	tr.run = run
	tr.fill(sr.s)
	if tr.aborted != "" {
		tr.rec.Valid, tr.rec.Invalid = false, tr.aborted
	}
	res := &tr.rec.Resources
	res.CPUSeconds = cpuT.Seconds()
	if tr.rec.Requests > 0 {
		res.CPUPer1kMS = cpuT.Seconds() * 1000 / float64(tr.rec.Requests) * 1000
	}
	res.PeakRSSBytes = peak
	res.GeneratorCPUSeconds = run.GeneratorCPU.Seconds()
	res.UpstreamCPUSeconds = cpuU.Seconds()
	for _, e := range events {
		if e.Err != nil && tr.rec.Valid {
			tr.rec.Valid, tr.rec.Invalid = false, "fault injection failed: "+e.Err.Error()
		}
	}
	status := "ok"
	if !tr.rec.Valid {
		status = "INVALID: " + tr.rec.Invalid
	}
	sr.l.logf("  %-34s rep %d  %8.0f req/s (offered %.0f)  p50 %s  p99 %s  p99.9 %s  %s",
		t.Name, rep, tr.rec.Achieved, tr.rec.Offered, fmtUS(tr.rec.Latency.P50), fmtUS(tr.rec.Latency.P99), fmtUS(tr.rec.Latency.P999), status)
	return tr
}

// fill turns the load run into the record: totals, slices per route and
// phase, series, limiter and propagation quantiles.
func (tr *trial) fill(s *scenario.Scenario) {
	run, rec := tr.run, tr.rec
	rec.Offered, rec.Achieved = run.Offered, run.Achieved
	rec.Requests = int64(len(run.Samples))
	rec.WindowS = run.Measured.Seconds()
	rec.Valid, rec.Invalid = run.Valid, run.Invalid
	all := func(*load.Sample) bool { return true }
	rec.Latency = quantiles(load.QuantilesOf(load.Hist(run.Samples, true, all)))
	rec.Uncorrected = quantiles(load.QuantilesOf(load.Hist(run.Samples, false, all)))
	rec.SendLag = quantiles(run.SendLag)
	errs := map[string]int64{}
	for i := range run.Samples {
		x := &run.Samples[i]
		rec.Status[strconv.Itoa(int(x.Code))]++
		if x.Err > 0 && int(x.Err) <= len(run.ErrorTexts) {
			errs[run.ErrorTexts[x.Err-1]]++
		}
	}
	if len(errs) > 0 {
		rec.Errors = errs
	}
	routes := []string{""}
	for _, r := range s.Routes {
		routes = append(routes, r.ID)
	}
	phases := []string{""}
	for _, w := range tr.windows {
		phases = append(phases, w.Name)
	}
	for _, rt := range routes {
		for _, ph := range phases {
			keep := tr.filter(rt, ph)
			h := load.Hist(run.Samples, true, keep)
			if h.TotalCount() == 0 && (rt != "" || ph != "") {
				continue
			}
			sl := reports.Slice{Route: rt, Phase: ph, Requests: h.TotalCount(), Status: map[string]int64{},
				Latency:     quantiles(load.QuantilesOf(h)),
				Uncorrected: quantiles(load.QuantilesOf(load.Hist(run.Samples, false, keep)))}
			for i := range run.Samples {
				if keep(&run.Samples[i]) {
					sl.Status[strconv.Itoa(int(run.Samples[i].Code))]++
				}
			}
			if enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
				sl.Histogram = string(enc)
			}
			rec.Slices = append(rec.Slices, sl)
		}
	}
	for _, p := range load.Series(run.Samples, time.Second, all) {
		pt := reports.Point{T: p.T, Requests: p.Requests, OK: p.OK, Errors: p.Errors, P50: us(p.P50), P99: us(p.P99)}
		if len(p.Codes) > 0 {
			pt.Codes = map[string]int{}
			for c, n := range p.Codes {
				pt.Codes[strconv.Itoa(c)] = n
			}
		}
		rec.Series = append(rec.Series, pt)
	}
	if len(tr.limiter) > 0 {
		rec.Limiter = map[string]reports.Quantiles{}
		if q, ok := tr.limiterQuantiles(""); ok {
			rec.Limiter[""] = q
		}
		for _, w := range tr.windows {
			if q, ok := tr.limiterQuantiles(w.Name); ok {
				rec.Limiter[w.Name] = q
			}
		}
	}
	if r := tr.rejectionsIn(""); len(r) > 0 {
		rec.Rejections = map[string]map[string]int64{"": r}
		for _, w := range tr.windows {
			if r := tr.rejectionsIn(w.Name); len(r) > 0 {
				rec.Rejections[w.Name] = r
			}
		}
	}
	if len(tr.prop) > 0 {
		h := hdrhistogram.New(1, 60_000_000, 3)
		for _, d := range tr.prop {
			_ = h.RecordValue(max(d.Microseconds(), 1))
		}
		q := quantiles(load.QuantilesOf(h))
		rec.Propagation = &q
		rec.Changes = len(tr.prop)
	}
	for _, r := range s.Routes {
		if a, ok := tr.admitted(s, r.ID, ""); ok {
			rec.Admitted = append(rec.Admitted, a)
		}
	}
}

// filter keeps the samples of a route ("" all) in a phase ("" the whole
// measured window).
func (tr *trial) filter(route, phase string) func(*load.Sample) bool {
	from, to := time.Duration(0), time.Duration(1<<62)
	if phase != "" {
		for _, w := range tr.windows {
			if w.Name == phase {
				from, to = w.From, w.To
			}
		}
	}
	return func(x *load.Sample) bool {
		if route != "" && (int(x.Req) >= len(tr.reqs) || tr.reqs[x.Req].route != route) {
			return false
		}
		return x.Intended >= from && x.Intended < to
	}
}

// admitted counts the responses that passed a limited route's limiter
// (2xx) against what the textbook algorithm admits for the same sends: the
// route's decided requests (2xx and 429), per key, replayed in send order
// through the tier's algorithm with windows on the Unix epoch as the
// engines keep them (see model.go). The gateway decides on its own clock a
// little after the generator's send time, so a correct engine lands within
// a few percent of 1.
func (tr *trial) admitted(s *scenario.Scenario, route, phase string) (reports.Admitted, bool) {
	var rt *scenario.Route
	for i := range s.Routes {
		if s.Routes[i].ID == route {
			rt = &s.Routes[i]
		}
	}
	if rt == nil || rt.Tier == "" || rt.Tier == scenario.BenchTier {
		return reports.Admitted{}, false
	}
	var tier *scenario.Tier
	for i := range s.Tiers {
		if s.Tiers[i].Name == rt.Tier {
			tier = &s.Tiers[i]
		}
	}
	if tier == nil {
		return reports.Admitted{}, false
	}
	inPhase := tr.filter(route, phase)
	byKey := map[int][]sent{}
	var n int64
	for i := range tr.run.Samples {
		x := &tr.run.Samples[i]
		if int(x.Req) >= len(tr.reqs) || tr.reqs[x.Req].route != route || !(x.Code/100 == 2 || x.Code == 429) {
			continue
		}
		key := tr.reqs[x.Req].user
		if tier.Key == "global" || tier.Key == "client_ip" {
			key = 0
		}
		in := inPhase(x)
		byKey[key] = append(byKey[key], sent{at: tr.run.Start.Add(x.Sent).UnixNano(), count: in})
		if in && x.Code/100 == 2 {
			n++
		}
	}
	var allowed int64
	for _, ss := range byKey {
		allowed += modelAdmits(ss, tier.Algorithm, tier.Limit, tier.Window.Nanoseconds())
	}
	if allowed == 0 {
		return reports.Admitted{}, false
	}
	return reports.Admitted{Route: route, Tier: tier.Name, Admitted: n, Allowed: float64(allowed), Ratio: float64(n) / float64(allowed)}, true
}

func phaseAt(ws []scenario.Window, t time.Duration) string {
	for _, w := range ws {
		if t >= w.From && t < w.To {
			return w.Name
		}
	}
	return "-"
}

func quantiles(q load.Quantiles) reports.Quantiles {
	return reports.Quantiles{P50: us(q.P50), P90: us(q.P90), P99: us(q.P99), P999: us(q.P999), P9999: us(q.P9999), Max: us(q.Max), Mean: us(q.Mean)}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// abortCheck evaluates the scenario's abort budgets on the samples seen so
// far; a failure aborts the scenario and the run.
func (sr *scenarioRun) abortCheck(t *target, tr *trial, ss []load.Sample) bool {
	if tr.aborted != "" {
		return false // already stopping: the last tick must not fail it twice
	}
	var abort []scenario.Budget
	for _, b := range sr.s.Budgets {
		if b.Abort && appliesTo(b.Parsed, t) {
			abort = append(abort, b)
		}
	}
	if len(abort) == 0 {
		return false
	}
	if tr.partial == nil {
		tr.partial = &load.Run{}
	}
	tr.partial.Samples = append(tr.partial.Samples, ss...) // once per tick, whatever the number of budgets
	src := &partialSource{tr: tr}
	for _, b := range abort {
		v := budget.Evaluate(b.Parsed, src)
		if v.Result == budget.Fail {
			sr.aborted = true
			why := fmt.Sprintf("aborted: %s failed on %s during the run (%s)", b.Expr, t.Name, v.ObservedText())
			sr.Notes = append(sr.Notes, why)
			obs := v.Observed
			sr.abortBudgets = append(sr.abortBudgets, reports.Budget{Expr: b.Expr, Line: b.Line, Target: t.Name, Observed: &obs,
				Text: v.ObservedText() + " (mid-run, run aborted)", Verdict: reports.Fail, Abort: true, Detail: why})
			tr.aborted = why
			sr.l.logf("  ABORT: %s on %s: %s", b.Expr, t.Name, v.ObservedText())
			return true
		}
	}
	return false
}
