package reports

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"
)

// RenderHTML writes report.html: one self-contained page (inline CSS and
// inline SVG charts, no script, nothing fetched) with the run's manifest,
// and per scenario its charts, summary, budgets, invalid records, skipped
// targets and notes. The output depends on r alone, so the same results
// render byte for byte the same page.
//
// Every string from r is escaped by html/template; chart labels are
// escaped by the SVG backend that draws them. A chart that cannot be drawn
// is replaced by a note saying why; RenderHTML fails only when writing w
// fails.
func RenderHTML(w io.Writer, r *Results) error {
	page := htmlPage{R: r, Duration: durationText(r.Manifest.Start, r.Manifest.End)}
	for _, k := range sortedKeys(r.Manifest.Deps) {
		v := r.Manifest.Deps[k]
		if v == "" {
			v = "not run"
		}
		page.Deps = append(page.Deps, k+" "+v)
	}
	for i := range r.Scenarios {
		sv := buildScenario(i, &r.Scenarios[i])
		page.Budgets.add(sv.S.Budgets)
		page.Scenarios = append(page.Scenarios, sv)
	}
	if err := htmlTemplate.Execute(w, page); err != nil {
		return fmt.Errorf("rendering report.html: %w", err)
	}
	return nil
}

// htmlPage is what the template renders.
type htmlPage struct {
	R         *Results
	Duration  string
	Deps      []string
	Budgets   budgetCount
	Scenarios []htmlScenario
}

// budgetCount counts budget verdicts for the header.
type budgetCount struct{ Pass, Fail, Other int }

func (c *budgetCount) add(bs []Budget) {
	for _, b := range bs {
		switch b.Verdict {
		case Pass:
			c.Pass++
		case Fail:
			c.Fail++
		default:
			c.Other++
		}
	}
}

// htmlScenario is one scenario's section.
type htmlScenario struct {
	ID      string
	S       *ScenarioResult
	Load    string
	Ups     []string // what answered each upstream
	Charts  []htmlChart
	Summary []summaryRow
	// HasOverhead: some target has an overhead (the table shows its columns).
	HasOverhead bool
	Budgets     budgetCount
	Invalid     []*Record
	Skipped     []Target
	Faults      []faultRow
}

// htmlChart is a chart with its element id on the page.
type htmlChart struct {
	chart
	ID string
}

// summaryRow is one target's line of the summary table, formatted.
type summaryRow struct {
	Target, Kind, Reps         string
	RPS, P50, P99, P999        string
	OverP50, OverP99, OverP999 string
	CPU, RSS, Errors           string
	Rank                       int
	GeneratorBound             bool
}

// faultRow is one fault event as applied in one record.
type faultRow struct {
	Target string
	Rep    int
	FaultEvent
}

func buildScenario(i int, s *ScenarioResult) htmlScenario {
	sv := htmlScenario{ID: fmt.Sprintf("scenario-%d", i+1), S: s, Load: loadText(&s.Load)}
	for _, u := range s.Upstreams {
		sv.Ups = append(sv.Ups, fmt.Sprintf("Upstream %s: %s.", u.Name, upstreamText(&u)))
	}
	sv.Budgets.add(s.Budgets)
	add := func(ch chart, ok bool) {
		if ok {
			sv.Charts = append(sv.Charts, htmlChart{chart: ch, ID: fmt.Sprintf("%s-chart-%d", sv.ID, len(sv.Charts)+1)})
		}
	}
	add(latencyChart(s))
	add(overheadChart(s))
	if len(s.Knee) > 0 {
		add(kneeChart(s))
	} else if s.Load.Mode == "closed" {
		add(rpsChart(s))
	}
	for _, ch := range seriesCharts(s) {
		add(ch, true)
	}

	kind := map[string]string{}
	for _, t := range s.Targets {
		kind[t.Name] = t.Kind
		if t.Skipped != "" {
			sv.Skipped = append(sv.Skipped, t)
		}
	}
	for _, m := range s.Summary {
		row := summaryRow{Target: m.Target, Kind: kind[m.Target], Reps: fmt.Sprintf("%d/%d", m.Valid, m.Reps),
			RPS: spreadText(m.RPS, fmtRate), P50: spreadText(m.P50, fmtMicros), P99: spreadText(m.P99, fmtMicros),
			P999: spreadText(m.P999, fmtMicros), Errors: spreadText(m.ErrorRate, fmtPercent), Rank: m.Rank, GeneratorBound: m.GeneratorBound}
		row.CPU, row.RSS = resourceText(&m)
		over := func(sp *Spread) string {
			if sp == nil {
				return ""
			}
			return spreadText(*sp, fmtMicros)
		}
		row.OverP50, row.OverP99, row.OverP999 = over(m.OverP50), over(m.OverP99), over(m.OverP999)
		sv.HasOverhead = sv.HasOverhead || m.OverP50 != nil || m.OverP99 != nil || m.OverP999 != nil
		sv.Summary = append(sv.Summary, row)
	}
	for j := range s.Records {
		rec := &s.Records[j]
		if !rec.Valid {
			sv.Invalid = append(sv.Invalid, rec)
		}
		for _, f := range rec.Faults {
			sv.Faults = append(sv.Faults, faultRow{Target: rec.Target, Rep: rec.Rep, FaultEvent: f})
		}
	}
	order := chartTargetIndex(s)
	sort.SliceStable(sv.Faults, func(a, b int) bool {
		if sv.Faults[a].Target != sv.Faults[b].Target {
			return order(sv.Faults[a].Target) < order(sv.Faults[b].Target)
		}
		return sv.Faults[a].Rep < sv.Faults[b].Rep
	})
	return sv
}

// durationText is "start to end (duration)" in UTC, or what is known.
func durationText(start, end time.Time) string {
	const layout = "2006-01-02 15:04:05 UTC"
	switch {
	case start.IsZero():
		return "unknown"
	case end.IsZero() || end.Before(start):
		return start.UTC().Format(layout) + " (no end recorded)"
	}
	return fmt.Sprintf("%s to %s (%s)", start.UTC().Format(layout), end.UTC().Format(layout), end.Sub(start).Round(time.Second))
}

// verdictClass is the CSS class of a verdict badge.
func verdictClass(v string) string {
	switch v {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Invalid:
		return "invalid"
	}
	return "other"
}

var htmlTemplate = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"verdictClass": verdictClass,
	"join":         strings.Join,
	"seconds":      func(v float64) string { return fmt.Sprintf("%.1f s", v) },
	"load":         func(l [3]float64) string { return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]) },
	"short":        func(s string) string { return s[:min(len(s), 12)] },
}).Parse(htmlSource))
