package budget

import (
	"slices"
	"strconv"
	"strings"
)

// Family is one entry of the metric catalogue. A family either names one
// metric ("availability") or a pattern with one placeholder:
//
//	<stat>    p50 p90 p95 p99 p99.9 p99.99 max mean
//	<status>  an HTTP status code 100..599 or a class 1xx..5xx
type Family struct {
	Name     string   // "latency.<stat>", "status.<status>.ratio", "availability"
	Kind     Kind     // the kind of every metric of the family
	Tags     []string // tag keys a budget on this family may filter by
	Required []string // tag keys a budget on this family must carry
	Signed   bool     // values may be negative (overhead, latency_delta)
	Percent  bool     // a Number that is a quotient: '%' is accepted (105% = 1.05) and no 0..1 bound applies
	Help     string   // one line: what is measured
}

const (
	statPlaceholder   = "<stat>"
	statusPlaceholder = "<status>"
)

var (
	// requestTags filter the requests of a run: by route tag, by phase
	// window, by target name (glob), by engine, by rate-limit tier.
	requestTags = []string{"route", "phase", "target", "server", "router", "limiter", "tier"}
	// processTags filter the gateway processes of a run.
	processTags = []string{"phase", "target", "server", "router", "limiter"}
)

var families = []Family{
	{Name: "latency.<stat>", Kind: Duration, Tags: requestTags,
		Help: "latency from the intended send time (coordinated-omission corrected)"},
	{Name: "uncorrected.<stat>", Kind: Duration, Tags: requestTags,
		Help: "latency from the actual send time (not corrected for coordinated omission)"},
	{Name: "overhead.<stat>", Kind: Duration, Tags: requestTags, Signed: true,
		Help: "the target's latency stat minus the direct-to-upstream baseline's, same stat and filter; may be negative"},
	{Name: "overhead_ratio.<stat>", Kind: Number, Tags: requestTags, Percent: true,
		Help: "the target's latency stat divided by the direct-to-upstream baseline's"},
	{Name: "latency_delta.<stat>", Kind: Duration, Tags: append(slices.Clone(requestTags), "vs"), Required: []string{"vs"}, Signed: true,
		Help: "this target's latency stat minus the vs target's (same stat and filter, same repetition); may be negative"},
	{Name: "availability", Kind: Ratio, Tags: requestTags,
		Help: "requests answered with neither a 5xx nor a transport error, over all requests"},
	{Name: "errors.ratio", Kind: Ratio, Tags: requestTags,
		Help: "transport errors (no HTTP response), over all requests"},
	{Name: "status.<status>.ratio", Kind: Ratio, Tags: requestTags,
		Help: "responses with this status code or class, over all requests"},
	{Name: "status.<status>.count", Kind: Number, Tags: requestTags,
		Help: "responses with this status code or class"},
	{Name: "requests", Kind: Number, Tags: requestTags,
		Help: "requests in the measured window"},
	{Name: "rps", Kind: Number, Tags: requestTags,
		Help: "achieved requests per second"},
	{Name: "rps.ratio", Kind: Number, Tags: append(slices.Clone(requestTags), "vs"), Required: []string{"vs"}, Percent: true,
		Help: "this target's achieved requests per second over the vs target's"},
	{Name: "admitted.ratio", Kind: Number, Tags: requestTags, Percent: true,
		Help: "requests the limiter admitted over the number its limit allows"},
	{Name: "propagation.<stat>", Kind: Duration, Tags: []string{"route", "phase", "target", "server", "router", "limiter"},
		Help: "time from a config change being accepted to a node serving it"},
	{Name: "limiter.decision.<stat>", Kind: Duration, Tags: requestTags,
		Help: "the limiter's decision latency (gatelab_ratelimit_decision_seconds)"},
	{Name: "cpu.per_1k", Kind: Duration, Tags: processTags,
		Help: "CPU time of the target's processes per 1,000 requests"},
	{Name: "rss.peak", Kind: Bytes, Tags: []string{"target", "server", "router", "limiter"},
		Help: "peak resident memory of the target's processes (sum of VmHWM)"},
}

// tagKeys is every tag key any family allows, in documentation order.
var tagKeys = []string{"route", "phase", "target", "vs", "tier", "server", "router", "limiter"}

var stats = []string{"p50", "p90", "p95", "p99", "p99.9", "p99.99", "max", "mean"}

// unit is a written unit: value in base units = number * mul / div (two
// factors so that "10ms" is 10/1000, the correctly rounded 0.01).
type unit struct {
	name     string
	kind     Kind
	mul, div float64
}

var units = []unit{
	{"ns", Duration, 1, 1e9},
	{"us", Duration, 1, 1e6},
	{"µs", Duration, 1, 1e6}, // U+00B5 MICRO SIGN
	{"μs", Duration, 1, 1e6}, // U+03BC GREEK SMALL LETTER MU, looks the same
	{"ms", Duration, 1, 1e3},
	{"s", Duration, 1, 1},
	{"m", Duration, 60, 1},
	{"%", Ratio, 1, 100},
	{"B", Bytes, 1, 1},
	{"KB", Bytes, 1e3, 1},
	{"MB", Bytes, 1e6, 1},
	{"GB", Bytes, 1e9, 1},
	{"KiB", Bytes, 1 << 10, 1},
	{"MiB", Bytes, 1 << 20, 1},
	{"GiB", Bytes, 1 << 30, 1},
}

// Families returns the metric catalogue, in documentation order. The result
// is a copy.
func Families() []Family {
	out := make([]Family, len(families))
	for i, f := range families {
		out[i] = f.clone()
	}
	return out
}

// Stats returns the stat names a "<stat>" placeholder accepts.
func Stats() []string { return slices.Clone(stats) }

// TagKeys returns every tag key the catalogue knows.
func TagKeys() []string { return slices.Clone(tagKeys) }

// Units returns the units a value of kind k may be written in ("%" for Ratio;
// none for Number).
func Units(k Kind) []string {
	var out []string
	for _, u := range units {
		if u.kind == k && u.name != "μs" {
			out = append(out, u.name)
		}
	}
	return out
}

// Lookup finds the family of a concrete metric name and returns the value of
// its placeholder ("p99" for "latency.p99", "503" for "status.503.ratio", ""
// for a family without one).
func Lookup(metric string) (f Family, param string, ok bool) {
	for _, fam := range families {
		prefix, ph, suffix := fam.split()
		if ph == "" {
			if metric == fam.Name {
				return fam.clone(), "", true
			}
			continue
		}
		if len(metric) <= len(prefix)+len(suffix) || !strings.HasPrefix(metric, prefix) || !strings.HasSuffix(metric, suffix) {
			continue
		}
		p := metric[len(prefix) : len(metric)-len(suffix)]
		if validParam(ph, p) {
			return fam.clone(), p, true
		}
	}
	return Family{}, "", false
}

// Allows reports whether a budget on this family may carry tag key.
func (f Family) Allows(key string) bool { return slices.Contains(f.Tags, key) }

// Percentile returns the percentile (0..100) a stat name stands for: 99.9 for
// "p99.9", 100 for "max". It returns false for "mean" and unknown names.
func Percentile(stat string) (float64, bool) {
	if stat == "max" {
		return 100, true
	}
	if stat == "mean" || !slices.Contains(stats, stat) {
		return 0, false
	}
	p, err := strconv.ParseFloat(stat[1:], 64)
	if err != nil {
		return 0, false
	}
	return p, true
}

// StatusMatches reports whether an HTTP status code matches the <status>
// part of a status metric: "503" matches 503 only, "5xx" matches 500..599.
// Code 0 (a transport error) matches nothing.
func StatusMatches(status string, code int) bool {
	if code < 100 || code > 599 {
		return false
	}
	if len(status) == 3 && status[1:] == "xx" {
		return int(status[0]-'0') == code/100
	}
	n, err := strconv.Atoi(status)
	return err == nil && n == code
}

func (f Family) clone() Family {
	f.Tags = slices.Clone(f.Tags)
	f.Required = slices.Clone(f.Required)
	return f
}

// split cuts a family name around its placeholder.
func (f Family) split() (prefix, placeholder, suffix string) {
	i := strings.IndexByte(f.Name, '<')
	if i < 0 {
		return f.Name, "", ""
	}
	j := strings.IndexByte(f.Name[i:], '>')
	return f.Name[:i], f.Name[i : i+j+1], f.Name[i+j+1:]
}

func validParam(placeholder, p string) bool {
	switch placeholder {
	case statPlaceholder:
		return slices.Contains(stats, p)
	case statusPlaceholder:
		return validStatus(p)
	}
	return false
}

func validStatus(s string) bool {
	if len(s) != 3 || s[0] < '1' || s[0] > '5' {
		return false
	}
	if s[1:] == "xx" {
		return true
	}
	return s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}

// metricProblem explains why metric is not in the catalogue.
func metricProblem(metric string) string {
	// A family's prefix and suffix match but its placeholder does not.
	for _, fam := range families {
		prefix, ph, suffix := fam.split()
		if ph == "" || len(metric) < len(prefix)+len(suffix) || !strings.HasPrefix(metric, prefix) || !strings.HasSuffix(metric, suffix) {
			continue
		}
		p := metric[len(prefix) : len(metric)-len(suffix)]
		switch ph {
		case statPlaceholder:
			if p == "" {
				return fam.Name + " needs a stat, e.g. " + prefix + "p99" + suffix + " (stats: " + strings.Join(stats, " ") + ")"
			}
			return "unknown stat " + strconv.Quote(p) + " in " + metric + " (stats: " + strings.Join(stats, " ") + ")"
		case statusPlaceholder:
			return "status " + strconv.Quote(p) + " in " + metric + " is neither an HTTP status code (100..599) nor a class (1xx..5xx)"
		}
	}
	names := make([]string, len(families))
	for i, f := range families {
		names[i] = f.Name
	}
	return "unknown metric " + strconv.Quote(metric) + " (" + didYouMean(suggestMetric(metric)) +
		"known: " + strings.Join(names, ", ") + "; <stat>: " + strings.Join(stats, " ") + "; <status>: a code or 1xx..5xx)"
}

// didYouMean is "did you mean s? ", or "" for no suggestion.
func didYouMean(s string) string {
	if s == "" {
		return ""
	}
	return "did you mean " + s + "? "
}

// suggestMetric returns the concrete metric closest to a misspelt one, or ""
// when none is within two edits.
func suggestMetric(metric string) string {
	var cands []string
	for _, fam := range families {
		prefix, ph, suffix := fam.split()
		switch ph {
		case "":
			cands = append(cands, fam.Name)
		case statPlaceholder:
			stat := "p99"
			for _, s := range stats {
				if strings.HasSuffix(metric, "."+s) {
					stat = s
					break
				}
			}
			cands = append(cands, prefix+stat+suffix)
		case statusPlaceholder:
			status := "503"
			if parts := strings.Split(metric, "."); len(parts) > 1 && validStatus(parts[1]) {
				status = parts[1]
			}
			cands = append(cands, prefix+status+suffix)
		}
	}
	return closest(metric, cands)
}

// closest returns the candidate within two edits of s (and closer than s is
// long), or "".
func closest(s string, cands []string) string {
	if len(s) > 64 {
		return ""
	}
	best, bestD := "", 3
	for _, c := range cands {
		if d := editDistance(s, c); d < bestD && d < len([]rune(s)) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes. The
// candidates are short, so the cost is bounded by len(a) * 30.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func findUnit(name string) (unit, bool) {
	for _, u := range units {
		if u.name == name {
			return u, true
		}
	}
	return unit{}, false
}

func allUnitNames() string {
	var names []string
	for _, k := range []Kind{Duration, Ratio, Bytes} {
		names = append(names, Units(k)...)
	}
	return strings.Join(names, " ")
}

// suggestUnit returns a known unit equal to name but for case ("mb" -> MB).
func suggestUnit(name string) string {
	for _, u := range units {
		if strings.EqualFold(u.name, name) {
			return u.name
		}
	}
	return ""
}
