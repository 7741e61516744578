package compare

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1000}, 10},
		{[]float64{-1, 1}, 0},
	} {
		in := slices.Clone(tc.in)
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("median modified its input: %v -> %v", in, tc.in)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
	if got := medianInt([]int64{1, 2}); got != 2 { // 1.5 rounds half away from zero
		t.Errorf("medianInt(1, 2) = %d, want 2", got)
	}
}

func TestSpread(t *testing.T) {
	lo, hi := spread([]float64{3, 9, 1, 4})
	if lo != 1 || hi != 9 {
		t.Errorf("spread = %v-%v, want 1-9", lo, hi)
	}
	if lo, hi := spread(nil); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("spread(nil) = %v-%v, want NaN", lo, hi)
	}
}

func trial(target string, rep int, rps float64, valid bool) Trial {
	t := Trial{Target: target, Rep: rep, RPS: rps, Requests: int64(rps), OK: int64(rps), SuccessRatio: 1, Valid: valid,
		Latency: Latency{P50: int64(1000 * rep), P90: 2000, P99: int64(3000 * rep), Max: int64(10000 * rep)}}
	if !valid {
		t.Invalid = "success 50.00% < 99%"
		t.OK = t.Requests / 2
		t.SuccessRatio = 0.5
	}
	return t
}

func TestSummarize(t *testing.T) {
	trials := []Trial{
		trial("direct", 1, 1000, true), trial("nginx", 1, 800, true), trial("gatelab-fasthttp", 1, 700, true),
		trial("direct", 2, 1100, true), trial("nginx", 2, 900, true), trial("gatelab-fasthttp", 2, 600, false),
		trial("direct", 3, 1200, true), trial("nginx", 3, 1000, true), trial("gatelab-fasthttp", 3, 650, true),
	}
	targets := []string{"direct", "nginx", "gatelab-fasthttp", "gatelab-nethttp"}
	got := summarize(targets, trials, nil, map[string]string{"gatelab-nethttp": "parity probe failed: status 401, want 200"})
	if len(got) != 4 {
		t.Fatalf("%d summaries, want 4", len(got))
	}
	d := got[0]
	if d.Target != "direct" || d.Trials != 3 || !d.Valid || d.MedianRPS != 1100 || d.MinRPS != 1000 || d.MaxRPS != 1200 {
		t.Errorf("direct = %+v", d)
	}
	if want := 200.0 / 1100 * 100; math.Abs(d.SpreadPct-want) > 1e-9 {
		t.Errorf("direct spread = %v%%, want %v%%", d.SpreadPct, want)
	}
	if d.P50 != 2000 || d.P99 != 6000 || d.Max != 30000 {
		t.Errorf("direct latency p50 %d p99 %d max %d, want 2000 6000 30000", d.P50, d.P99, d.Max)
	}
	f := got[2]
	if f.Valid || len(f.Invalid) != 1 || f.Invalid[0] != "rep 2: success 50.00% < 99%" {
		t.Errorf("fasthttp with an invalid trial: valid %v, invalid %q", f.Valid, f.Invalid)
	}
	if f.MedianRPS != 650 {
		t.Errorf("fasthttp median = %v, want 650", f.MedianRPS)
	}
	if want := (700 + 300 + 650) / (700.0 + 600 + 650); math.Abs(f.SuccessRatio-want) > 1e-9 {
		t.Errorf("fasthttp success ratio %v, want %v", f.SuccessRatio, want)
	}
	n := got[3]
	if n.Valid || n.Trials != 0 || len(n.Invalid) != 1 {
		t.Errorf("nethttp that failed parity = %+v", n)
	}

	skipped := summarize([]string{"nginx"}, nil, map[string]string{"nginx": "not installed"}, nil)
	if s := skipped[0]; s.Valid || s.Skipped == "" || len(s.Invalid) != 0 {
		t.Errorf("skipped nginx = %+v", s)
	}
	unmeasured := summarize([]string{"direct"}, nil, nil, nil)
	if s := unmeasured[0]; s.Valid || len(s.Invalid) != 1 {
		t.Errorf("direct without trials = %+v, want invalid", s)
	}
}

func TestRatios(t *testing.T) {
	trials := []Trial{
		trial("direct", 1, 1000, true), trial("nginx", 1, 800, true), trial("gatelab-fasthttp", 1, 720, true), trial("gatelab-nethttp", 1, 400, true),
		trial("direct", 2, 1000, true), trial("nginx", 2, 1000, true), trial("gatelab-fasthttp", 2, 800, true), trial("gatelab-nethttp", 2, 300, true),
		trial("direct", 3, 1000, true), trial("nginx", 3, 900, true), trial("gatelab-fasthttp", 3, 810, true), trial("gatelab-nethttp", 3, 360, true),
	}
	targets := []string{"direct", "nginx", "gatelab-fasthttp", "gatelab-nethttp"}
	got := ratios(summarize(targets, trials, nil, nil), trials)
	want := map[string]struct{ value, lo, hi float64 }{
		"fasthttp/nginx":  {800.0 / 900, 0.8, 0.9},
		"fasthttp/direct": {0.8, 0.72, 0.81},
		"nethttp/nginx":   {360.0 / 900, 0.3, 0.5},
		"nethttp/direct":  {0.36, 0.3, 0.4},
	}
	if len(got) != len(want) {
		t.Fatalf("ratios = %+v, want %d", got, len(want))
	}
	for _, r := range got {
		w, ok := want[r.Name]
		if !ok {
			t.Errorf("unexpected ratio %s", r.Name)
			continue
		}
		if !r.Valid || math.Abs(r.Value-w.value) > 1e-9 || math.Abs(r.PerRepMin-w.lo) > 1e-9 || math.Abs(r.PerRepMax-w.hi) > 1e-9 || len(r.PerRep) != 3 {
			t.Errorf("%s = %.4f (%v, %.4f-%.4f), want %.4f (%.4f-%.4f)", r.Name, r.Value, r.PerRep, r.PerRepMin, r.PerRepMax, w.value, w.lo, w.hi)
		}
	}

	// Without nginx only the direct ratios exist.
	two := []Trial{trial("direct", 1, 1000, true), trial("gatelab-fasthttp", 1, 500, true)}
	got = ratios(summarize([]string{"direct", "gatelab-fasthttp"}, two, nil, nil), two)
	if len(got) != 1 || got[0].Name != "fasthttp/direct" || got[0].Value != 0.5 {
		t.Errorf("ratios without nginx = %+v", got)
	}
}

func TestSpreadWarning(t *testing.T) {
	s := []Summary{
		{Target: "direct", Trials: 3, SpreadPct: 10},
		{Target: "nginx", Trials: 3, SpreadPct: 64.1},
		{Target: "gatelab-fasthttp", Trials: 1, SpreadPct: 90}, // one trial: no spread to speak of
	}
	got := spreadWarning(s)
	if !strings.Contains(got, "nginx 64%") || strings.Contains(got, "direct") || strings.Contains(got, "fasthttp") {
		t.Errorf("spreadWarning = %q", got)
	}
	if got := spreadWarning(s[:1]); got != "" {
		t.Errorf("narrow spread warned: %q", got)
	}
}
