package reports

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// RenderMarkdown writes report.md: what a pull-request comment can carry.
// The verdict, the budget table (observed against expected), then per
// scenario the ranking of its targets (median and min..max over the
// repetitions), the overhead against the direct baseline, the knee, CPU per
// 1k requests and RSS, the invalid and superseded records and the skipped
// targets with their reasons, the notes; the manifest last. The output
// depends on r alone (maps are sorted), so a golden file can pin it.
func RenderMarkdown(w io.Writer, r *Results) error {
	m := &mdWriter{w: w}
	m.f("# gatelab bench %s: %s\n\n", r.RunID, verdictWord(r.Verdict))
	m.f("Profile `%s`, %d repetition(s) per scenario, exit code %d. %s.\n",
		r.Profile, r.Manifest.Reps, r.ExitCode, verdictMeaning(r.Verdict))
	for _, n := range r.Notes {
		m.f("\n> %s\n", mdText(n))
	}
	m.budgets(r)
	for i := range r.Scenarios {
		m.scenario(&r.Scenarios[i])
	}
	m.manifest(&r.Manifest)
	return m.err
}

// mdWriter keeps the first write error so the renderer reads straight.
type mdWriter struct {
	w   io.Writer
	err error
}

func (m *mdWriter) f(format string, args ...any) {
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, format, args...)
	}
}

// table writes a Markdown table; cells are escaped by the caller (mdText,
// mdCode).
func (m *mdWriter) table(head []string, align string, rows [][]string) {
	m.f("\n| %s |\n|", strings.Join(head, " | "))
	for i := range head {
		if i < len(align) && align[i] == 'r' {
			m.f("---:|")
		} else {
			m.f("---|")
		}
	}
	m.f("\n")
	for _, row := range rows {
		m.f("| %s |\n", strings.Join(row, " | "))
	}
}

func verdictWord(v string) string {
	switch v {
	case Pass:
		return "PASS"
	case Fail:
		return "FAIL"
	case Invalid:
		return "INVALID"
	}
	return v
}

func verdictMeaning(v string) string {
	switch v {
	case Pass:
		return "Every budget passed"
	case Fail:
		return "A budget failed"
	case Invalid:
		return "The run is invalid: a record did not deliver its load, a budget could not be judged, or the run was interrupted; budgets of invalid records were not evaluated"
	}
	return "Unknown verdict"
}

// budgets is the table of every budget: verdict, scenario, target, the
// expression, what was observed and what was expected.
func (m *mdWriter) budgets(r *Results) {
	var rows [][]string
	counts := map[string]int{}
	for _, s := range r.Scenarios {
		for _, b := range s.Budgets {
			counts[b.Verdict]++
			obs := strings.TrimSpace(b.Text)
			if b.Verdict != Pass && b.Verdict != Fail && b.Detail != "" {
				obs = strings.TrimSpace(b.Detail)
			}
			rows = append(rows, []string{"**" + b.Verdict + "**", mdText(s.Name), mdCode(b.Target), mdCode(budgetMetric(b.Expr)), mdText(obs), mdCode(budgetExpected(b.Expr))})
		}
	}
	m.f("\n## Budgets\n")
	if len(rows) == 0 {
		m.f("\nNo budgets in this run.\n")
		return
	}
	var tally []string
	for _, v := range []string{Pass, Fail, Invalid, NoData, Skip} {
		if counts[v] > 0 {
			tally = append(tally, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	m.f("\n%s.\n", strings.Join(tally, ", "))
	m.table([]string{"verdict", "scenario", "target", "budget", "observed", "expected"}, "", rows)
}

// budgetMetric and budgetExpected split a budget expression at its
// comparison: "latency.p99{route:users} < 5ms" -> "latency.p99{route:users}"
// and "< 5ms". An expression without one is returned whole as the metric.
func budgetMetric(expr string) string {
	if i := cmpIndex(expr); i >= 0 {
		return strings.TrimSpace(expr[:i])
	}
	return expr
}

func budgetExpected(expr string) string {
	if i := cmpIndex(expr); i >= 0 {
		return strings.TrimSpace(expr[i:])
	}
	return ""
}

// cmpIndex finds the comparison operator outside the tag braces.
func cmpIndex(expr string) int {
	depth := 0
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '{':
			depth++
		case '}':
			depth--
		case '<', '>', '=', '!':
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// scenario writes one scenario's section.
func (m *mdWriter) scenario(s *ScenarioResult) {
	m.f("\n## Scenario `%s`\n", s.Name)
	if s.Description != "" {
		m.f("\n%s\n", mdText(s.Description))
	}
	m.f("\nLoad: %s.\n", loadText(&s.Load))
	for _, u := range s.Upstreams {
		m.f("\nUpstream `%s`: %s.\n", u.Name, mdText(upstreamText(&u)))
	}
	if s.Error != "" {
		m.f("\n**Not run**: %s\n", mdText(s.Error))
	}
	for _, w := range s.Windows {
		kind := "phase"
		if w.Kind != "" {
			kind = "fault " + w.Kind
		}
		m.f("\n- %s `%s`: %.1f s to %.1f s of the load", kind, w.Name, w.FromS, w.ToS)
	}
	if len(s.Windows) > 0 {
		m.f("\n")
	}
	if len(s.Summary) > 0 {
		m.ranking(s)
	}
	if len(s.Knee) > 0 {
		var rows [][]string
		for _, k := range s.Knee {
			rows = append(rows, []string{mdCode(k.Target), fmt.Sprintf("%.0f", k.Knee), mdText(k.Bound), fmt.Sprint(len(k.Trials))})
		}
		m.f("\nThroughput at the knee (the highest offered rate that kept the budget):\n")
		m.table([]string{"target", "knee req/s", "bound by", "trials"}, "lrlr", rows)
	}
	for _, p := range s.Parity {
		if !p.OK {
			m.f("\n- parity: `%s` differs from the reference (not ranked): %s\n", p.Target, mdText(strings.Join(p.Diffs, "; ")))
		}
	}
	m.problems(s)
	for _, n := range s.Notes {
		m.f("\n- note: %s", mdText(n))
	}
	if len(s.Notes) > 0 {
		m.f("\n")
	}
}

// ranking is the per-target table in rank order (unranked targets last, in
// their run order): medians with min..max.
func (m *mdWriter) ranking(s *ScenarioResult) {
	sum := append([]Summary(nil), s.Summary...)
	sort.SliceStable(sum, func(i, j int) bool {
		ri, rj := sum[i].Rank, sum[j].Rank
		if (ri > 0) != (rj > 0) {
			return ri > 0
		}
		return ri < rj
	})
	over := false
	for _, x := range sum {
		over = over || x.OverP50 != nil
	}
	head := []string{"rank", "target", "valid", "req/s", "p50", "p99", "p99.9"}
	align := "rlrrrrr"
	if over {
		head = append(head, "overhead p50", "overhead p99", "overhead p99.9")
		align += "rrr"
	}
	head = append(head, "transport errors", "CPU / 1k req", "RSS")
	align += "rrr"
	var rows [][]string
	for _, x := range sum {
		rank := "-"
		if x.Rank > 0 {
			rank = fmt.Sprint(x.Rank)
		}
		if x.GeneratorBound {
			rank += " (generator-bound)"
		}
		row := []string{rank, mdCode(x.Target), fmt.Sprintf("%d/%d", x.Valid, x.Reps),
			spreadText(x.RPS, fmtRate), spreadText(x.P50, fmtMicros), spreadText(x.P99, fmtMicros), spreadText(x.P999, fmtMicros)}
		if over {
			for _, o := range []*Spread{x.OverP50, x.OverP99, x.OverP999} {
				if o == nil {
					row = append(row, "-")
				} else {
					row = append(row, spreadText(*o, fmtMicros))
				}
			}
		}
		cpu, rss := resourceText(&x)
		row = append(row, spreadText(x.ErrorRate, fmtPercent), cpu, rss)
		rows = append(rows, row)
	}
	m.f("\nTargets, best first (median over valid repetitions, min..max in brackets; overhead is the target minus the direct baseline of the same repetition):\n")
	m.table(head, align, rows)
}

// resourceText is a target's CPU per 1k requests and peak RSS, "-" where
// there is no process of its own to measure (the direct run, containers).
func resourceText(x *Summary) (cpu, rss string) {
	cpu, rss = "-", "-"
	if x.CPUPer1k.Median > 0 {
		cpu = spreadText(x.CPUPer1k, fmtMillis)
	}
	if x.PeakRSS.Median > 0 {
		rss = spreadText(x.PeakRSS, fmtBytes)
	}
	return cpu, rss
}

// problems lists the records that are not a clean measurement (invalid,
// superseded by a retry) and the targets that were skipped, each with its
// reason. Knee probes that failed are the search's answer, not problems.
func (m *mdWriter) problems(s *ScenarioResult) {
	var rows [][]string
	for _, r := range s.Records {
		switch {
		case r.KneeProbe:
			continue
		case r.Superseded:
			rows = append(rows, []string{"superseded (run again)", mdCode(r.Target), fmt.Sprint(r.Rep), mdText(r.Invalid)})
		case !r.Valid:
			rows = append(rows, []string{"**INVALID**", mdCode(r.Target), fmt.Sprint(r.Rep), mdText(r.Invalid)})
		}
	}
	for _, t := range s.Targets {
		if t.Skipped != "" {
			rows = append(rows, []string{"skipped", mdCode(t.Name), "-", mdText(t.Skipped)})
		}
	}
	if len(rows) == 0 {
		return
	}
	m.f("\nNot measured cleanly:\n")
	m.table([]string{"state", "target", "rep", "reason"}, "llrl", rows)
}

// manifest writes where and how the run was made.
func (m *mdWriter) manifest(mf *Manifest) {
	m.f("\n## Manifest\n\n")
	dirty := ""
	if mf.GitDirty {
		dirty = " (uncommitted changes)"
	}
	m.f("- source: `%s`%s, %s\n", mf.GitSHA, dirty, mdText(mf.GoVersion))
	m.f("- host: %s, %d cores, %s, kernel %s\n", mdText(mf.Hostname), mf.Cores, mdText(mf.CPUModel), mdText(mf.Kernel))
	m.f("- time: %s to %s (%s); load average %.2f before, %.2f after\n",
		mf.Start.UTC().Format("2006-01-02 15:04:05Z"), mf.End.UTC().Format("15:04:05Z"), mf.End.Sub(mf.Start).Round(1e9), mf.LoadBefore[0], mf.LoadAfter[0])
	if len(mf.Args) > 0 {
		m.f("- command: `%s`\n", strings.ReplaceAll(strings.Join(mf.Args, " "), "`", "'"))
	}
	if len(mf.Deps) > 0 {
		var deps []string
		for _, k := range sortedKeys(mf.Deps) {
			v := mf.Deps[k]
			if v == "" {
				v = "not run"
			}
			deps = append(deps, fmt.Sprintf("%s %s", k, v))
		}
		m.f("- dependencies: %s\n", mdText(strings.Join(deps, "; ")))
	}
	for _, k := range sortedKeys(mf.Scenarios) {
		m.f("- scenario `%s` sha256 `%.12s`\n", k, mf.Scenarios[k])
	}
}

func sortedKeys(mp map[string]string) []string {
	ks := make([]string, 0, len(mp))
	for k := range mp {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func loadText(l *LoadPlan) string {
	switch l.Mode {
	case "closed":
		return fmt.Sprintf("closed loop, %d workers for %.0f s after a %.0f s warm-up", l.Workers, l.Duration, l.WarmupS)
	case "":
		return "none"
	}
	if len(l.Stages) == 0 {
		return fmt.Sprintf("%s model at the rates the search picks, after a %.0f s warm-up", l.Mode, l.WarmupS)
	}
	var st []string
	for _, s := range l.Stages {
		if s.To > 0 && s.To != s.Rate {
			st = append(st, fmt.Sprintf("%.0f to %.0f req/s for %.0f s", s.Rate, s.To, s.DurationS))
		} else {
			st = append(st, fmt.Sprintf("%.0f req/s for %.0f s", s.Rate, s.DurationS))
		}
	}
	return fmt.Sprintf("%s model, %s, after a %.0f s warm-up", l.Mode, strings.Join(st, ", then "), l.WarmupS)
}

// spreadText is "median (min..max)" with the unit once, after the
// median, or the median alone when the spread is empty.
func spreadText(s Spread, u unitFmt) string {
	num, unit := u(s.Median, s.Median)
	if s.Min == s.Max {
		return num + unit
	}
	lo, _ := u(s.Min, s.Median)
	hi, _ := u(s.Max, s.Median)
	return fmt.Sprintf("%s%s (%s..%s)", num, unit, lo, hi)
}

// unitFmt formats v in the unit chosen for ref, returning the number and
// the unit (with its leading space).
type unitFmt func(v, ref float64) (string, string)

// fmtMicros scales microseconds to µs, ms or s by ref.
func fmtMicros(v, ref float64) (string, string) {
	a := math.Abs(ref)
	switch {
	case a >= 1e6:
		return sig3(v / 1e6), " s"
	case a >= 1e3:
		return sig3(v / 1e3), " ms"
	default:
		return sig3(v), " µs"
	}
}

// sig3 prints about 3 significant digits, never in exponent form.
func sig3(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// fmtMillis is CPU milliseconds (per 1k requests).
func fmtMillis(v, ref float64) (string, string) { return fmtMicros(v*1000, ref*1000) }

func fmtRate(v, _ float64) (string, string) { return fmt.Sprintf("%.0f", v), "" }

func fmtRatio(v, _ float64) (string, string) { return fmt.Sprintf("%.3f", v), "" }

func fmtBytes(v, _ float64) (string, string) { return fmt.Sprintf("%.0f", v/1e6), " MB" }

func fmtPercent(v, _ float64) (string, string) {
	if v == 0 {
		return "0", ""
	}
	return fmt.Sprintf("%.3g", v*100), " %"
}

// mdText escapes a string for a Markdown table cell or paragraph: pipes,
// newlines and the characters that would start markup or HTML.
func mdText(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "'", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

// mdCode renders s as inline code (a target name, an expression); a pipe
// still has to be escaped inside a table.
func mdCode(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.NewReplacer("`", "'", "|", `\|`, "\n", " ").Replace(s) + "`"
}

// upstreamText says what answered an upstream, in one line.
func upstreamText(u *UpstreamServer) string {
	var b strings.Builder
	switch {
	case u.Server == "nginx":
		fmt.Fprintf(&b, "nginx %s answering every request itself", u.Version)
	case u.Fallback:
		fmt.Fprintf(&b, "gatelab upstream (%s), the FALLBACK for nginx (not installed): a slower upstream", u.Mode)
	default:
		fmt.Fprintf(&b, "gatelab upstream (%s)", u.Mode)
	}
	fmt.Fprintf(&b, ", %d instance(s)", u.Instances)
	if u.MaxConnRequests > 0 {
		fmt.Fprintf(&b, ", a connection closed after %d requests", u.MaxConnRequests)
	}
	if u.IdleTimeoutS > 0 {
		fmt.Fprintf(&b, ", or idle %gs", u.IdleTimeoutS)
	}
	if u.Proxied {
		b.WriteString(", behind toxiproxy")
	}
	return b.String()
}
