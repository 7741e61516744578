package compare

import (
	"fmt"
	"sort"
	"strings"
)

// Verdicts of a check.
const (
	Pass    = "PASS"
	Fail    = "FAIL"
	Invalid = "INVALID" // a target the check needs is invalid: not evaluated
	Skip    = "SKIP"    // a target the check needs was not selected or not installed
)

// CheckSpec is a throughput target: median RPS of Num / median RPS of Den >= Min.
type CheckSpec struct {
	Num, Den string
	Min      float64
}

// DefaultChecks are the targets: with the whole pipeline on, the
// fasthttp engine reaches at least 0.8 of nginx's requests per second and
// the nethttp engine at least 0.4.
var DefaultChecks = []CheckSpec{
	{Num: TargetFasthttp, Den: TargetNginx, Min: 0.80},
	{Num: TargetNethttp, Den: TargetNginx, Min: 0.40},
}

// Check is one evaluated CheckSpec.
type Check struct {
	Expr    string  `json:"expr"` // "fasthttp/nginx >= 0.80"
	Num     string  `json:"num"`
	Den     string  `json:"den"`
	Min     float64 `json:"min"`
	Verdict string  `json:"verdict"`
	Value   float64 `json:"value,omitempty"`
	Reason  string  `json:"reason,omitempty"` // why INVALID or SKIP
}

// String is the console line: "PASS fasthttp/nginx >= 0.80: 0.87".
func (c Check) String() string {
	switch c.Verdict {
	case Pass, Fail:
		return fmt.Sprintf("%s %s: %.2f", c.Verdict, c.Expr, c.Value)
	default:
		return fmt.Sprintf("%s %s: %s", c.Verdict, c.Expr, c.Reason)
	}
}

// evaluate applies specs to the summaries; a spec whose targets were not in
// the run is skipped.
func evaluate(specs []CheckSpec, summaries []Summary) []Check {
	by := map[string]Summary{}
	for _, s := range summaries {
		by[s.Target] = s
	}
	out := make([]Check, 0, len(specs))
	for _, sp := range specs {
		c := Check{
			Expr: fmt.Sprintf("%s/%s >= %.2f", shortName(sp.Num), shortName(sp.Den), sp.Min),
			Num:  sp.Num, Den: sp.Den, Min: sp.Min,
		}
		n, okN := by[sp.Num]
		d, okD := by[sp.Den]
		switch {
		case !okN || !okD:
			var missing []string
			for _, t := range []string{sp.Num, sp.Den} {
				if _, ok := by[t]; !ok {
					missing = append(missing, t)
				}
			}
			c.Verdict, c.Reason = Skip, strings.Join(missing, " and ")+" not in -targets"
		case n.Skipped != "" || d.Skipped != "":
			var why []string
			for _, s := range []Summary{n, d} {
				if s.Skipped != "" {
					why = append(why, s.Target+" skipped: "+s.Skipped)
				}
			}
			c.Verdict, c.Reason = Skip, strings.Join(why, "; ")
		case !n.Valid || !d.Valid:
			var why []string
			for _, s := range []Summary{n, d} {
				if !s.Valid {
					why = append(why, s.Target+" INVALID: "+strings.Join(s.Invalid, "; "))
				}
			}
			c.Verdict, c.Reason = Invalid, strings.Join(why, "; ")
		case d.MedianRPS <= 0:
			c.Verdict, c.Reason = Invalid, sp.Den+" delivered no throughput"
		default:
			c.Value = n.MedianRPS / d.MedianRPS
			c.Verdict = Fail
			if c.Value >= sp.Min {
				c.Verdict = Pass
			}
		}
		out = append(out, c)
	}
	return out
}

// runInvalidity lists why a run is invalid: its own reasons (an
// interruption) and every measured target that is INVALID.
func runInvalidity(runInvalid []string, summaries []Summary) []string {
	why := append([]string(nil), runInvalid...)
	for _, s := range summaries {
		if s.Skipped == "" && !s.Valid {
			why = append(why, s.Target+" INVALID")
		}
	}
	return why
}

// notOnInvalidRun turns every PASS and FAIL into INVALID when the run is
// invalid: checks are not evaluated on invalid runs. The observed value is
// kept and named in the reason.
func notOnInvalidRun(checks []Check, why []string) []Check {
	if len(why) == 0 {
		return checks
	}
	out := make([]Check, len(checks))
	for i, c := range checks {
		if c.Verdict == Pass || c.Verdict == Fail {
			c.Reason = fmt.Sprintf("observed %.2f, not evaluated: the run is INVALID (%s)", c.Value, strings.Join(why, "; "))
			c.Verdict = Invalid
		}
		out[i] = c
	}
	return out
}

// judgeTrial decides whether a trial counts: it must have answers, and at
// least minSuccess of them 2xx.
func judgeTrial(t Trial) (valid bool, why string) {
	switch {
	case t.Requests == 0:
		return false, "no request completed in the measured window"
	case t.SuccessRatio < minSuccess:
		return false, fmt.Sprintf("success %.2f%% < %.0f%% (%s)", t.SuccessRatio*100, minSuccess*100, statusDigest(t))
	}
	return true, ""
}

// statusDigest lists the statuses and the most frequent errors of a trial.
func statusDigest(t Trial) string {
	parts := []string{}
	codes := make([]string, 0, len(t.Status))
	for c := range t.Status {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		label := "status " + c
		if c == "0" {
			label = "no response"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", label, t.Status[c]))
	}
	type kv struct {
		k string
		v int64
	}
	var errs []kv
	for k, v := range t.Errors {
		errs = append(errs, kv{k, v})
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].v > errs[j].v || errs[i].v == errs[j].v && errs[i].k < errs[j].k })
	for i, e := range errs {
		if i == 3 {
			break
		}
		parts = append(parts, fmt.Sprintf("%dx %q", e.v, e.k))
	}
	return strings.Join(parts, ", ")
}

// exitCodeFor is the process exit code of a run: 2 when the run is invalid
// (interrupted, or any target INVALID or any check INVALID), else 1 when a
// check failed, else 0. Skipped checks do not fail a run.
func exitCodeFor(runInvalid []string, summaries []Summary, checks []Check) int {
	if len(runInvalid) > 0 {
		return 2
	}
	for _, s := range summaries {
		if s.Skipped == "" && !s.Valid {
			return 2
		}
	}
	failed := false
	for _, c := range checks {
		switch c.Verdict {
		case Invalid:
			return 2
		case Fail:
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}
