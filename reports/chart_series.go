package reports

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// faultBand is a translucent rectangle over x in [From, To] across the whole
// plot height, with an optional label at its top left: a fault window.
type faultBand struct {
	From, To float64
	Label    string
	Fill     color.Color
}

func (b faultBand) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x0, x1 := trX(b.From), trX(b.To)
	c.FillPolygon(b.Fill, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	edge := draw.LineStyle{Color: color.RGBA{R: 0xb0, G: 0x20, B: 0x20, A: 0xff}, Width: vg.Points(0.75), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
	c.StrokeLine2(edge, x0, c.Min.Y, x0, c.Max.Y)
	c.StrokeLine2(edge, x1, c.Min.Y, x1, c.Max.Y)
	if b.Label != "" {
		sty := text.Style{Color: color.RGBA{R: 0x90, G: 0x10, B: 0x10, A: 0xff}, Font: font.From(chartFont, 8),
			XAlign: draw.XLeft, YAlign: draw.YTop, Handler: p.TextHandler}
		c.FillText(sty, vg.Point{X: x0 + vg.Points(3), Y: c.Max.Y - vg.Points(2)}, b.Label)
	}
}

func (b faultBand) DataRange() (xmin, xmax, ymin, ymax float64) {
	return b.From, b.To, math.Inf(1), math.Inf(-1)
}

// secondTicks marks a time axis in whole seconds: a label every 1, 2, 5,
// 10, 15 or 30 s, or 1, 2, 5, 10, 15, 30 or 60 min (the first step giving
// at most 10 labels; hourly beyond 10 h) and, up to 120 s, a minor tick
// every second.
type secondTicks struct{}

var secondSteps = []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600}

func (secondTicks) Ticks(min, max float64) []plot.Tick {
	span := max - min
	if !(span > 0) || math.IsInf(span, 0) {
		return nil
	}
	step := secondSteps[len(secondSteps)-1]
	for _, s := range secondSteps {
		if span/s <= 10 {
			step = s
			break
		}
	}
	minor := span <= 120
	var ts []plot.Tick
	for v := math.Ceil(min); v <= max; v++ {
		switch {
		case math.Mod(v, step) == 0:
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		case minor:
			ts = append(ts, plot.Tick{Value: v})
		}
	}
	return ts
}

// faultFill is the shading of a fault window.
var faultFill = color.NRGBA{R: 0xe0, G: 0x30, B: 0x30, A: 0x30}

// hasFaultWindows says whether a scenario injected faults: a window of a fault
// kind or a record that applied one.
func hasFaultWindows(sr *ScenarioResult) bool {
	for _, w := range sr.Windows {
		if w.Kind != "" {
			return true
		}
	}
	for _, r := range sr.Records {
		if len(r.Faults) > 0 {
			return true
		}
	}
	return false
}

// faultBands are the fault windows of a record: as applied when it
// recorded them, else as planned.
func faultBands(sr *ScenarioResult, r *Record) []faultBand {
	var bs []faultBand
	if len(r.Faults) > 0 {
		for _, f := range r.Faults {
			end := f.EndS
			if end < f.StartS { // never reverted: shade to the end
				end = math.Inf(1)
			}
			bs = append(bs, faultBand{From: f.StartS, To: end, Label: f.Name + " (" + f.Kind + ")", Fill: faultFill})
		}
		return bs
	}
	for _, w := range sr.Windows {
		if w.Kind != "" {
			bs = append(bs, faultBand{From: w.FromS, To: w.ToS, Label: w.Name + " (" + w.Kind + ", planned)", Fill: faultFill})
		}
	}
	return bs
}

// seriesRecord picks the record to plot for a target: the first counted
// one with a series, preferring one that applied faults.
func seriesRecord(sr *ScenarioResult, target string) *Record {
	var first *Record
	for _, r := range chartRecords(sr, target) {
		if len(r.Series) == 0 {
			continue
		}
		if len(r.Faults) > 0 {
			return r
		}
		if first == nil {
			first = r
		}
	}
	return first
}

// codeColor colours a status code by class: 2xx green, 3xx blue, 4xx
// orange, 5xx red shades; connection errors ("error") black.
func codeColor(code string) color.Color {
	switch code {
	case "error":
		return color.Black
	case "429":
		return color.RGBA{R: 0xe0, G: 0x8c, B: 0x00, A: 0xff}
	case "500":
		return color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	case "502":
		return color.RGBA{R: 0x8b, G: 0x00, B: 0x00, A: 0xff}
	case "503":
		return color.RGBA{R: 0x9b, G: 0x30, B: 0xb0, A: 0xff}
	case "504":
		return color.RGBA{R: 0x8c, G: 0x56, B: 0x3c, A: 0xff}
	}
	switch code[0] {
	case '2':
		return color.RGBA{R: 0x2a, G: 0x9d, B: 0x3a, A: 0xff}
	case '3':
		return color.RGBA{R: 0x1f, G: 0x5f, B: 0xbf, A: 0xff}
	case '4':
		return color.RGBA{R: 0xe0, G: 0x6c, B: 0x00, A: 0xff}
	case '5':
		return color.RGBA{R: 0xff, G: 0x55, B: 0x55, A: 0xff}
	}
	return color.Gray{Y: 0x80}
}

// chartStepLine draws per-second values as a step function: the value of
// second t holds over [t, t+1).
func chartStepLine(pts []Point, v func(Point) (float64, bool), st draw.LineStyle) (*plotter.Line, error) {
	var xys plotter.XYs
	for _, p := range pts {
		if y, ok := v(p); ok {
			xys = append(xys, plotter.XY{X: float64(p.T), Y: y})
		}
	}
	if len(xys) == 0 {
		return nil, nil
	}
	xys = append(xys, plotter.XY{X: xys[len(xys)-1].X + 1, Y: xys[len(xys)-1].Y})
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.StepStyle = plotter.PostStep
	l.LineStyle = st
	return l, nil
}

// seriesChart draws one record's per-second series: request rate, p50
// and p99 latency and the status mix, with its fault windows shaded on
// every panel and labelled on the top one.
func seriesChart(sr *ScenarioResult, r *Record) chart {
	title := fmt.Sprintf("%s, repetition %d", r.Target, r.Rep)
	fail := func(err error) chart { return chart{Kind: chartTimeSeries, Title: title, Err: err.Error()} }
	pts := append([]Point(nil), r.Series...)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].T < pts[j].T })
	bands := faultBands(sr, r)
	xmin, xmax := float64(pts[0].T), float64(pts[len(pts)-1].T+1)
	for i := range bands { // an open-ended fault ends with the series
		bands[i].To = min(bands[i].To, max(xmax, bands[i].From))
	}

	rate := newChartPlot("", "", "requests/s") // the figure's heading names the record
	lat := newChartPlot("", "", "latency (ms)")
	mix := newChartPlot("", "t (s from the load's start)", "responses/s")
	lat.Y.Scale, lat.Y.Tick.Marker = plot.LogScale{}, logTicks125{}
	legs := []plot.Legend{newChartLegend(), newChartLegend(), newChartLegend()}
	for i, p := range []*plot.Plot{rate, lat, mix} {
		for j, b := range bands {
			if i > 0 || j > 0 && bands[j-1].From == b.From {
				b.Label = ""
			}
			p.Add(b)
		}
		p.X.Min, p.X.Max = xmin, xmax
		p.X.Tick.Marker = secondTicks{}
	}

	blue := draw.LineStyle{Color: chartPalette[0], Width: vg.Points(1.25)}
	l, err := chartStepLine(pts, func(p Point) (float64, bool) { return float64(p.Requests), true }, blue)
	if err != nil {
		return fail(err)
	}
	rate.Add(l)
	legs[0].Add("sent", l)
	rate.Y.Min = 0

	for _, q := range []struct {
		name string
		v    func(Point) float64
		st   draw.LineStyle
	}{
		{"p99", func(p Point) float64 { return p.P99 }, draw.LineStyle{Color: chartPalette[3], Width: vg.Points(1.25)}},
		{"p50", func(p Point) float64 { return p.P50 }, draw.LineStyle{Color: chartPalette[0], Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(2)}}},
	} {
		l, err := chartStepLine(pts, func(p Point) (float64, bool) { v := q.v(p); return v / 1000, v > 0 }, q.st)
		if err != nil {
			return fail(err)
		}
		if l != nil {
			lat.Add(l)
			legs[1].Add(q.name, l)
		}
	}

	// Status mix: one line per code seen, plus connection errors.
	codes := map[string]bool{}
	errs := false
	for _, p := range pts {
		for c := range p.Codes {
			codes[c] = true
		}
		errs = errs || p.Errors > 0
	}
	keys := make([]string, 0, len(codes)+1)
	for c := range codes {
		keys = append(keys, c)
	}
	sort.Slice(keys, func(i, j int) bool { // numerically, then as text
		a, ea := strconv.Atoi(keys[i])
		b, eb := strconv.Atoi(keys[j])
		if ea == nil && eb == nil {
			return a < b
		}
		return keys[i] < keys[j]
	})
	if errs {
		keys = append(keys, "error")
	}
	for _, code := range keys {
		v := func(p Point) (float64, bool) { return float64(p.Codes[code]), true }
		name := code
		if code == "error" {
			v = func(p Point) (float64, bool) { return float64(p.Errors), true }
			name = "no response"
		}
		l, err := chartStepLine(pts, v, draw.LineStyle{Color: codeColor(code), Width: vg.Points(1.25)})
		if err != nil {
			return fail(err)
		}
		mix.Add(l)
		legs[2].Add(name, l)
	}
	mix.Y.Min = 0
	if lat.Y.Min > lat.Y.Max || lat.Y.Min <= 0 { // no latency at all: keep the log axis valid
		lat.Y.Min, lat.Y.Max = 0.1, 1
	}
	widenLogRange(&lat.Y)

	plots := [][]*plot.Plot{{rate}, {lat}, {mix}}
	caption := "Per second of the run: requests sent, latency p50/p99 (log scale) and responses per status code. " +
		"Shaded: fault windows (as applied in this repetition; \"planned\" when the record has no fault events)."
	return newChart(chartTimeSeries, title, caption, chartWidth, 440, func(c draw.Canvas) {
		lw := vg.Length(0)
		for i := range legs {
			lw = max(lw, chartLegendWidth(&legs[i], c))
		}
		left := draw.Crop(c, 0, -lw, 0, 0)
		tiles := draw.Tiles{Rows: 3, Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(2), PadRight: vg.Points(6)}
		cs := plot.Align(plots, tiles, left)
		for i := range plots {
			plots[i][0].Draw(cs[i][0])
			if lw > 0 {
				tile := cs[i][0]
				area := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
					Min: vg.Point{X: c.Max.X - lw + vg.Points(8), Y: tile.Min.Y},
					Max: vg.Point{X: c.Max.X, Y: tile.Max.Y - vg.Points(18)},
				}}
				legs[i].Draw(area)
			}
		}
	})
}

// seriesCharts draws a fault scenario's series: one chart per target that
// has a counted record with a series.
func seriesCharts(sr *ScenarioResult) []chart {
	if !hasFaultWindows(sr) {
		return nil
	}
	var out []chart
	for _, name := range chartTargets(sr) {
		if r := seriesRecord(sr, name); r != nil {
			out = append(out, seriesChart(sr, r))
		}
	}
	return out
}
