package compare

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// median returns the median of xs (the mean of the middle two for an even
// count), or NaN for none. xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// spread returns the minimum and maximum of xs, or NaN, NaN for none.
func spread(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	return slices.Min(xs), slices.Max(xs)
}

// medianInt is median over integers, rounded to the nearest.
func medianInt(xs []int64) int64 {
	f := make([]float64, len(xs))
	for i, x := range xs {
		f[i] = float64(x)
	}
	m := median(f)
	if math.IsNaN(m) {
		return 0
	}
	return int64(math.Round(m))
}

// Summary is one target over all its trials.
type Summary struct {
	Target  string   `json:"target"`
	Skipped string   `json:"skipped,omitempty"` // why the target was not measured
	Trials  int      `json:"trials"`
	Valid   bool     `json:"valid"` // measured, and every trial valid
	Invalid []string `json:"invalid,omitempty"`
	// Requests/s over the repetitions: the median ranks the target, min and
	// max show the spread; SpreadPct is (max-min)/median in percent.
	MedianRPS float64 `json:"median_rps"`
	MinRPS    float64 `json:"min_rps"`
	MaxRPS    float64 `json:"max_rps"`
	SpreadPct float64 `json:"spread_pct"`
	// SuccessRatio is 2xx over all requests of all trials.
	SuccessRatio float64 `json:"success_ratio"`
	Requests     int64   `json:"requests"`
	// Latency percentiles are medians over the trials, in microseconds.
	P50 int64 `json:"p50_us"`
	P90 int64 `json:"p90_us"`
	P99 int64 `json:"p99_us"`
	Max int64 `json:"max_us"` // the largest over the trials
	// CPU holds the medians over the trials.
	CPU CPU `json:"cpu"`
}

// summarize builds one Summary per target, in the given order. skipped maps a
// target that was not measured to the reason; invalid maps a target to
// problems found outside its trials (a failed parity probe, a crash).
func summarize(targets []string, trials []Trial, skipped, invalid map[string]string) []Summary {
	out := make([]Summary, 0, len(targets))
	for _, name := range targets {
		s := Summary{Target: name, Skipped: skipped[name]}
		if why, ok := invalid[name]; ok {
			s.Invalid = append(s.Invalid, why)
		}
		var rps, cg, ct, cu []float64
		var p50, p90, p99 []int64
		var ok int64
		for _, t := range trials {
			if t.Target != name {
				continue
			}
			s.Trials++
			if !t.Valid {
				s.Invalid = append(s.Invalid, trialLabel(t)+": "+t.Invalid)
			}
			rps = append(rps, t.RPS)
			p50 = append(p50, t.Latency.P50)
			p90 = append(p90, t.Latency.P90)
			p99 = append(p99, t.Latency.P99)
			s.Max = max(s.Max, t.Latency.Max)
			cg = append(cg, t.CPU.Generator)
			ct = append(ct, t.CPU.Target)
			cu = append(cu, t.CPU.Upstream)
			s.Requests += t.Requests
			ok += t.OK
		}
		if s.Trials > 0 {
			s.MedianRPS = median(rps)
			s.MinRPS, s.MaxRPS = spread(rps)
			if s.MedianRPS > 0 {
				s.SpreadPct = (s.MaxRPS - s.MinRPS) / s.MedianRPS * 100
			}
			s.P50, s.P90, s.P99 = medianInt(p50), medianInt(p90), medianInt(p99)
			s.CPU = CPU{Generator: round3(median(cg)), Target: round3(median(ct)), Upstream: round3(median(cu))}
			if s.Requests > 0 {
				s.SuccessRatio = float64(ok) / float64(s.Requests)
			}
		} else if s.Skipped == "" && len(s.Invalid) == 0 {
			s.Invalid = append(s.Invalid, "not measured")
		}
		s.Valid = s.Skipped == "" && s.Trials > 0 && len(s.Invalid) == 0
		out = append(out, s)
	}
	return out
}

func trialLabel(t Trial) string {
	return "rep " + strconv.Itoa(t.Rep)
}

// Ratio compares two targets' throughput.
type Ratio struct {
	Name string `json:"name"` // e.g. "fasthttp/nginx"
	Num  string `json:"num"`  // target names
	Den  string `json:"den"`
	// Value is median(Num RPS) / median(Den RPS): what checks use.
	Value float64 `json:"value"`
	// Per-repetition ratios (each from two trials run next to each other)
	// show how stable the comparison was.
	PerRep    []float64 `json:"per_rep"`
	PerRepMin float64   `json:"per_rep_min"`
	PerRepMax float64   `json:"per_rep_max"`
	Valid     bool      `json:"valid"` // both targets valid
	Note      string    `json:"note,omitempty"`
}

// shortName is the name a target has in ratios and checks.
func shortName(target string) string {
	if s, ok := isGatelab(target); ok {
		return s
	}
	return target
}

// ratios compares each gatelab engine with nginx and with direct, for every
// pair present in summaries.
func ratios(summaries []Summary, trials []Trial) []Ratio {
	by := map[string]Summary{}
	for _, s := range summaries {
		by[s.Target] = s
	}
	var out []Ratio
	for _, num := range []string{TargetFasthttp, TargetNethttp} {
		for _, den := range []string{TargetNginx, TargetDirect} {
			n, okN := by[num]
			d, okD := by[den]
			if !okN || !okD {
				continue
			}
			r := ratioOf(n, d, trials)
			out = append(out, r)
		}
	}
	return out
}

func ratioOf(n, d Summary, trials []Trial) Ratio {
	r := Ratio{Name: shortName(n.Target) + "/" + shortName(d.Target), Num: n.Target, Den: d.Target}
	switch {
	case n.Skipped != "":
		r.Note = n.Target + " skipped: " + n.Skipped
	case d.Skipped != "":
		r.Note = d.Target + " skipped: " + d.Skipped
	case n.Trials == 0 || d.Trials == 0 || d.MedianRPS <= 0:
		r.Note = "no throughput to compare"
	default:
		r.Value = n.MedianRPS / d.MedianRPS
		r.Valid = n.Valid && d.Valid
		if !r.Valid {
			r.Note = "not ranked: a target is INVALID"
		}
	}
	rpsAt := map[[2]any]float64{}
	for _, t := range trials {
		rpsAt[[2]any{t.Target, t.Rep}] = t.RPS
	}
	reps := map[int]bool{}
	var order []int
	for _, t := range trials {
		if t.Target == n.Target && !reps[t.Rep] {
			reps[t.Rep] = true
			order = append(order, t.Rep)
		}
	}
	for _, rep := range order {
		nv, okN := rpsAt[[2]any{n.Target, rep}]
		dv, okD := rpsAt[[2]any{d.Target, rep}]
		if okN && okD && dv > 0 {
			r.PerRep = append(r.PerRep, nv/dv)
		}
	}
	if len(r.PerRep) > 0 {
		r.PerRepMin, r.PerRepMax = spread(r.PerRep)
	}
	return r
}

// wideSpreadPct is the spread (max-min, in percent of the median) above which
// a target's throughput is flagged as unstable.
const wideSpreadPct = 25.0

// spreadWarning names the targets whose throughput varied widely over the
// repetitions, or returns "".
func spreadWarning(summaries []Summary) string {
	var wide []string
	for _, s := range summaries {
		if s.Trials > 1 && s.SpreadPct > wideSpreadPct {
			wide = append(wide, fmt.Sprintf("%s %.0f%%", s.Target, s.SpreadPct))
		}
	}
	if len(wide) == 0 {
		return ""
	}
	return fmt.Sprintf("wide spread (max-min above %.0f%% of the median): %s; the host was busy or unstable, so the verdicts of this run are weak: rerun on a quiet host",
		wideSpreadPct, strings.Join(wide, ", "))
}
