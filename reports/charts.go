package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart kinds, as written in the data-chart attribute of each figure.
const (
	chartLatency    = "latency"
	chartOverhead   = "overhead"
	chartKnee       = "knee"
	chartRPS        = "rps"
	chartTimeSeries = "timeseries"
)

// chart is one drawn figure: an SVG document from the plotting library,
// without its XML prolog, ready to be inlined into the page.
type chart struct {
	Kind    string
	Title   string
	Caption string
	SVG     template.HTML
	// Err says why the chart could not be drawn (SVG is then empty).
	Err string
}

const chartWidth = 640 // points

// chartFont is the chart typeface. vgsvg names it in a font-family style and
// embeds nothing; the page's CSS adds metric-compatible local fallbacks, so
// no font is ever fetched.
var chartFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// chartPalette colours targets by their position in the scenario's target list,
// so one target keeps its colour across every chart of a scenario.
var chartPalette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x5f, B: 0xbf, A: 0xff}, // blue
	color.RGBA{R: 0xe0, G: 0x6c, B: 0x00, A: 0xff}, // orange
	color.RGBA{R: 0x2a, G: 0x9d, B: 0x3a, A: 0xff}, // green
	color.RGBA{R: 0xc8, G: 0x1d, B: 0x25, A: 0xff}, // red
	color.RGBA{R: 0x7b, G: 0x4f, B: 0xb8, A: 0xff}, // purple
	color.RGBA{R: 0x8c, G: 0x56, B: 0x3c, A: 0xff}, // brown
	color.RGBA{R: 0xd4, G: 0x4f, B: 0xa8, A: 0xff}, // pink
	color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}, // grey
	color.RGBA{R: 0x9a, G: 0x9a, B: 0x10, A: 0xff}, // olive
	color.RGBA{R: 0x10, G: 0xa0, B: 0xb0, A: 0xff}, // cyan
}

// chartTargetStyle returns the line style of the i-th target: its colour, and
// a dash pattern once the chartPalette has been used up.
func chartTargetStyle(i int) draw.LineStyle {
	st := draw.LineStyle{Color: chartPalette[i%len(chartPalette)], Width: vg.Points(1.5)}
	if i >= len(chartPalette) {
		st.Dashes = []vg.Length{vg.Points(5), vg.Points(2)}
	}
	return st
}

// chartTargetIndex maps a target name to its position in sr.Targets; names only
// seen in records come after them.
func chartTargetIndex(sr *ScenarioResult) func(string) int {
	idx := map[string]int{}
	for i, t := range sr.Targets {
		if _, ok := idx[t.Name]; !ok {
			idx[t.Name] = i
		}
	}
	next := len(sr.Targets)
	for _, r := range sr.Records {
		if _, ok := idx[r.Target]; !ok {
			idx[r.Target] = next
			next++
		}
	}
	return func(name string) int { return idx[name] }
}

// plainTicks are plot.DefaultTicks without trailing zeros in their labels
// ("250", not "250.00").
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if l := ts[i].Label; strings.Contains(l, ".") && !strings.ContainsAny(l, "eE") {
			ts[i].Label = strings.TrimSuffix(strings.TrimRight(l, "0"), ".")
		}
	}
	return ts
}

// newChartPlot returns a plot with the report's fonts and a light grid.
func newChartPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(chartFont, 11)
	p.Title.Padding = vg.Points(6)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(chartFont, 10)
		a.Tick.Label.Font = font.From(chartFont, 9)
	}
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	p.X.Tick.Marker, p.Y.Tick.Marker = plainTicks{}, plainTicks{}
	p.Legend.TextStyle.Font = font.From(chartFont, 9)
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 0xe4}
	g.Horizontal.Color = color.Gray{Y: 0xe4}
	p.Add(g)
	return p
}

// newChartLegend returns a legend for drawing beside a plot.
func newChartLegend() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = font.From(chartFont, 9)
	l.Top, l.Left = true, true
	l.Padding = vg.Points(2)
	return l
}

// chartLegendWidth is the width a legend needs, 0 when it is empty.
func chartLegendWidth(l *plot.Legend, c draw.Canvas) vg.Length {
	r := l.Rectangle(c)
	w := r.Max.X - r.Min.X
	if w <= 0 {
		return 0
	}
	return w + vg.Points(10)
}

// belowLegend is a legend drawn under its plot in up to three columns,
// so long target names neither cover data nor squeeze the plot.
type belowLegend struct {
	names  []string
	thumbs [][]plot.Thumbnailer
}

func (l *belowLegend) Add(name string, th ...plot.Thumbnailer) {
	l.names = append(l.names, name)
	l.thumbs = append(l.thumbs, th)
}

// columns splits the entries into legends of at most perCol entries each,
// filled column by column.
func (l *belowLegend) columns() []plot.Legend {
	n := len(l.names)
	cols := 1
	switch {
	case n > 10:
		cols = 3
	case n > 3:
		cols = 2
	}
	perCol := (n + cols - 1) / cols
	var out []plot.Legend
	for i := 0; i < n; i += perCol {
		lg := newChartLegend()
		for j := i; j < min(i+perCol, n); j++ {
			lg.Add(l.names[j], l.thumbs[j]...)
		}
		out = append(out, lg)
	}
	return out
}

// height is the height the legend takes under the plot: its tallest
// column and a margin.
func (l *belowLegend) height() vg.Length {
	h := vg.Length(0)
	for _, lg := range l.columns() {
		r := lg.Rectangle(draw.Canvas{})
		h = max(h, r.Max.Y-r.Min.Y)
	}
	if h == 0 {
		return 0
	}
	return h + vg.Points(12)
}

// draw draws p with the legend under it, the columns side by side.
func (l *belowLegend) draw(c draw.Canvas, p *plot.Plot) {
	h := l.height()
	// The right margin leaves room for the last x tick label, which is
	// centred on the axis' end.
	p.Draw(draw.Crop(c, 0, -vg.Points(18), h, 0))
	cols := l.columns()
	if len(cols) == 0 {
		return
	}
	w := (c.Max.X - c.Min.X - vg.Points(20)) / vg.Length(len(cols))
	for i := range cols {
		x0 := c.Min.X + vg.Points(20) + vg.Length(i)*w
		area := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x0, Y: c.Min.Y},
			Max: vg.Point{X: x0 + w - vg.Points(6), Y: c.Min.Y + h - vg.Points(6)},
		}}
		cols[i].Draw(area)
	}
}

// svgOf draws a w x h point chart with paint and returns the SVG element,
// without the XML prolog and comment vgsvg writes before it. vgsvg writes
// no id attributes, so several charts can share a page; it escapes every
// text it draws. A panic of the plotting library (it panics on some
// impossible ranges) becomes an error.
func svgOf(w, h vg.Length, paint func(c draw.Canvas)) (s template.HTML, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("drawing chart: %v", r)
		}
	}()
	cv := vgsvg.New(w, h)
	paint(draw.New(cv))
	var b bytes.Buffer
	if _, err := cv.WriteTo(&b); err != nil {
		return "", fmt.Errorf("writing svg: %w", err)
	}
	out := b.String()
	i := strings.Index(out, "<svg")
	if i < 0 {
		return "", fmt.Errorf("writing svg: no <svg> element in the output")
	}
	return template.HTML(out[i:]), nil // #nosec: drawn by vgsvg, which escapes text
}

// newChart draws a chart, keeping the error as the chart's Err.
func newChart(kind, title, caption string, w, h vg.Length, paint func(c draw.Canvas)) chart {
	ch := chart{Kind: kind, Title: title, Caption: caption}
	svg, err := svgOf(w, h, paint)
	if err != nil {
		ch.Err = err.Error()
		return ch
	}
	ch.SVG = svg
	return ch
}

// chartRecords are the records that count for a target: valid and not
// superseded, knee probes left out (they each ran at another rate).
func chartRecords(sr *ScenarioResult, target string) []*Record {
	var out []*Record
	for i := range sr.Records {
		r := &sr.Records[i]
		if r.Target == target && r.Valid && !r.Superseded && !r.KneeProbe {
			out = append(out, r)
		}
	}
	return out
}

// kneeRecords are a target's valid knee-probe records at its knee rate
// (offered within 2 % of it): its latency at the highest rate that held.
func kneeRecords(sr *ScenarioResult, target string) ([]*Record, float64) {
	knee := 0.0
	for _, k := range sr.Knee {
		if k.Target == target {
			knee = k.Knee
		}
	}
	if knee <= 0 {
		return nil, 0
	}
	var out []*Record
	for i := range sr.Records {
		r := &sr.Records[i]
		if r.Target == target && r.Valid && !r.Superseded && r.KneeProbe && math.Abs(r.Offered-knee) <= 0.02*knee {
			out = append(out, r)
		}
	}
	return out, knee
}

// chartTargets are the targets with at least one record, in the
// scenario's order (skipped targets have none).
func chartTargets(sr *ScenarioResult) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	has := map[string]bool{}
	for _, r := range sr.Records {
		has[r.Target] = true
	}
	for _, t := range sr.Targets {
		if has[t.Name] {
			add(t.Name)
		}
	}
	for _, r := range sr.Records {
		add(r.Target)
	}
	return out
}

// --- latency percentile curves ---

// Percentile axis: x = 1/(1-p), on a log scale, so p50, p90, p99, ...
// are equally spaced. It runs from p0 (x=1) to p99.99 (x=10^4).
const pctAxisMax = 1e4

func pctX(p float64) float64 { return 1 / (1 - p) }

var pctTicks = plot.ConstantTicks{
	{Value: 1}, // p0: a tick without a label, it would crowd 50%
	{Value: pctX(0.5), Label: "50%"},
	{Value: pctX(0.9), Label: "90%"},
	{Value: pctX(0.99), Label: "99%"},
	{Value: pctX(0.999), Label: "99.9%"},
	{Value: pctX(0.9999), Label: "99.99%"},
}

// logTicks125 marks a log axis at 1..9 times each power of ten and
// labels 1, 2 and 5 times it (only the powers of ten over more than two
// decades), so a range narrower than a decade still gets labels. (plot.LogTicks
// starts at the power of ten of min truncated towards zero, so below 1 it
// leaves the lowest decade without ticks.)
type logTicks125 struct{}

func (logTicks125) Ticks(min, max float64) []plot.Tick {
	if min <= 0 || max <= 0 || min > max {
		return nil
	}
	wide := math.Log10(max/min) > 2
	var ts []plot.Tick
	top := math.Ceil(math.Log10(max))
	for e := math.Floor(math.Log10(min)); e <= top; e++ {
		for m := 1; m <= 9 && (e < top || m == 1); m++ {
			v := float64(m) * math.Pow(10, e)
			tk := plot.Tick{Value: v}
			if m == 1 || !wide && (m == 2 || m == 5) {
				tk.Label = strconv.FormatFloat(v, 'g', 6, 64)
			}
			ts = append(ts, tk)
		}
	}
	return ts
}

// widenLogRange makes a log axis' range non-empty: plot would widen an
// empty one by ±1, below zero for small values, which a log scale cannot
// draw. Call it after every Add.
func widenLogRange(a *plot.Axis) {
	if a.Min == a.Max && a.Min > 0 {
		a.Min, a.Max = a.Min/2, a.Max*2
	}
}

// mergedHistogram decodes and merges the whole-window histograms (route
// "" and phase "") of recs; nil when none carries one.
func mergedHistogram(recs []*Record) (*hdrhistogram.Histogram, error) {
	var m *hdrhistogram.Histogram
	for _, r := range recs {
		for _, s := range r.Slices {
			if s.Route != "" || s.Phase != "" || s.Histogram == "" {
				continue
			}
			h, err := hdrhistogram.Decode([]byte(s.Histogram))
			if err != nil {
				return nil, fmt.Errorf("decoding the histogram of %s rep %d: %w", r.Target, r.Rep, err)
			}
			if m == nil {
				m = h
			} else {
				m.Merge(h)
			}
		}
	}
	if m != nil && m.TotalCount() == 0 {
		return nil, nil
	}
	return m, nil
}

// curveFromHistogram samples h at 25 points per decade of the percentile
// axis, in milliseconds.
func curveFromHistogram(h *hdrhistogram.Histogram) plotter.XYs {
	const perDecade = 25
	n := int(math.Round(math.Log10(pctAxisMax) * perDecade))
	xys := make(plotter.XYs, 0, n+1)
	for i := 0; i <= n; i++ {
		x := math.Pow(10, float64(i)/perDecade)
		q := 100 * (1 - 1/x)
		v := max(float64(h.ValueAtQuantile(q)), 1) // the histograms' floor is 1 µs
		xys = append(xys, plotter.XY{X: x, Y: v / 1000})
	}
	return xys
}

// curveFromQuantiles is the fallback without histograms: the median over
// recs of each stored percentile, in milliseconds.
func curveFromQuantiles(recs []*Record) plotter.XYs {
	pick := []struct {
		p float64
		v func(q Quantiles) float64
	}{
		{0.5, func(q Quantiles) float64 { return q.P50 }},
		{0.9, func(q Quantiles) float64 { return q.P90 }},
		{0.99, func(q Quantiles) float64 { return q.P99 }},
		{0.999, func(q Quantiles) float64 { return q.P999 }},
		{0.9999, func(q Quantiles) float64 { return q.P9999 }},
	}
	var xys plotter.XYs
	for _, pk := range pick {
		vs := make([]float64, 0, len(recs))
		for _, r := range recs {
			if v := pk.v(r.Latency); v > 0 {
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 {
			continue
		}
		xys = append(xys, plotter.XY{X: pctX(pk.p), Y: chartMedian(vs) / 1000})
	}
	return xys
}

// chartMedian is the median of vs (sorted in place); the mean of the middle two for an even
// count.
func chartMedian(vs []float64) float64 {
	sort.Float64s(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// latencyChart draws one percentile curve per target from its merged
// histograms (or its stored percentiles when it has none).
func latencyChart(sr *ScenarioResult) (chart, bool) {
	idx := chartTargetIndex(sr)
	p := newChartPlot("Latency by percentile (corrected for coordinated omission)", "percentile", "latency (ms)")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = pctTicks, logTicks125{}
	p.X.Min, p.X.Max = 1, pctAxisMax
	var leg belowLegend
	var notes []string
	drawn, atKnee := 0, 0
	for _, name := range chartTargets(sr) {
		recs := chartRecords(sr, name)
		label := fmt.Sprintf("%s (%d rep", name, len(recs))
		if len(recs) == 0 {
			var knee float64
			if recs, knee = kneeRecords(sr, name); len(recs) == 0 {
				continue
			}
			label = fmt.Sprintf("%s (at its knee, %.0f req/s, %d trial", name, knee, len(recs))
			atKnee++
		}
		if len(recs) != 1 {
			label += "s"
		}
		h, err := mergedHistogram(recs)
		if err != nil {
			notes = append(notes, err.Error())
		}
		var xys plotter.XYs
		if h != nil {
			xys = curveFromHistogram(h)
			label += ")"
		} else {
			xys = curveFromQuantiles(recs)
			label += ", stored percentiles)"
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		l.LineStyle = chartTargetStyle(idx(name))
		p.Add(l)
		if h == nil { // few points: mark them
			s, _ := plotter.NewScatter(xys)
			s.GlyphStyle = draw.GlyphStyle{Color: l.Color, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
			p.Add(s)
			leg.Add(label, l, s)
		} else {
			leg.Add(label, l)
		}
		drawn++
	}
	if drawn == 0 {
		return chart{}, false
	}
	widenLogRange(&p.Y)
	caption := "Each curve merges the HDR histograms of the target's valid repetitions (whole measured window, every route). " +
		"The x axis stretches the tail: each tick is ten times closer to 100%."
	if atKnee > 0 {
		caption += " A knee search has no fixed-rate runs: its curves merge the trials at each target's knee rate."
	}
	if len(notes) > 0 {
		caption += " " + strings.Join(notes, "; ")
	}
	return newChart(chartLatency, "Latency percentiles", caption, chartWidth, 300+leg.height(), func(c draw.Canvas) {
		leg.draw(c, p)
	}), true
}
