package reports

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/net/html"
)

// evilTarget is a target name that is markup: it must come out as text.
const evilTarget = `<script>alert("x")</script>&amp;`

// testHist encodes a histogram of n latencies (µs) around base with a tail:
// one value in 997 is 20 times slower.
func testHist(t testing.TB, base int64, n int) string {
	t.Helper()
	h := hdrhistogram.New(1, 60_000_000, 3)
	for i := range n {
		v := base + base*int64(i%1000)/250
		if i%997 == 0 {
			v *= 20
		}
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	return string(enc)
}

// testRecord is a valid record with latencies around base µs; a negative
// base stands for -base without histograms.
func testRecord(t testing.TB, target string, rep int, base int64) Record {
	hist := base > 0
	base = max(base, -base)
	q := Quantiles{P50: float64(base) * 2, P90: float64(base) * 4, P99: float64(base) * 5, P999: float64(base) * 20, P9999: float64(base) * 21, Max: float64(base) * 25}
	r := Record{Target: target, Rep: rep, Valid: true, Offered: 400, Achieved: 400, Requests: 4000, WindowS: 10,
		Latency: q, Uncorrected: q, Status: map[string]int64{"200": 4000}}
	if hist {
		r.Slices = []Slice{
			{Route: "", Phase: "", Requests: 4000, Latency: q, Histogram: testHist(t, base, 4000)},
			{Route: "users", Phase: "", Requests: 4000, Latency: q, Histogram: testHist(t, base*3, 100)}, // not drawn
		}
	}
	return r
}

// testSeries is 20 s of 400 req/s; between 3 s and 11 s half the
// requests fail with 502 (the first 2 s) and then 503, and some get no
// response.
func testSeries() []Point {
	var pts []Point
	for s := range 20 {
		p := Point{T: s, Requests: 400, P50: 800, P99: 2500, Codes: map[string]int{}}
		switch {
		case s >= 3 && s < 5:
			p.Codes["200"], p.Codes["502"], p.Errors = 200, 190, 10
			p.P99 = 900_000
		case s >= 5 && s < 11:
			p.Codes["200"], p.Codes["503"] = 200, 200
		default:
			p.Codes["200"] = 400
		}
		p.OK = p.Codes["200"]
		pts = append(pts, p)
	}
	return pts
}

func sp(med, lo, hi float64) Spread { return Spread{Median: med, Min: lo, Max: hi} }

func spp(med, lo, hi float64) *Spread { s := sp(med, lo, hi); return &s }

// testResults is a run with every chart kind: steady (latency, overhead),
// knee, throughput (closed loop) and backend-down (fault series). The peer
// target of three scenarios is named evil.
func testResults(t testing.TB, evil string) *Results {
	t.Helper()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := &Results{Schema: Schema, RunID: "html-test", Profile: "quick", Verdict: Fail, ExitCode: 1,
		Manifest: Manifest{GitSHA: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.8", CPUModel: "Test CPU", Cores: 2,
			Kernel: "6.1.0", Hostname: "box", Start: start, End: start.Add(5 * time.Minute), Reps: 2,
			Args: []string{"gatelab", "bench"}, Deps: map[string]string{"nginx": "1.22.1", "haproxy": "", "go": "go1.26.8"}},
		Notes: []string{"a run note"}}

	// steady: three targets with records, one skipped.
	steady := ScenarioResult{Name: "steady", File: "scenarios/steady.yaml", Description: "Steady load.",
		Load: LoadPlan{Mode: "open", WarmupS: 1, Stages: []Stage{{DurationS: 10, Rate: 400}}},
		Targets: []Target{{Name: "direct", Kind: "direct"}, {Name: "gatelab-nethttp-trie-local", Kind: "gatelab"},
			{Name: evil, Kind: "peer"}, {Name: "haproxy", Kind: "peer", Skipped: "haproxy is not installed"}}}
	bad := testRecord(t, "gatelab-nethttp-trie-local", 1, 400)
	bad.Valid, bad.Invalid, bad.Superseded = false, "load: connection refused", true
	steady.Records = append(steady.Records, bad)
	for rep := 1; rep <= 2; rep++ {
		steady.Records = append(steady.Records,
			testRecord(t, "direct", rep, 300),
			testRecord(t, "gatelab-nethttp-trie-local", rep, 400+int64(rep)*10),
			testRecord(t, evil, rep, -250)) // no histogram: stored percentiles
	}
	steady.Summary = []Summary{
		{Target: "direct", Reps: 2, Valid: 2, RPS: sp(400, 399, 401), P50: sp(600, 590, 610), P99: sp(1500, 1400, 1600), P999: sp(6000, 5900, 6100)},
		{Target: "gatelab-nethttp-trie-local", Reps: 3, Valid: 2, RPS: sp(400, 399, 401), P50: sp(850, 840, 860), P99: sp(2100, 2000, 2200),
			P999: sp(8000, 7000, 9000), OverP50: spp(250, 240, 260), OverP99: spp(600, 500, 700), OverP999: spp(2000, 1500, 2500), Rank: 1},
		{Target: evil, Reps: 2, Valid: 2, RPS: sp(400, 399, 401), OverP50: spp(80, 70, 90), OverP99: spp(300, 200, 400), OverP999: spp(1200, 1100, 1300), Rank: 2},
	}
	obs := 0.0021
	steady.Budgets = []Budget{
		{Expr: "overhead.p99 < 2ms", Line: 20, Target: "gatelab-nethttp-trie-local", Observed: &obs, Text: "2.1 ms", Verdict: Fail, Detail: "over by 0.1 ms"},
		{Expr: "overhead.p99 < 2ms", Line: 20, Target: evil, Text: "300 µs", Verdict: Pass},
	}

	// knee: only knee probes; one target's trials at its knee rate.
	knee := ScenarioResult{Name: "knee", File: "scenarios/knee.yaml", Load: LoadPlan{Mode: "open", WarmupS: 1},
		Targets: []Target{{Name: "direct", Kind: "direct"}, {Name: "gatelab-fasthttp-trie-local", Kind: "gatelab"}, {Name: evil, Kind: "peer"}},
		Knee: []KneeResult{
			{Target: "gatelab-fasthttp-trie-local", Bound: "overhead.p99 < 5ms", Knee: 4250, Trials: []KneeTrial{
				{Rate: 500, Achieved: 500, OK: true, Valid: true}, {Rate: 4250, Achieved: 4240, OK: true, Valid: true},
				{Rate: 6125, Achieved: 5100, OK: false, Valid: true}, {Rate: 5187, Achieved: 4900, OK: false, Valid: false}}},
			{Target: evil, Bound: "overhead.p99 < 5ms", Knee: 0, Trials: []KneeTrial{{Rate: 500, Achieved: 450, OK: false, Valid: true}}},
		}}
	for _, rate := range []float64{500, 4250, 6125} {
		rec := testRecord(t, "gatelab-fasthttp-trie-local", 1, int64(rate/10))
		rec.KneeProbe, rec.Offered = true, rate
		knee.Records = append(knee.Records, rec)
	}
	probe := testRecord(t, "gatelab-fasthttp-trie-local", 1, -100)
	probe.KneeProbe, probe.Offered, probe.Valid, probe.Invalid = true, 5187, false, "send lag over 10 ms"
	knee.Records = append(knee.Records, probe)

	// throughput: closed loop, achieved req/s bars.
	thr := ScenarioResult{Name: "throughput", File: "scenarios/throughput.yaml", Load: LoadPlan{Mode: "closed", WarmupS: 1, Workers: 32, Duration: 4},
		Targets: []Target{{Name: "direct", Kind: "direct"}, {Name: "nginx", Kind: "peer"}, {Name: "gatelab-fasthttp-trie-local", Kind: "gatelab"}}}
	for _, n := range []string{"direct", "nginx", "gatelab-fasthttp-trie-local"} {
		thr.Records = append(thr.Records, testRecord(t, n, 1, 500))
	}
	thr.Summary = []Summary{
		{Target: "direct", Reps: 1, Valid: 1, RPS: sp(44000, 43000, 45000)},
		{Target: "nginx", Reps: 1, Valid: 1, RPS: sp(19000, 18500, 20000)},
		{Target: "gatelab-fasthttp-trie-local", Reps: 1, Valid: 1, RPS: sp(36000, 35000, 37000), GeneratorBound: true},
	}

	// backend-down: a fault window; the gatelab record applied it, the
	// others did not record fault events (planned window shaded).
	down := ScenarioResult{Name: "backend-down", File: "scenarios/backend-down.yaml",
		Load:    LoadPlan{Mode: "open", WarmupS: 1, Stages: []Stage{{DurationS: 18, Rate: 400}}},
		Windows: []Window{{Name: "orders-down", Kind: "upstream.kill", FromS: 3, ToS: 11}, {Name: "recovered", FromS: 14, ToS: 18}},
		Targets: []Target{{Name: "direct", Kind: "direct"}, {Name: "gatelab-nethttp-trie-local", Kind: "gatelab"}, {Name: evil, Kind: "peer"}}}
	for _, n := range []string{"direct", "gatelab-nethttp-trie-local", evil} {
		rec := testRecord(t, n, 1, 700)
		rec.Series = testSeries()
		if n == "gatelab-nethttp-trie-local" {
			rec.Faults = []FaultEvent{{Name: "orders-down", Kind: "upstream.kill", StartS: 3.02, EndS: 11.01}}
		}
		down.Records = append(down.Records, rec)
	}
	down.Summary = []Summary{{Target: "gatelab-nethttp-trie-local", Reps: 1, Valid: 1, OverP50: spp(100, 100, 100), OverP99: spp(900, 900, 900)}}
	down.Notes = []string{"a scenario note"}

	r.Scenarios = []ScenarioResult{steady, knee, thr, down}
	return r
}

// wantCharts are the chart kinds of testResults, per scenario section.
var wantCharts = map[string][]string{
	"scenario-1": {chartLatency, chartOverhead},
	"scenario-2": {chartLatency, chartKnee},
	"scenario-3": {chartLatency, chartRPS},
	"scenario-4": {chartLatency, chartOverhead, chartTimeSeries, chartTimeSeries, chartTimeSeries},
}

func render(t testing.TB, r *Results) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := RenderHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func parse(t testing.TB, b []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// walk calls f on n and every node under it.
func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func elements(n *html.Node, name string) []*html.Node {
	var out []*html.Node
	walk(n, func(c *html.Node) {
		if c.Type == html.ElementNode && c.Data == name {
			out = append(out, c)
		}
	})
	return out
}

func textOf(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

// pathPoints counts the points (M and L commands) of an SVG path.
func pathPoints(d string) int { return strings.Count(d, "M") + strings.Count(d, "L") }

func TestRenderHTMLCharts(t *testing.T) {
	doc := parse(t, render(t, testResults(t, evilTarget)))
	sections := map[string]*html.Node{}
	for _, s := range elements(doc, "section") {
		sections[attr(s, "id")] = s
	}
	for id, want := range wantCharts {
		sec := sections[id]
		if sec == nil {
			t.Fatalf("no section %s", id)
		}
		var got []string
		for _, f := range elements(sec, "figure") {
			kind := attr(f, "data-chart")
			got = append(got, kind)
			if strings.Contains(textOf(f), "Chart not drawn") {
				t.Errorf("%s %s: %s", id, kind, textOf(f))
			}
			svgs := elements(f, "svg")
			if len(svgs) != 1 {
				t.Fatalf("%s %s: %d <svg>, want 1", id, kind, len(svgs))
			}
			drawn := 0
			for _, p := range elements(svgs[0], "path") {
				if attr(p, "d") != "" {
					drawn++
				}
			}
			if drawn < 10 {
				t.Errorf("%s %s: %d paths with data, want at least 10", id, kind, drawn)
			}
			if len(elements(svgs[0], "text")) < 5 {
				t.Errorf("%s %s: fewer than 5 texts (axes, ticks, labels)", id, kind)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: charts %v, want %v", id, got, want)
		}
	}

	// Latency of steady: a 101-point curve per target with histograms
	// (direct, gatelab), a 5-point one for the target without.
	lat := elements(sections["scenario-1"], "figure")[0]
	curves, fallback := 0, 0
	for _, p := range elements(lat, "path") {
		switch pathPoints(attr(p, "d")) {
		case 101:
			curves++
		case 5:
			if strings.Contains(attr(p, "style"), "stroke:") {
				fallback++
			}
		}
	}
	if curves != 2 || fallback != 1 {
		t.Errorf("latency: %d histogram curves and %d percentile lines, want 2 and 1", curves, fallback)
	}

	// Fault series: every panel shades the window (a translucent filled
	// rectangle), the top panel names it; as applied for the gatelab
	// record, as planned for the others.
	figs := elements(sections["scenario-4"], "figure")
	for _, f := range figs[2:] {
		title := textOf(elements(f, "h3")[0])
		shaded := 0
		for _, p := range elements(f, "path") {
			st := attr(p, "style")
			if strings.Contains(st, "fill:#") && strings.Contains(st, "fill-opacity:0.") && pathPoints(attr(p, "d")) == 4 {
				shaded++
			}
		}
		if shaded != 3 {
			t.Errorf("%s: %d shaded fault windows, want 3 (one per panel)", title, shaded)
		}
		want := "orders-down (upstream.kill, planned)"
		if strings.HasPrefix(title, "gatelab-nethttp-trie-local") {
			want = "orders-down (upstream.kill)"
		}
		labelled := 0
		for _, tx := range elements(f, "text") {
			if textOf(tx) == want {
				labelled++
			}
		}
		if labelled != 1 {
			t.Errorf("%s: label %q %d times, want once", title, want, labelled)
		}
		for _, code := range []string{"200", "502", "503", "no response"} {
			if !strings.Contains(textOf(f), code) {
				t.Errorf("%s: status %s not in the legend", title, code)
			}
		}
	}
}

func TestRenderHTMLEscapes(t *testing.T) {
	out := render(t, testResults(t, evilTarget))
	if regexp.MustCompile(`(?i)<script`).Match(out) {
		t.Fatal("the target name became a <script> element")
	}
	doc := parse(t, out)
	if n := len(elements(doc, "script")); n != 0 {
		t.Fatalf("%d script elements", n)
	}
	inTable, inSVG := 0, 0
	for _, td := range elements(doc, "td") {
		if strings.Contains(textOf(td), evilTarget) {
			inTable++
		}
	}
	for _, tx := range elements(doc, "text") {
		if strings.Contains(textOf(tx), evilTarget) {
			inSVG++
		}
	}
	if inTable == 0 || inSVG == 0 {
		t.Errorf("the target name as text: %d table cells, %d chart texts, want both > 0", inTable, inSVG)
	}
}

// checkSelfContained fails on anything in a page that a browser would
// fetch: elements that load, src/href attributes that are not fragments
// or data, url() and @import in styles, and any http(s) URL other than
// the SVG namespaces.
func checkSelfContained(t *testing.T, out []byte) {
	t.Helper()
	allowed := map[string]bool{"http://www.w3.org/2000/svg": true, "http://www.w3.org/1999/xlink": true}
	for _, u := range regexp.MustCompile(`(?i)(https?:)?//[^\s"'<>)]*`).FindAllString(string(out), -1) {
		if !allowed[u] {
			t.Errorf("URL %q in the page", u)
		}
	}
	for _, x := range regexp.MustCompile(`xmlns(:xlink)?="([^"]*)"`).FindAllSubmatch(out, -1) {
		if !allowed[string(x[2])] {
			t.Errorf("namespace %q", x[2])
		}
	}
	doc := parse(t, out)
	ids := map[string]int{}
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "link", "script", "img", "iframe", "object", "embed", "video", "audio", "source", "base", "image", "use", "foreignObject":
			t.Errorf("element <%s> in the page", n.Data)
		}
		for _, a := range n.Attr {
			switch strings.ToLower(a.Key) {
			case "src", "href", "srcset", "poster", "action", "formaction", "background":
				if !strings.HasPrefix(a.Val, "#") {
					t.Errorf("<%s %s=%q>", n.Data, a.Key, a.Val)
				}
			case "id":
				ids[a.Val]++
			case "style":
				if strings.Contains(a.Val, "url(") {
					t.Errorf("<%s style=%q> loads a URL", n.Data, a.Val)
				}
			}
			if a.Namespace == "xlink" {
				t.Errorf("<%s xlink:%s=%q>", n.Data, a.Key, a.Val)
			}
		}
	})
	for id, n := range ids {
		if n > 1 {
			t.Errorf("id %q used %d times", id, n)
		}
	}
	for _, st := range elements(doc, "style") {
		css := textOf(st)
		if strings.Contains(css, "url(") || strings.Contains(css, "@import") || strings.Contains(css, "@font-face") {
			t.Errorf("the stylesheet loads something: %q", css)
		}
	}
}

func TestRenderHTMLSelfContained(t *testing.T) {
	checkSelfContained(t, render(t, testResults(t, evilTarget)))
}

func TestRenderHTMLDeterministic(t *testing.T) {
	r := testResults(t, evilTarget)
	first := render(t, r)
	for range 3 { // map order changes between iterations
		if again := render(t, r); !bytes.Equal(first, again) {
			t.Fatal("two renders of the same results differ")
		}
	}
}

func TestRenderHTMLTables(t *testing.T) {
	doc := parse(t, render(t, testResults(t, "nginx-peer")))
	text := textOf(doc)
	for _, want := range []string{
		"html-test", "FAIL", "0123456789abcdef0123456789abcdef01234567", "go1.26.8", "Test CPU, 2 cores", "6.1.0 on box",
		"2026-12-01 10:00:00 UTC to 2026-12-01 10:05:00 UTC (5m0s)", "go go1.26.8; haproxy not run; nginx 1.22.1",
		"a run note", "a scenario note", "Budgets: 1 passed, 1 failed",
		"haproxy is not installed",                           // skipped target
		"load: connection refused", "superseded by a re-run", // invalid record
		"send lag over 10 ms", "a knee-search trial at 5187 req/s", // invalid knee probe
		"overhead.p99 < 2ms", "over by 0.1 ms", "2.1 ms",
		"250 µs (240..260)", // summary overhead
		"4250 req/s",        // knee
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not say %q", want)
		}
	}
	// Closed-loop throughput has no overhead columns.
	var thr *html.Node
	for _, s := range elements(doc, "section") {
		if attr(s, "id") == "scenario-3" {
			thr = s
		}
	}
	if thr == nil || strings.Contains(textOf(thr), "overhead p50") {
		t.Error("the throughput summary shows overhead columns without overheads")
	}
}

func TestRenderHTMLDegraded(t *testing.T) {
	// A corrupt histogram falls back to the stored percentiles and says
	// why; a run without scenarios or manifest still renders.
	r := testResults(t, "peer")
	r.Scenarios = r.Scenarios[:1]
	r.Scenarios[0].Records[1].Slices[0].Histogram = "bm90IGEgaGlzdG9ncmFt"
	out := render(t, r)
	if !bytes.Contains(out, []byte("decoding the histogram of direct rep 1")) {
		t.Error("a corrupt histogram is not reported")
	}
	if bytes.Contains(out, []byte("Chart not drawn")) {
		t.Error("a corrupt histogram stopped the chart")
	}

	// Every latency the same: the log axes still get a range.
	flat := hdrhistogram.New(1, 60_000_000, 3)
	for range 100 {
		_ = flat.RecordValue(1000)
	}
	enc, err := flat.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	one := testRecord(t, "direct", 1, 1000)
	one.Slices = []Slice{{Histogram: string(enc)}}
	one.Series = []Point{{T: 1, Requests: 5, P50: 1000, P99: 1000}, {T: 2, Requests: 5, P50: 1000, P99: 1000}}
	one.Faults = []FaultEvent{{Name: "f", Kind: "upstream.kill", StartS: 1, EndS: -1}} // never reverted
	out = render(t, &Results{Schema: Schema, RunID: "flat", Scenarios: []ScenarioResult{{Name: "flat",
		Targets: []Target{{Name: "direct", Kind: "direct"}}, Records: []Record{one}}}})
	if n := bytes.Count(out, []byte("<svg")); n != 2 || bytes.Contains(out, []byte("Chart not drawn")) {
		t.Errorf("flat latencies: %d charts (want latency and series), or one not drawn", n)
	}

	empty := render(t, &Results{Schema: Schema, RunID: "empty", Verdict: Invalid, ExitCode: 2})
	doc := parse(t, empty)
	if n := len(elements(doc, "svg")); n != 0 {
		t.Errorf("%d charts for a run without scenarios", n)
	}
	if !strings.Contains(textOf(doc), "empty") || !strings.Contains(textOf(doc), "unknown") {
		t.Error("an empty run lacks its id or the unknown run time")
	}

	// A scenario that did not run: its error, no charts.
	failed := render(t, &Results{Schema: Schema, RunID: "x", Verdict: Invalid,
		Scenarios: []ScenarioResult{{Name: "redis-down", Error: "redis is not installed"}}})
	if !bytes.Contains(failed, []byte("The scenario could not run: redis is not installed")) || bytes.Contains(failed, []byte("<svg")) {
		t.Error("a scenario that did not run is not shown as such")
	}
}

func TestCurveFromHistogram(t *testing.T) {
	h := hdrhistogram.New(1, 60_000_000, 3)
	for v := int64(1); v <= 100_000; v++ {
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	xys := curveFromHistogram(h)
	if len(xys) != 101 || xys[0].X != 1 || math.Abs(xys[100].X-1e4) > 1e-6 {
		t.Fatalf("%d points from x=%g to %g, want 101 from 1 to 1e4", len(xys), xys[0].X, xys[len(xys)-1].X)
	}
	for i := 1; i < len(xys); i++ {
		if xys[i].Y < xys[i-1].Y {
			t.Fatalf("not monotonic at %d: %g after %g", i, xys[i].Y, xys[i-1].Y)
		}
	}
	for _, c := range []struct {
		i int
		p float64
	}{{0, 0}, {25 * 1, 90}, {50, 99}, {75, 99.9}, {100, 99.99}} {
		want := float64(h.ValueAtQuantile(c.p)) / 1000
		if math.Abs(xys[c.i].Y-want) > 1e-9 {
			t.Errorf("point %d: %g ms, want p%g = %g ms", c.i, xys[c.i].Y, c.p, want)
		}
	}
}

func TestPercentileAxis(t *testing.T) {
	for _, c := range []struct {
		p, x  float64
		label string
	}{{0.5, 2, "50%"}, {0.9, 10, "90%"}, {0.99, 100, "99%"}, {0.999, 1000, "99.9%"}, {0.9999, 10000, "99.99%"}} {
		if x := pctX(c.p); math.Abs(x-c.x)/c.x > 1e-9 {
			t.Errorf("pctX(%g) = %g, want %g", c.p, x, c.x)
		}
		found := false
		for _, tk := range pctTicks {
			if tk.Label == c.label && math.Abs(tk.Value-c.x)/c.x < 1e-9 {
				found = true
			}
		}
		if !found {
			t.Errorf("no tick %q at %g", c.label, c.x)
		}
	}
}

func TestLogTicks125(t *testing.T) {
	for _, c := range []struct {
		min, max float64
		want     string
	}{
		{0.3, 30, "0.1 0.2 0.5 1 2 5 10 20 50 100"},
		{0.05, 900, "0.01 0.1 1 10 100 1000"}, // over two decades: powers of ten
		{2, 3, "1 2 5 10"},
	} {
		var got []string
		for _, tk := range (logTicks125{}).Ticks(c.min, c.max) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%g..%g: labels %q, want %q", c.min, c.max, strings.Join(got, " "), c.want)
		}
	}
}

func TestDurationUnit(t *testing.T) {
	for _, c := range []struct {
		v    []float64
		unit string
		div  float64
	}{{[]float64{10, 999}, "µs", 1}, {[]float64{10, 1000}, "ms", 1000}, {[]float64{-2500}, "ms", 1000}, {nil, "µs", 1}} {
		var bars []chartBar
		for _, v := range c.v {
			bars = append(bars, chartBar{Spread: sp(v, v, v)})
		}
		if u, d := durationUnit(bars); u != c.unit || d != c.div {
			t.Errorf("%v: %s/%g, want %s/%g", c.v, u, d, c.unit, c.div)
		}
	}
}

// TestRenderHTMLFixture renders the package's results fixture, when there
// is one, and checks what holds for any run: it renders, draws at least
// one chart, draws every chart it starts and loads nothing.
func TestRenderHTMLFixture(t *testing.T) {
	path := filepath.Join("testdata", "results.json")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no %s", path)
	}
	r, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, r)
	checkSelfContained(t, out)
	doc := parse(t, out)
	figs := elements(doc, "figure")
	if len(figs) == 0 {
		t.Fatal("no chart")
	}
	for i, f := range figs {
		if len(elements(f, "svg")) != 1 {
			t.Errorf("figure %d (%s): %s", i, attr(f, "data-chart"), textOf(f))
		}
	}
	t.Logf("%s: %d charts, %s bytes", path, len(figs), strconv.Itoa(len(out)))
}

func TestSecondTicks(t *testing.T) {
	for _, c := range []struct {
		min, max float64
		labels   string
		minor    int
	}{
		{1, 18, "2 4 6 8 10 12 14 16 18", 9},
		{0, 9.5, "0 1 2 3 4 5 6 7 8 9", 0},
		{0, 95, "0 10 20 30 40 50 60 70 80 90", 86},
		{0, 3600, "0 600 1200 1800 2400 3000 3600", 0},
		{5, 5, "", 0},
	} {
		var labels []string
		minor := 0
		for _, tk := range (secondTicks{}).Ticks(c.min, c.max) {
			if tk.Label == "" {
				minor++
			} else {
				labels = append(labels, tk.Label)
			}
		}
		if strings.Join(labels, " ") != c.labels || minor != c.minor {
			t.Errorf("%g..%g: labels %q and %d minor ticks, want %q and %d", c.min, c.max, strings.Join(labels, " "), minor, c.labels, c.minor)
		}
	}
}

func TestPlainTicks(t *testing.T) {
	for _, c := range []struct {
		min, max float64
	}{{0, 260}, {0, 0.9}, {-0.3, 2.4}, {1, 18}} {
		var labels []string
		for _, tk := range (plainTicks{}).Ticks(c.min, c.max) {
			if tk.Label == "" {
				continue
			}
			labels = append(labels, tk.Label)
			if v, err := strconv.ParseFloat(tk.Label, 64); err != nil || math.Abs(v-tk.Value) > 1e-9*math.Max(1, math.Abs(v)) {
				t.Errorf("%g..%g: label %q for %g", c.min, c.max, tk.Label, tk.Value)
			}
			if strings.Contains(tk.Label, ".") && strings.HasSuffix(tk.Label, "0") {
				t.Errorf("%g..%g: label %q has a trailing zero", c.min, c.max, tk.Label)
			}
		}
		if len(labels) < 2 {
			t.Errorf("%g..%g: labels %v", c.min, c.max, labels)
		}
	}
}
