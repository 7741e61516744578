package reports

import (
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// kneeLine is a vertical line at data x across the whole plot height: the
// knee marker. It widens the x range to include x and leaves y alone.
type kneeLine struct {
	X float64
	draw.LineStyle
}

func (v kneeLine) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(v.X)
	c.StrokeLine2(v.LineStyle, x, c.Min.Y, x, c.Max.Y)
}

func (v kneeLine) DataRange() (xmin, xmax, ymin, ymax float64) {
	return v.X, v.X, math.Inf(1), math.Inf(-1)
}

// Thumbnail draws the legend's sample: a short vertical line.
func (v kneeLine) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(v.LineStyle, x, c.Min.Y, x, c.Max.Y)
}

// glyphThumb is a legend sample of a glyph alone.
type glyphThumb draw.GlyphStyle

func (g glyphThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(draw.GlyphStyle(g), c.Center())
}

// boldCross is draw.CrossGlyph with a line thick enough to see beside
// the series' lines.
type boldCross struct{}

func (boldCross) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	ls := draw.LineStyle{Color: sty.Color, Width: vg.Points(1.5)}
	r := sty.Radius * math.Sqrt2 / 2
	c.StrokeLine2(ls, pt.X-r, pt.Y-r, pt.X+r, pt.Y+r)
	c.StrokeLine2(ls, pt.X-r, pt.Y+r, pt.X+r, pt.Y-r)
}

var (
	okGlyph     = draw.GlyphStyle{Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
	failedGlyph = draw.GlyphStyle{Radius: vg.Points(5), Shape: boldCross{}}
)

// kneeChart draws each target's knee search: achieved vs offered rate per
// trial (a dot within the bound, a cross outside it or invalid), the
// offered = achieved diagonal, and a dashed vertical line at the knee.
func kneeChart(sr *ScenarioResult) (chart, bool) {
	if len(sr.Knee) == 0 {
		return chart{}, false
	}
	idx := chartTargetIndex(sr)
	p := newChartPlot("Knee search: throughput vs offered rate", "offered rate (req/s)", "achieved (req/s)")
	var leg belowLegend
	top := 0.0
	for _, k := range sr.Knee {
		for _, t := range k.Trials {
			top = max(top, t.Rate, t.Achieved)
		}
		top = max(top, k.Knee)
	}
	if top <= 0 {
		return chart{}, false
	}
	diag, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: top, Y: top}})
	diag.LineStyle = draw.LineStyle{Color: color.Gray{Y: 0x99}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(2), vg.Points(3)}}
	p.Add(diag)
	var errs []string
	for _, k := range sr.Knee {
		st := chartTargetStyle(idx(k.Target))
		trials := append([]KneeTrial(nil), k.Trials...)
		sort.SliceStable(trials, func(i, j int) bool { return trials[i].Rate < trials[j].Rate })
		var all, ok, failed plotter.XYs
		for _, t := range trials {
			pt := plotter.XY{X: t.Rate, Y: t.Achieved}
			all = append(all, pt)
			if t.OK && t.Valid {
				ok = append(ok, pt)
			} else {
				failed = append(failed, pt)
			}
		}
		label := k.Target
		if k.Knee > 0 {
			label += fmt.Sprintf(": knee %.0f req/s", k.Knee)
		} else {
			label += ": no rate within the bound"
		}
		var thumbs []plot.Thumbnailer
		if len(all) > 0 {
			l, err := plotter.NewLine(all)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", k.Target, err))
				continue
			}
			l.LineStyle = st
			l.LineStyle.Width = vg.Points(1)
			p.Add(l)
			thumbs = append(thumbs, l)
		}
		for _, set := range []struct {
			xys plotter.XYs
			g   draw.GlyphStyle
		}{{ok, okGlyph}, {failed, failedGlyph}} {
			if len(set.xys) == 0 {
				continue
			}
			s, err := plotter.NewScatter(set.xys)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", k.Target, err))
				continue
			}
			s.GlyphStyle = set.g
			s.GlyphStyle.Color = st.Color
			p.Add(s)
		}
		if k.Knee > 0 {
			v := kneeLine{X: k.Knee, LineStyle: draw.LineStyle{Color: st.Color, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(6), vg.Points(3)}}}
			p.Add(v)
			thumbs = append(thumbs, v)
		}
		leg.Add(label, thumbs...)
	}
	ok, failed := okGlyph, failedGlyph
	ok.Color, failed.Color = color.Black, color.Black
	leg.Add("trial within the bound", glyphThumb(ok))
	leg.Add("trial over the bound or invalid", glyphThumb(failed))
	leg.Add("knee (dashed, target colour)", kneeLine{LineStyle: draw.LineStyle{Color: color.Black, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(6), vg.Points(3)}}})
	leg.Add("offered = achieved", diag)
	p.X.Min, p.Y.Min = 0, 0
	caption := "Each point is one trial of the knee search; the knee is the highest offered rate whose trial stayed within the bound."
	if len(errs) > 0 {
		caption += " Not drawn: " + fmt.Sprint(errs)
	}
	return newChart(chartKnee, "Knee", caption, chartWidth, 320+leg.height(), func(c draw.Canvas) {
		leg.draw(c, p)
	}), true
}
