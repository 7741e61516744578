package reports

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// chartBar is one bar of a bar panel: a target's median and its min..max.
type chartBar struct {
	Target string
	Label  string
	Spread Spread
}

// barRow is the height each bar of a panel takes, in points.
const barRow = 17

// barPanel returns a horizontal bar plot, one bar per entry in the
// target's colour with a min..max whisker, the first entry on top. Values
// are divided by div (a unit change) before plotting.
func barPanel(title, xlabel string, bars []chartBar, div float64, idx func(string) int) (*plot.Plot, error) {
	p := newChartPlot(title, xlabel, "")
	p.Y.Scale = plot.InvertedScale{Normalizer: plot.LinearScale{}}
	p.Y.Min, p.Y.Max = -0.6, float64(len(bars))-0.4
	p.Y.Padding = 0
	var ticks plot.ConstantTicks
	for i, b := range bars {
		med, lo, hi := b.Spread.Median/div, b.Spread.Min/div, b.Spread.Max/div
		bc, err := plotter.NewBarChart(plotter.Values{med}, vg.Points(barRow*0.65))
		if err != nil {
			return nil, fmt.Errorf("bar of %s: %w", b.Target, err)
		}
		bc.Horizontal = true
		bc.XMin = float64(i)
		bc.Color = chartTargetStyle(idx(b.Target)).Color
		bc.LineStyle.Width = 0
		p.Add(bc)
		if hi > lo {
			eb, err := plotter.NewXErrorBars(struct {
				plotter.XYs
				plotter.XErrors
			}{plotter.XYs{{X: med, Y: float64(i)}}, plotter.XErrors{{Low: med - lo, High: hi - med}}})
			if err != nil {
				return nil, fmt.Errorf("whisker of %s: %w", b.Target, err)
			}
			eb.LineStyle.Width = vg.Points(1)
			eb.CapWidth = vg.Points(barRow * 0.5)
			p.Add(eb)
		}
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: b.Label})
	}
	p.Y.Tick.Marker = ticks
	p.Y.Tick.Length = 0
	return p, nil
}

// durationUnit picks µs or ms for values in microseconds.
func durationUnit(bars ...[]chartBar) (string, float64) {
	m := 0.0
	for _, bs := range bars {
		for _, b := range bs {
			m = max(m, math.Abs(b.Spread.Min), math.Abs(b.Spread.Max), math.Abs(b.Spread.Median))
		}
	}
	if m >= 1000 {
		return "ms", 1000
	}
	return "µs", 1
}

// overheadChart draws the overhead over the direct run (p50, p99, p99.9)
// of every gatelab and peer target: three panels, median bars with
// min..max whiskers over the repetitions.
func overheadChart(sr *ScenarioResult) (chart, bool) {
	idx := chartTargetIndex(sr)
	kind := map[string]string{}
	for _, t := range sr.Targets {
		kind[t.Name] = t.Kind
	}
	var p50, p99, p999 []chartBar
	reps := 0
	for _, s := range sr.Summary {
		if k := kind[s.Target]; k != "gatelab" && k != "peer" {
			continue
		}
		if s.OverP50 == nil && s.OverP99 == nil && s.OverP999 == nil {
			continue
		}
		reps = max(reps, s.Valid)
		add := func(bs *[]chartBar, sp *Spread) {
			if sp != nil {
				*bs = append(*bs, chartBar{Target: s.Target, Label: s.Target, Spread: *sp})
			}
		}
		add(&p50, s.OverP50)
		add(&p99, s.OverP99)
		add(&p999, s.OverP999)
	}
	panels := []struct {
		name string
		bars []chartBar
	}{{"p50", p50}, {"p99", p99}, {"p99.9", p999}}
	var plots [][]*plot.Plot
	rows := 0
	for _, pn := range panels {
		if len(pn.bars) == 0 {
			continue
		}
		unit, div := durationUnit(pn.bars)
		p, err := barPanel("overhead at "+pn.name, "latency added over the direct run ("+unit+")", pn.bars, div, idx)
		if err != nil {
			return chart{Kind: chartOverhead, Title: "Overhead", Err: err.Error()}, true
		}
		plots = append(plots, []*plot.Plot{p})
		rows = max(rows, len(pn.bars))
	}
	if len(plots) == 0 {
		return chart{}, false
	}
	panelH := vg.Length(rows*barRow + 70)
	caption := fmt.Sprintf("Bars: median over the valid repetitions (up to %d); whiskers: min..max. "+
		"Overhead is the target's latency minus the direct run's in the same repetition.", reps)
	return newChart(chartOverhead, "Overhead over the direct run", caption, chartWidth, panelH*vg.Length(len(plots)), func(c draw.Canvas) {
		tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Points(8), PadRight: vg.Points(12), PadTop: vg.Points(2)}
		cs := plot.Align(plots, tiles, c)
		for i := range plots {
			plots[i][0].Draw(cs[i][0])
		}
	}), true
}

// rpsChart draws the achieved throughput of every target (median bar,
// min..max whisker): the closed-loop answer to "how fast".
func rpsChart(sr *ScenarioResult) (chart, bool) {
	idx := chartTargetIndex(sr)
	var bars []chartBar
	for _, s := range sr.Summary {
		if s.Valid == 0 {
			continue
		}
		label := s.Target
		if s.GeneratorBound {
			label += " (generator-bound)"
		}
		bars = append(bars, chartBar{Target: s.Target, Label: label, Spread: s.RPS})
	}
	if len(bars) == 0 {
		return chart{}, false
	}
	div, unit := 1.0, "req/s"
	for _, b := range bars {
		if b.Spread.Max >= 10000 {
			div, unit = 1000, "thousand req/s"
		}
	}
	p, err := barPanel("achieved throughput", unit, bars, div, idx)
	if err != nil {
		return chart{Kind: chartRPS, Title: "Throughput", Err: err.Error()}, true
	}
	caption := "Closed loop: requests per second each target sustained. Bars: median over the valid repetitions; whiskers: min..max. " +
		"A generator-bound target is within 80 % of the load generator's own ceiling (the direct run)."
	return newChart(chartRPS, "Throughput", caption, chartWidth, vg.Length(len(bars)*barRow+80), func(c draw.Canvas) {
		p.Draw(draw.Crop(c, 0, -vg.Points(12), 0, 0))
	}), true
}
