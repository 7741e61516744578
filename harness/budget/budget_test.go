package budget

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

type okCase struct {
	text  string
	want  Expr // Text and Line are not compared
	canon string
}

// okCases are expressions that parse, with what they parse to. canon is
// the expected String() when it differs from the text.
var okCases = []okCase{
	// The issue's and the brief's examples.
	{text: "overhead.p99 < 1ms", want: Expr{Metric: "overhead.p99", Op: Lt, Value: 1e-3, Kind: Duration, Unit: "ms"}},
	{text: "latency.p99{route:users, phase:redis-down} < 10ms", want: Expr{Metric: "latency.p99", Tags: []Tag{{"route", "users"}, {"phase", "redis-down"}}, Op: Lt, Value: 0.01, Kind: Duration, Unit: "ms"}},
	{text: "availability{route:users} >= 99.9%", want: Expr{Metric: "availability", Tags: []Tag{{"route", "users"}}, Op: Ge, Value: 0.999, Kind: Ratio, Unit: "%"}},
	{text: "status.503.ratio{route:payments, phase:redis-down} == 100%", want: Expr{Metric: "status.503.ratio", Tags: []Tag{{"route", "payments"}, {"phase", "redis-down"}}, Op: Eq, Value: 1, Kind: Ratio, Unit: "%"}},
	{text: "admitted.ratio{tier:standard} <= 1.05", want: Expr{Metric: "admitted.ratio", Tags: []Tag{{"tier", "standard"}}, Op: Le, Value: 1.05, Kind: Number}},
	{text: "propagation.p99 < 100ms", want: Expr{Metric: "propagation.p99", Op: Lt, Value: 0.1, Kind: Duration, Unit: "ms"}},
	{text: "rps.ratio{target:gatelab-fasthttp-*, vs:nginx} >= 0.8", want: Expr{Metric: "rps.ratio", Tags: []Tag{{"target", "gatelab-fasthttp-*"}, {"vs", "nginx"}}, Op: Ge, Value: 0.8, Kind: Number}},
	{text: "rps.ratio{target:gatelab-fasthttp, vs:nginx} >= 0.8", want: Expr{Metric: "rps.ratio", Tags: []Tag{{"target", "gatelab-fasthttp"}, {"vs", "nginx"}}, Op: Ge, Value: 0.8, Kind: Number}},
	{text: "latency_delta.p99{target:gatelab-*, vs:nginx} < 1ms", want: Expr{Metric: "latency_delta.p99", Tags: []Tag{{"target", "gatelab-*"}, {"vs", "nginx"}}, Op: Lt, Value: 1e-3, Kind: Duration, Unit: "ms"}},
	{text: "latency_delta.p99.9{vs:haproxy} > -2ms", want: Expr{Metric: "latency_delta.p99.9", Tags: []Tag{{"vs", "haproxy"}}, Op: Gt, Value: -2e-3, Kind: Duration, Unit: "ms"}},
	{text: "cpu.per_1k < 50ms", want: Expr{Metric: "cpu.per_1k", Op: Lt, Value: 0.05, Kind: Duration, Unit: "ms"}},
	{text: "rss.peak < 200MB", want: Expr{Metric: "rss.peak", Op: Lt, Value: 200e6, Kind: Bytes, Unit: "MB"}},

	// Whitespace anywhere between tokens, none at all, tabs.
	{text: "  latency.p99 {  route : users ,phase:redis-down }<=10 ms  ", want: Expr{Metric: "latency.p99", Tags: []Tag{{"route", "users"}, {"phase", "redis-down"}}, Op: Le, Value: 0.01, Kind: Duration, Unit: "ms"}, canon: "latency.p99{route:users, phase:redis-down} <= 10ms"},
	{text: "latency.p99{route:users}<10ms", want: Expr{Metric: "latency.p99", Tags: []Tag{{"route", "users"}}, Op: Lt, Value: 0.01, Kind: Duration, Unit: "ms"}, canon: "latency.p99{route:users} < 10ms"},
	{text: "\tavailability\t>=\t0.999", want: Expr{Metric: "availability", Op: Ge, Value: 0.999, Kind: Ratio}, canon: "availability >= 0.999"},

	// Every operator.
	{text: "requests > 1000", want: Expr{Metric: "requests", Op: Gt, Value: 1000, Kind: Number}},
	{text: "errors.ratio == 0", want: Expr{Metric: "errors.ratio", Op: Eq, Value: 0, Kind: Ratio}},
	{text: "status.5xx.count != 3", want: Expr{Metric: "status.5xx.count", Op: Ne, Value: 3, Kind: Number}},

	// Every stat, up to p99.99.
	{text: "latency.p50 < 1ms", want: Expr{Metric: "latency.p50", Op: Lt, Value: 1e-3, Kind: Duration, Unit: "ms"}},
	{text: "latency.p99.9 < 1ms", want: Expr{Metric: "latency.p99.9", Op: Lt, Value: 1e-3, Kind: Duration, Unit: "ms"}},
	{text: "latency.p99.99 < 1ms", want: Expr{Metric: "latency.p99.99", Op: Lt, Value: 1e-3, Kind: Duration, Unit: "ms"}},
	{text: "uncorrected.max < 2s", want: Expr{Metric: "uncorrected.max", Op: Lt, Value: 2, Kind: Duration, Unit: "s"}},
	{text: "limiter.decision.mean < 500us", want: Expr{Metric: "limiter.decision.mean", Op: Lt, Value: 500e-6, Kind: Duration, Unit: "us"}},
	{text: "overhead_ratio.p90 < 1.5", want: Expr{Metric: "overhead_ratio.p90", Op: Lt, Value: 1.5, Kind: Number}},
	{text: "overhead_ratio.p95 <= 150%", want: Expr{Metric: "overhead_ratio.p95", Op: Le, Value: 1.5, Kind: Number, Unit: "%"}},

	// Units and signs.
	{text: "latency.p99 < 250ns", want: Expr{Metric: "latency.p99", Op: Lt, Value: 250e-9, Kind: Duration, Unit: "ns"}},
	{text: "latency.p99 < 500µs", want: Expr{Metric: "latency.p99", Op: Lt, Value: 500e-6, Kind: Duration, Unit: "µs"}},
	{text: "latency.p99 < 500μs", want: Expr{Metric: "latency.p99", Op: Lt, Value: 500e-6, Kind: Duration, Unit: "μs"}},
	{text: "propagation.max < 1.5s", want: Expr{Metric: "propagation.max", Op: Lt, Value: 1.5, Kind: Duration, Unit: "s"}},
	{text: "propagation.max < 2m", want: Expr{Metric: "propagation.max", Op: Lt, Value: 120, Kind: Duration, Unit: "m"}},
	{text: "overhead.p50 > -0.5ms", want: Expr{Metric: "overhead.p50", Op: Gt, Value: -0.5e-3, Kind: Duration, Unit: "ms"}},
	{text: "overhead.p50 < +.5ms", want: Expr{Metric: "overhead.p50", Op: Lt, Value: 0.5e-3, Kind: Duration, Unit: "ms"}, canon: "overhead.p50 < 0.5ms"},
	{text: "overhead.p99 < 0", want: Expr{Metric: "overhead.p99", Op: Lt, Value: 0, Kind: Duration}},
	{text: "rss.peak < 512B", want: Expr{Metric: "rss.peak", Op: Lt, Value: 512, Kind: Bytes, Unit: "B"}},
	{text: "rss.peak < 64KB", want: Expr{Metric: "rss.peak", Op: Lt, Value: 64e3, Kind: Bytes, Unit: "KB"}},
	{text: "rss.peak < 2GB", want: Expr{Metric: "rss.peak", Op: Lt, Value: 2e9, Kind: Bytes, Unit: "GB"}},
	{text: "rss.peak < 64KiB", want: Expr{Metric: "rss.peak", Op: Lt, Value: 64 << 10, Kind: Bytes, Unit: "KiB"}},
	{text: "rss.peak < 200MiB", want: Expr{Metric: "rss.peak", Op: Lt, Value: 200 << 20, Kind: Bytes, Unit: "MiB"}},
	{text: "rss.peak < 1.5GiB", want: Expr{Metric: "rss.peak", Op: Lt, Value: 1.5 * (1 << 30), Kind: Bytes, Unit: "GiB"}},
	{text: "availability >= 0%", want: Expr{Metric: "availability", Op: Ge, Value: 0, Kind: Ratio, Unit: "%"}},
	{text: "availability >= 1", want: Expr{Metric: "availability", Op: Ge, Value: 1, Kind: Ratio}},
	{text: "admitted.ratio{tier:standard} <= 105%", want: Expr{Metric: "admitted.ratio", Tags: []Tag{{"tier", "standard"}}, Op: Le, Value: 1.05, Kind: Number, Unit: "%"}},

	// Status codes and classes, tag values with every allowed character.
	{text: "status.200.ratio >= 99%", want: Expr{Metric: "status.200.ratio", Op: Ge, Value: 0.99, Kind: Ratio, Unit: "%"}},
	{text: "status.1xx.count == 0", want: Expr{Metric: "status.1xx.count", Op: Eq, Value: 0, Kind: Number}},
	{text: "status.429.ratio{route:api/v2:users_x.y-z} > 0", want: Expr{Metric: "status.429.ratio", Tags: []Tag{{"route", "api/v2:users_x.y-z"}}, Op: Gt, Value: 0, Kind: Ratio}},
	{text: "rps{server:fast*, router:trie, limiter:redis} > 1000", want: Expr{Metric: "rps", Tags: []Tag{{"server", "fast*"}, {"router", "trie"}, {"limiter", "redis"}}, Op: Gt, Value: 1000, Kind: Number}},
}

func approx(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-12*math.Max(math.Abs(a), math.Abs(b))
}

func sameExpr(t *testing.T, got, want Expr) {
	t.Helper()
	if got.Metric != want.Metric || got.Op != want.Op || got.Kind != want.Kind || got.Unit != want.Unit ||
		!slices.Equal(got.Tags, want.Tags) || !approx(got.Value, want.Value) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestParse(t *testing.T) {
	for _, c := range okCases {
		t.Run(c.text, func(t *testing.T) {
			e, err := Parse(c.text)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			sameExpr(t, e, c.want)
			if e.Text != strings.TrimSpace(c.text) {
				t.Errorf("Text = %q, want the trimmed input", e.Text)
			}
			canon := c.canon
			if canon == "" {
				canon = c.text
			}
			if e.String() != canon {
				t.Errorf("String() = %q, want %q", e.String(), canon)
			}
			// The canonical form reads back to the same expression.
			back, err := Parse(e.String())
			if err != nil {
				t.Fatalf("Parse(String()): %v", err)
			}
			sameExpr(t, back, c.want)
		})
	}
}

// TestEveryFamily parses every metric the catalogue can name: each stat of
// each stat family, status codes and classes, with every allowed tag and a
// value in each unit the family accepts.
func TestEveryFamily(t *testing.T) {
	values := map[Kind][]string{
		Duration: {"0", "1ns", "1us", "1µs", "1ms", "1s", "1m"},
		Ratio:    {"0.5", "50%"},
		Number:   {"2"},
		Bytes:    {"0", "1B", "1KB", "1MB", "1GB", "1KiB", "1MiB", "1GiB"},
	}
	n := 0
	for _, f := range Families() {
		var metrics []string
		prefix, ph, suffix := f.split()
		switch ph {
		case "":
			metrics = []string{f.Name}
		case "<stat>":
			for _, s := range Stats() {
				metrics = append(metrics, prefix+s+suffix)
			}
		case "<status>":
			metrics = []string{prefix + "200" + suffix, prefix + "503" + suffix, prefix + "5xx" + suffix, prefix + "1xx" + suffix}
		default:
			t.Fatalf("family %s: unknown placeholder %q", f.Name, ph)
		}
		if len(f.Tags) == 0 || f.Help == "" || f.Kind < Duration || f.Kind > Bytes {
			t.Errorf("family %s is incomplete: %+v", f.Name, f)
		}
		var tags []string
		for _, k := range f.Tags {
			tags = append(tags, k+":x")
		}
		vals := values[f.Kind]
		if f.Percent {
			vals = append(slices.Clone(vals), "120%", "1.2")
		}
		for _, m := range metrics {
			for _, v := range vals {
				text := m + "{" + strings.Join(tags, ",") + "} >= " + v
				e, err := Parse(text)
				if err != nil {
					t.Errorf("Parse(%q): %v", text, err)
					continue
				}
				n++
				if e.Kind != f.Kind {
					t.Errorf("%q: Kind %v, want %v", text, e.Kind, f.Kind)
				}
				got, _, ok := e.Family()
				if !ok || got.Name != f.Name {
					t.Errorf("%q: Family() = %q %v, want %q", text, got.Name, ok, f.Name)
				}
			}
		}
	}
	if n < 200 {
		t.Errorf("only %d expressions parsed; the catalogue walk is broken", n)
	}
	// Every tag key is allowed somewhere.
	for _, k := range TagKeys() {
		if !slices.ContainsFunc(Families(), func(f Family) bool { return f.Allows(k) }) {
			t.Errorf("tag %q is allowed on no family", k)
		}
	}
}

type errCase struct {
	text string
	col  int
	want []string // substrings of the message
}

// errCases cover every class of error: syntax, catalogue, units, range.
var errCases = []errCase{
	// Empty and syntax.
	{"", 1, []string{"empty budget expression"}},
	{"   ", 1, []string{"empty budget expression"}},
	{"< 1ms", 1, []string{"expected a metric name", `"<"`}},
	{"latency.p99", 12, []string{"missing operator and value after latency.p99"}},
	{"latency.p99 1ms", 13, []string{"expected an operator", `got "1ms"`}},
	{"latency.p99 <", 14, []string{`missing value after "<"`}},
	{"latency.p99 <=   ", 15, []string{`missing value after "<="`}},
	{"latency.p99 < ms", 15, []string{`expected a number after "<"`, `"ms"`}},
	{"latency.p99 < -", 15, []string{`expected a number`, `"-"`}},
	{"latency.p99 = 1ms", 13, []string{`unknown operator "="`, "use =="}},
	{"latency.p99 => 1ms", 13, []string{`unknown operator "=>"`, "use >="}},
	{"latency.p99 =< 1ms", 13, []string{`unknown operator "=<"`, "use <="}},
	{"latency.p99 <> 1ms", 13, []string{`unknown operator "<>"`, "use !="}},
	{"latency.p99 <<= 1ms", 13, []string{`unknown operator "<<="`}},
	{"latency.p99 < 1ms x", 19, []string{`unexpected "x" after the value`}},
	{"latency.p99 < 1ms 2ms", 19, []string{`unexpected "2ms"`}},
	{"latency.p99 < 1.2.3ms", 18, []string{`unexpected ".3ms"`}},
	{"latency.p99 < 1ms}", 18, []string{`unexpected "}"`}},
	{"latency.p99 < NaN", 15, []string{`value "NaN" is not a finite number`}},
	{"latency.p99 < +Inf", 15, []string{`value "+Inf" is not a finite number`}},
	{"latency.p99 < infinity", 15, []string{"not a finite number"}},
	{"requests < " + strings.Repeat("9", 400), 12, []string{"out of range"}},
	{"rss.peak < " + strings.Repeat("9", 305) + "GB", 12, []string{"out of range"}},

	// Tags: syntax.
	{"latency.p99{} < 1ms", 13, []string{"empty tag list"}},
	{"latency.p99{route:users < 1ms", 25, []string{"expected ',' or '}' after tag route:users", `"<"`}},
	{"latency.p99{route:users", 24, []string{"unclosed '{' (opened at col 12)"}},
	{"latency.p99{route:users,", 25, []string{"unclosed '{'"}},
	{"latency.p99{route:users,} < 1ms", 25, []string{"missing tag (key:value) after ','"}},
	{"latency.p99{route:users,,phase:x} < 1ms", 25, []string{"missing tag"}},
	{"latency.p99{route} < 1ms", 18, []string{`missing ':' and value after tag key "route"`}},
	{"latency.p99{route=users} < 1ms", 18, []string{`expected ':' after tag key "route"`, `"=users"`}},
	{"latency.p99{route:} < 1ms", 19, []string{`missing value for tag "route"`}},
	{"latency.p99{route:,phase:x} < 1ms", 19, []string{`missing value for tag "route"`}},
	{"latency.p99{route: \"users\"} < 1ms", 20, []string{`bad value for tag "route"`, "written bare"}},
	{"latency.p99{route:*} < 1ms", 19, []string{`tag value "*" matches everything`}},
	{"latency.p99{route:a*b} < 1ms", 20, []string{"'*' may only end a tag value", "route:a*b"}},
	{"latency.p99{:users} < 1ms", 13, []string{"expected a tag key", `":users"`}},

	// Catalogue: metric.
	{"latncy.p99 < 1ms", 1, []string{`unknown metric "latncy.p99"`, "did you mean latency.p99?", "known: latency.<stat>", "rss.peak"}},
	{"status.503.rate{route:payments} == 100%", 1, []string{`unknown metric "status.503.rate"`, "did you mean status.503.ratio?"}},
	{"Availability >= 99%", 1, []string{`unknown metric "Availability"`, "did you mean availability?"}},
	{"bogus > 1", 1, []string{`unknown metric "bogus" (known: `}},
	{"latency.p98 < 1ms", 1, []string{`unknown stat "p98" in latency.p98`, "p99.99"}},
	{"latency.p99.999 < 1ms", 1, []string{`unknown stat "p99.999"`}},
	{"latency. < 1ms", 1, []string{"latency.<stat> needs a stat", "latency.p99"}},
	{"status.600.ratio < 1%", 1, []string{`status "600" in status.600.ratio`, "1xx..5xx"}},
	{"status.5XX.count < 1", 1, []string{`status "5XX"`}},
	{"status.099.count < 1", 1, []string{`status "099"`}},

	// Catalogue: tags.
	{"latency.p99{rout:users} < 10ms", 13, []string{`tag "rout" not allowed on latency.p99`, "did you mean route?", "allowed: route, phase"}},
	{"latency.p99{vs:nginx} < 10ms", 13, []string{`tag "vs" not allowed on latency.p99`}},
	{"rss.peak{route:users} < 1GB", 10, []string{`tag "route" not allowed on rss.peak`, "allowed: target, server, router, limiter"}},
	{"bogus{colour:red} > 1", 1, []string{`unknown metric "bogus"`, `col 7: unknown tag "colour"`, "tags: route, phase"}},
	{"latency.p99{route:a, phase:x, route:b} < 10ms", 31, []string{`duplicate tag "route" (first at col 13)`}},
	{"rps.ratio{target:gatelab-*} >= 0.8", 1, []string{"rps.ratio needs a vs tag"}},
	{"rps.ratio >= 0.8", 1, []string{"rps.ratio needs a vs tag"}},
	{"rps.ratio{vs:nginx*} >= 0.8", 14, []string{"vs must name one target, not a pattern", "vs:nginx*"}},
	{"latency_delta.p99{target:gatelab-*} < 1ms", 1, []string{"latency_delta.p99 needs a vs tag"}},
	{"latency_delta.p99{vs:ng*} < 1ms", 22, []string{"vs must name one target, not a pattern", "vs:ng*"}},
	{"latency_delta.p99{vs:nginx} < 5", 31, []string{"duration metric latency_delta.p99 needs a unit after 5"}},
	{"latency_delta.p99{vs:nginx} < 5%", 32, []string{`unit "%" does not fit duration metric latency_delta.p99`}},
	{"latency.p99{vs:nginx} > -1ms", 13, []string{`tag "vs" not allowed on latency.p99`, "value -1ms is negative; latency.p99 cannot be"}},

	// Units.
	{"latency.p99 < 1%", 16, []string{`unit "%" does not fit duration metric latency.p99`, "units: ns us µs ms s m"}},
	{"latency.p99 < 1MB", 16, []string{`unit "MB" does not fit duration metric latency.p99`}},
	{"availability >= 99ms", 19, []string{`unit "ms" does not fit ratio metric availability`, "99.9%"}},
	{"rss.peak < 1ms", 13, []string{`unit "ms" does not fit bytes metric rss.peak`, "units: B KB MB GB KiB MiB GiB"}},
	{"requests > 5%", 13, []string{`unit "%" does not fit number metric requests`, "no unit"}},
	{"overhead_ratio.p99 < 2ms", 23, []string{`unit "ms" does not fit number metric overhead_ratio.p99`, "a percentage such as 105%"}},
	{"rps > 1s", 8, []string{`unit "s" does not fit number metric rps`}},
	{"latency.p99 < 5", 15, []string{"duration metric latency.p99 needs a unit after 5", "units: ns"}},
	{"rss.peak < 200", 12, []string{"bytes metric rss.peak needs a unit after 200"}},
	{"latency.p99 < 5 sec", 17, []string{`unknown unit "sec"`, "units: ns us"}},
	{"rss.peak < 5mb", 13, []string{`unknown unit "mb"`, "did you mean MB?"}},
	{"rss.peak < 5kB", 13, []string{`unknown unit "kB"`, "did you mean KB?"}},
	{"latency.p99 < 5h", 16, []string{`unknown unit "h"`}},

	// Ranges.
	{"availability >= 1.5", 17, []string{"ratio 1.5 is outside 0..1", "99.9%"}},
	{"availability >= 99.9", 17, []string{"ratio 99.9 is outside 0..1"}},
	{"availability >= 100.1%", 17, []string{"ratio 100.1% is outside 0%..100%"}},
	{"errors.ratio < -1%", 16, []string{"ratio -1% is outside"}},
	{"latency.p99 < -1ms", 15, []string{"value -1ms is negative; latency.p99 cannot be"}},
	{"requests > -1", 12, []string{"value -1 is negative"}},
	{"admitted.ratio <= -5%", 19, []string{"value -5% is negative"}},
	{"rss.peak < -1KB", 12, []string{"negative"}},
}

func TestParseErrors(t *testing.T) {
	for _, c := range errCases {
		t.Run(c.text, func(t *testing.T) {
			e, err := Parse(c.text)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", c.text, e)
			}
			if !reflect.DeepEqual(e, Expr{}) {
				t.Errorf("Parse returned %#v with the error, want the zero Expr", e)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError: %v", err, err)
			}
			if se.Col != c.col {
				t.Errorf("Col = %d, want %d (%v)", se.Col, c.col, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, fmt.Sprintf("budget %q: col %d: ", strings.TrimSpace(c.text), se.Col)) {
				t.Errorf("message %q does not start with the expression and column", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// TestParseEveryProblem: catalogue problems are all reported, not the first.
func TestParseEveryProblem(t *testing.T) {
	_, err := Parse("bogus{colour:red, route:a, route:b} > 1q")
	if err == nil {
		t.Fatal("no error")
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var se *SyntaxError
		if !errors.As(e, &se) {
			t.Fatalf("%T is not a *SyntaxError", e)
		}
		got = append(got, fmt.Sprintf("%d %s", se.Col, strings.SplitN(se.Msg, " (", 2)[0]))
	}
	want := []string{
		`1 unknown metric "bogus"`,
		`7 unknown tag "colour"`,
		`28 duplicate tag "route"`,
		`40 unknown unit "q"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
}

func TestParseAll(t *testing.T) {
	lines := []Line{
		{Text: "overhead.p99 < 1ms", Line: 10},
		{Text: "latncy.p99 < 1ms", Line: 11},
		{Text: "availability{route:users} >= 99.9%", Line: 12},
		{Text: "latency.p99{rout:x, route:y, route:z} < 1%", Line: 14},
		{Text: "rss.peak < 200MB trailing", Line: 20},
	}
	exprs, errs := ParseAll(lines)
	if len(exprs) != 2 || exprs[0].Line != 10 || exprs[1].Line != 12 || exprs[1].Metric != "availability" {
		t.Errorf("exprs = %+v, want lines 10 and 12", exprs)
	}
	wantPrefixes := []string{
		`line 11: budget "latncy.p99 < 1ms": col 1: unknown metric`,
		`line 14: budget "latency.p99{rout:x, route:y, route:z} < 1%": col 13: tag "rout" not allowed`,
		`line 14: budget "latency.p99{rout:x, route:y, route:z} < 1%": col 30: duplicate tag "route" (first at col 21)`,
		`line 14: budget "latency.p99{rout:x, route:y, route:z} < 1%": col 42: unit "%" does not fit duration metric latency.p99`,
		`line 20: budget "rss.peak < 200MB trailing": col 18: unexpected "trailing" after the value`,
	}
	if len(errs) != len(wantPrefixes) {
		t.Fatalf("got %d errors, want %d: %v", len(errs), len(wantPrefixes), errs)
	}
	for i, err := range errs {
		if !strings.HasPrefix(err.Error(), wantPrefixes[i]) {
			t.Errorf("error %d:\n got %s\nwant %s...", i, err, wantPrefixes[i])
		}
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line == 0 {
			t.Errorf("error %d is not a *SyntaxError with its line: %#v", i, err)
		}
	}
	if exprs, errs := ParseAll(nil); exprs != nil || errs != nil {
		t.Errorf("ParseAll(nil) = %v, %v", exprs, errs)
	}
}

func TestTagMatches(t *testing.T) {
	cases := []struct {
		pattern, value string
		want           bool
	}{
		{"users", "users", true},
		{"users", "users2", false},
		{"users", "user", false},
		{"users", "", false},
		{"gatelab-fasthttp-*", "gatelab-fasthttp-trie", true},
		{"gatelab-fasthttp-*", "gatelab-fasthttp-", true},
		{"gatelab-fasthttp-*", "gatelab-fasthttp", false},
		{"gatelab-fasthttp-*", "gatelab-nethttp-trie", false},
		{"gatelab*", "gatelab", true},
		{"*", "anything", true},
		{"a*", "A", false},
		{"api/v2:*", "api/v2:users", true},
	}
	for _, c := range cases {
		if got := TagMatches(c.pattern, c.value); got != c.want {
			t.Errorf("TagMatches(%q, %q) = %v, want %v", c.pattern, c.value, got, c.want)
		}
	}
	e := mustParse(t, "rps.ratio{target:gatelab-fasthttp-*, vs:nginx} >= 0.8")
	if !e.Matches("target", "gatelab-fasthttp-trie") || e.Matches("target", "nginx") {
		t.Error("Matches on target is wrong")
	}
	if !e.Matches("route", "anything") {
		t.Error("Matches on a key without a filter must be true")
	}
	if v, ok := e.Tag("vs"); !ok || v != "nginx" {
		t.Errorf(`Tag("vs") = %q, %v`, v, ok)
	}
	if _, ok := e.Tag("route"); ok {
		t.Error(`Tag("route") found a tag that is not there`)
	}
}

func TestHolds(t *testing.T) {
	cases := []struct {
		op     Op
		x, lim float64
		want   bool
	}{
		{Lt, 1, 2, true}, {Lt, 2, 2, false}, {Lt, 3, 2, false},
		{Le, 1, 2, true}, {Le, 2, 2, true}, {Le, 3, 2, false},
		{Gt, 3, 2, true}, {Gt, 2, 2, false}, {Gt, 1, 2, false},
		{Ge, 3, 2, true}, {Ge, 2, 2, true}, {Ge, 1, 2, false},
		{Eq, 2, 2, true}, {Eq, 2.1, 2, false},
		{Ne, 2.1, 2, true}, {Ne, 2, 2, false},
		// Within the relative tolerance: equal.
		{Eq, 1 - 1e-15, 1, true},
		{Eq, 0.999 * (1 + 5e-10), 0.999, true},
		{Eq, 0.999 * (1 + 5e-9), 0.999, false},
		{Le, 1.05 + 1e-12, 1.05, true},
		{Lt, 1e-3 * (1 - 1e-12), 1e-3, false},
		{Gt, 1e-3 * (1 + 1e-12), 1e-3, false},
		{Ge, 1e-3 * (1 - 1e-12), 1e-3, true},
		{Ne, 1 - 1e-15, 1, false},
		// Against 0 only 0 is equal.
		{Eq, 1e-300, 0, false}, {Eq, 0, 0, true}, {Eq, math.Copysign(0, -1), 0, true},
		{Lt, -1e-3, 0, true},
		// Infinities compare; an invalid op never holds.
		{Gt, math.Inf(1), 1, true}, {Lt, math.Inf(1), 1, false}, {Eq, math.Inf(1), 1e308, false}, {Eq, math.Inf(-1), math.Inf(-1), true},
		{Op(0), 1, 1, false}, {Op(99), 1, 1, false},
	}
	for _, c := range cases {
		if got := c.op.Holds(c.x, c.lim); got != c.want {
			t.Errorf("%v %s %v = %v, want %v", c.x, c.op, c.lim, got, c.want)
		}
	}
}

// fakeSource answers from a table keyed by the expression's canonical form
// and records every call.
type fakeSource struct {
	answers map[string]answer
	calls   []Expr
}

type answer struct {
	x   float64
	ok  bool
	err error
}

func (f *fakeSource) Value(e Expr) (float64, bool, error) {
	f.calls = append(f.calls, e)
	a, found := f.answers[e.String()]
	if !found {
		return 0, false, nil
	}
	return a.x, a.ok, a.err
}

func mustParse(t testing.TB, text string) Expr {
	t.Helper()
	e, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEvaluate(t *testing.T) {
	cases := []struct {
		text     string
		ans      answer
		result   Result
		observed float64
		detail   string
		line     string
	}{
		{"overhead.p99 < 1ms", answer{x: 412e-6, ok: true}, Pass, 412e-6, "", "PASS overhead.p99 < 1ms: 412us"},
		{"overhead.p99 < 1ms", answer{x: 1.3e-3, ok: true}, Fail, 1.3e-3, "", "FAIL overhead.p99 < 1ms: 1.3ms"},
		{"overhead.p50 > -1ms", answer{x: -12e-6, ok: true}, Pass, -12e-6, "", "PASS overhead.p50 > -1ms: -12us"},
		{"latency.p99{route:users, phase:redis-down} < 10ms", answer{x: 10e-3, ok: true}, Fail, 10e-3, "", "FAIL latency.p99{route:users, phase:redis-down} < 10ms: 10ms"},
		{"latency.p99 <= 10ms", answer{x: 10e-3, ok: true}, Pass, 10e-3, "", "PASS latency.p99 <= 10ms: 10ms"},
		{"availability{route:users} >= 99.9%", answer{x: 0.9995, ok: true}, Pass, 0.9995, "", "PASS availability{route:users} >= 99.9%: 99.95%"},
		{"availability{route:users} >= 99.9%", answer{x: 0.9989, ok: true}, Fail, 0.9989, "", "FAIL availability{route:users} >= 99.9%: 99.89%"},
		{"status.503.ratio{route:payments, phase:redis-down} == 100%", answer{x: 1, ok: true}, Pass, 1, "", "PASS status.503.ratio{route:payments, phase:redis-down} == 100%: 100%"},
		{"status.503.ratio{route:payments, phase:redis-down} == 100%", answer{x: 1 - 1e-16, ok: true}, Pass, 1 - 1e-16, "", ""},
		{"status.503.ratio{route:payments, phase:redis-down} == 100%", answer{x: 0.9996, ok: true}, Fail, 0.9996, "", "FAIL status.503.ratio{route:payments, phase:redis-down} == 100%: 99.96%"},
		{"admitted.ratio{tier:standard} <= 1.05", answer{x: 1.0312, ok: true}, Pass, 1.0312, "", "PASS admitted.ratio{tier:standard} <= 1.05: 1.03"},
		{"admitted.ratio{tier:standard} <= 1.05", answer{x: 1.05 + 1e-12, ok: true}, Pass, 1.05 + 1e-12, "", "PASS admitted.ratio{tier:standard} <= 1.05: 1.05"},
		{"rps.ratio{target:gatelab-fasthttp-*, vs:nginx} >= 0.8", answer{x: 0.83, ok: true}, Pass, 0.83, "", "PASS rps.ratio{target:gatelab-fasthttp-*, vs:nginx} >= 0.8: 0.83"},
		{"rps.ratio{target:gatelab-fasthttp-*, vs:nginx} >= 0.8", answer{x: 0.7999, ok: true}, Fail, 0.7999, "", "FAIL rps.ratio{target:gatelab-fasthttp-*, vs:nginx} >= 0.8: 0.7999"},
		{"latency_delta.p99{target:gatelab-*, vs:nginx} < 1ms", answer{x: 0.4e-3, ok: true}, Pass, 0.4e-3, "", "PASS latency_delta.p99{target:gatelab-*, vs:nginx} < 1ms: 400us"},
		{"latency_delta.p99{target:gatelab-*, vs:nginx} < 1ms", answer{x: 1e-3, ok: true}, Fail, 1e-3, "", "FAIL latency_delta.p99{target:gatelab-*, vs:nginx} < 1ms: 1ms"},
		{"latency_delta.p99{target:gatelab-*, vs:nginx} < 1ms", answer{x: -2.5e-3, ok: true}, Pass, -2.5e-3, "", "PASS latency_delta.p99{target:gatelab-*, vs:nginx} < 1ms: -2.5ms"},
		{"rss.peak < 200MB", answer{x: 123e6, ok: true}, Pass, 123e6, "", "PASS rss.peak < 200MB: 123MB"},
		{"cpu.per_1k < 50ms", answer{x: 0.0623, ok: true}, Fail, 0.0623, "", "FAIL cpu.per_1k < 50ms: 62.3ms"},
		{"propagation.p99 < 100ms", answer{x: 0.0423, ok: true}, Pass, 0.0423, "", "PASS propagation.p99 < 100ms: 42.3ms"},
		{"requests != 0", answer{x: 0, ok: true}, Fail, 0, "", "FAIL requests != 0: 0"},
		{"errors.ratio == 0", answer{x: 0, ok: true}, Pass, 0, "", "PASS errors.ratio == 0: 0"},
		{"status.5xx.count > 3", answer{x: 12345, ok: true}, Pass, 12345, "", "PASS status.5xx.count > 3: 12345"},
		{"latency.p99 > 1ms", answer{x: 2e-3, ok: true}, Pass, 2e-3, "", "PASS latency.p99 > 1ms: 2ms"},
		{"latency.p99 >= 1ms", answer{x: 0.5e-3, ok: true}, Fail, 0.5e-3, "", "FAIL latency.p99 >= 1ms: 500us"},

		// No data, errors, non-finite values.
		{"latency.p99{route:ghost} < 1ms", answer{ok: false}, NoData, 0, "no data", "NODATA latency.p99{route:ghost} < 1ms: no data"},
		{"latency.p99{phase:redis-down} < 1ms", answer{err: Missing("no samples in phase redis-down")}, NoData, 0, "no data (no samples in phase redis-down)", "NODATA latency.p99{phase:redis-down} < 1ms: no data (no samples in phase redis-down)"},
		{"latency.p50 < 1ms", answer{err: fmt.Errorf("reading histogram: %w", Missing("target down"))}, NoData, 0, "no data (target down)", ""},
		{"latency.p90 < 1ms", answer{x: 5, ok: true, err: errors.New("doing x: boom")}, Fail, 0, "error: doing x: boom", "FAIL latency.p90 < 1ms: error: doing x: boom"},
		{"overhead_ratio.p99 < 2", answer{x: math.Inf(1), ok: true}, Fail, 0, "error: the observed value is +Inf", "FAIL overhead_ratio.p99 < 2: error: the observed value is +Inf"},
		{"overhead_ratio.p99 > 2", answer{x: math.NaN(), ok: true}, Fail, 0, "error: the observed value is NaN", ""},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			e := mustParse(t, c.text)
			e.Line = 7
			src := &fakeSource{answers: map[string]answer{e.String(): c.ans}}
			v := Evaluate(e, src)
			if len(src.calls) != 1 || !reflect.DeepEqual(src.calls[0], e) {
				t.Errorf("Source called %d times with %v, want once with the expression", len(src.calls), src.calls)
			}
			if v.Result != c.result || v.Observed != c.observed || v.Detail != c.detail {
				t.Errorf("verdict = %v %v %q, want %v %v %q", v.Result, v.Observed, v.Detail, c.result, c.observed, c.detail)
			}
			if !reflect.DeepEqual(v.Expr, e) {
				t.Errorf("verdict carries %v, want the expression", v.Expr)
			}
			if c.line != "" && v.String() != c.line {
				t.Errorf("String() = %q, want %q", v.String(), c.line)
			}
			if (v.Detail == "") != (v.ObservedText() != "") {
				t.Errorf("ObservedText %q with Detail %q: exactly one must be set", v.ObservedText(), v.Detail)
			}
			if _, err := json.Marshal(v); err != nil {
				t.Errorf("verdict does not encode: %v", err)
			}
		})
	}
}

func TestEvaluateEdges(t *testing.T) {
	e := mustParse(t, "overhead.p99 < 1ms")
	if v := Evaluate(e, nil); v.Result != Fail || !strings.Contains(v.Detail, "no source") {
		t.Errorf("nil source: %v", v)
	}
	called := 0
	src := SourceFunc(func(Expr) (float64, bool, error) { called++; return 0, true, nil })
	if v := Evaluate(Expr{}, src); v.Result != Fail || !strings.Contains(v.Detail, "invalid operator") || called != 0 {
		t.Errorf("zero Expr: %v (source called %d times)", v, called)
	}
	if v := Evaluate(e, src); v.Result != Pass || called != 1 {
		t.Errorf("SourceFunc: %v, called %d", v, called)
	}

	s := Skipped(e, "run INVALID: achieved 80% of the offered rate")
	if s.Result != Skip || s.String() != "SKIP overhead.p99 < 1ms: run INVALID: achieved 80% of the offered rate" || s.ObservedText() != "" {
		t.Errorf("Skipped: %q %q", s, s.ObservedText())
	}
	if s := Skipped(e, ""); s.String() != "SKIP overhead.p99 < 1ms: skipped" {
		t.Errorf("Skipped without reason: %q", s)
	}
	var zero Verdict
	if zero.Result == Pass || !strings.HasPrefix(zero.String(), "UNKNOWN") || zero.ObservedText() != "" {
		t.Errorf("zero Verdict reads %q", zero)
	}
	// An Expr built in code, without a unit, still prints readably.
	built := Expr{Metric: "latency.p99", Op: Le, Value: 0.005, Kind: Duration}
	if got := built.String(); got != "latency.p99 <= 5ms" {
		t.Errorf("built Expr prints %q", got)
	}
	if got := (Expr{Metric: "rss.peak", Op: Lt, Value: 2.5e6, Kind: Bytes}).String(); got != "rss.peak < 2.5MB" {
		t.Errorf("built Expr prints %q", got)
	}
	if got := (Verdict{Expr: e}).Expected(); got != "< 1ms" {
		t.Errorf("Expected() = %q", got)
	}
	if got := (Verdict{Expr: mustParse(t, "availability >= 99.9%")}).Expected(); got != ">= 99.9%" {
		t.Errorf("Expected() = %q", got)
	}
}

func TestObservedText(t *testing.T) {
	cases := []struct {
		text string
		x    float64
		want string
	}{
		// Durations take a readable unit whatever the expression wrote.
		{"overhead.p99 < 1ms", 412e-6, "412us"},
		{"overhead.p99 < 1ms", 1.05e-3, "1.05ms"},
		{"overhead.p99 < 1ms", 1.0512e-3, "1.05ms"},
		{"latency.p99 < 1s", 412e-6, "412us"},
		{"latency.p99 < 1us", 5e-7, "500ns"},
		{"latency.p99 < 1us", 5e-10, "0.5ns"},
		{"latency.p99 < 500µs", 412e-6, "412µs"},
		{"latency.p99 < 500μs", 412e-6, "412μs"},
		{"latency.p99 < 10s", 2.5, "2.5s"},
		{"latency.p99 < 10s", 90, "1.5m"},
		{"latency.p99 < 10s", 3600, "60m"},
		{"latency.p99 < 10s", 59.99, "1m"},
		{"latency.p99 < 10ms", 999.96e-6, "1ms"},
		{"latency.p99 < 1ms", 0, "0ms"},
		{"overhead.p99 < 0", 0, "0s"},
		{"overhead.p99 < 1ms", -12e-6, "-12us"},
		// More digits when three would print the limit for another value.
		{"latency.p99 < 1ms", 999.6e-6, "999.6us"},
		{"latency.p99 < 1ms", 1.0004e-3, "1.0004ms"},
		{"latency.p99 < 1ms", 1e-3 * (1 + 1e-12), "1ms"}, // equal within Tolerance
		// Ratios: % as written, never 100% below 1.
		{"availability >= 99.9%", 0.9995, "99.95%"},
		{"availability >= 99.9%", 0.99891, "99.89%"},
		{"availability >= 99%", 0.99999, "99.999%"},
		{"availability >= 99%", 1, "100%"},
		{"availability >= 99%", 0.5, "50%"},
		{"availability >= 99%", 0.001234, "0.123%"},
		{"availability >= 0.999", 0.9995, "0.9995"},
		{"availability >= 0.9", 0.99999, "0.99999"},
		{"availability >= 0.9", 0.83, "0.83"},
		// Numbers.
		{"rps.ratio{vs:nginx} >= 0.8", 0.83, "0.83"},
		{"rps.ratio{vs:nginx} >= 80%", 0.8312, "83.1%"},
		{"admitted.ratio <= 1.05", 1.0312, "1.03"},
		{"admitted.ratio <= 1.05", 1.0512, "1.051"},
		{"requests > 10", 12345, "12345"},
		{"requests > 10", 1234.5678, "1235"},
		{"rps > 10", 0.0012345, "0.00123"},
		// Bytes scale within the system the expression used.
		{"rss.peak < 200MB", 123e6, "123MB"},
		{"rss.peak < 200MB", 123456789, "123MB"},
		{"rss.peak < 200MB", 1.5e9, "1.5GB"},
		{"rss.peak < 200MB", 950e3, "950KB"},
		{"rss.peak < 200MB", 12, "12B"},
		{"rss.peak < 200MB", 4000e9, "4000GB"},
		{"rss.peak < 200MiB", 123 << 20, "123MiB"},
		{"rss.peak < 200MiB", 123e6, "117MiB"},
		{"rss.peak < 200MiB", 1023.9 * (1 << 10), "1MiB"},
	}
	for _, c := range cases {
		e := mustParse(t, c.text)
		v := Evaluate(e, SourceFunc(func(Expr) (float64, bool, error) { return c.x, true, nil }))
		if got := v.ObservedText(); got != c.want {
			t.Errorf("%s observed %v: %q, want %q", c.text, c.x, got, c.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	cases := []struct {
		k    Kind
		unit string
		x    float64
		want string
	}{
		{Duration, "", 412e-6, "412us"},
		{Duration, "", 0, "0s"},
		{Duration, "ms", 0, "0ms"},
		{Duration, "µs", 2e-6, "2µs"},
		{Ratio, "%", 0.5, "50%"},
		{Ratio, "", 0.5, "0.5"},
		{Number, "", 2, "2"},
		{Number, "%", 1.05, "105%"},
		{Bytes, "", 2e9, "2GB"},
		{Bytes, "GiB", 1 << 30, "1GiB"},
		{Number, "", math.Inf(1), "+Inf"},
		{Duration, "", math.NaN(), "NaN"},
		{Kind(0), "", 1.23456, "1.23"},
	}
	for _, c := range cases {
		if got := FormatValue(c.k, c.unit, c.x); got != c.want {
			t.Errorf("FormatValue(%v, %q, %v) = %q, want %q", c.k, c.unit, c.x, got, c.want)
		}
	}
}

func TestLookup(t *testing.T) {
	cases := []struct {
		metric, family, param string
		ok                    bool
	}{
		{"latency.p99", "latency.<stat>", "p99", true},
		{"latency.p99.99", "latency.<stat>", "p99.99", true},
		{"limiter.decision.max", "limiter.decision.<stat>", "max", true},
		{"overhead_ratio.mean", "overhead_ratio.<stat>", "mean", true},
		{"status.503.ratio", "status.<status>.ratio", "503", true},
		{"status.4xx.count", "status.<status>.count", "4xx", true},
		{"rps", "rps", "", true},
		{"rps.ratio", "rps.ratio", "", true},
		{"latency_delta.p99.9", "latency_delta.<stat>", "p99.9", true},
		{"latency_delta", "", "", false},
		{"latency", "", "", false},
		{"latency.p99.", "", "", false},
		{"status..ratio", "", "", false},
		{"status.6xx.ratio", "", "", false},
		{"", "", "", false},
	}
	for _, c := range cases {
		f, p, ok := Lookup(c.metric)
		if f.Name != c.family || p != c.param || ok != c.ok {
			t.Errorf("Lookup(%q) = %q %q %v, want %q %q %v", c.metric, f.Name, p, ok, c.family, c.param, c.ok)
		}
	}
	// The catalogue is not writable through what the package returns.
	fs := Families()
	fs[0].Tags[0] = "mutated"
	f, _, _ := Lookup("latency.p99")
	f.Tags[1] = "mutated"
	if Families()[0].Tags[0] == "mutated" || slices.Contains(Families()[0].Tags, "mutated") {
		t.Error("Families/Lookup expose the catalogue's slices")
	}
}

func TestPercentile(t *testing.T) {
	cases := []struct {
		stat string
		p    float64
		ok   bool
	}{
		{"p50", 50, true}, {"p90", 90, true}, {"p95", 95, true}, {"p99", 99, true},
		{"p99.9", 99.9, true}, {"p99.99", 99.99, true}, {"max", 100, true},
		{"mean", 0, false}, {"p98", 0, false}, {"", 0, false},
	}
	for _, c := range cases {
		if p, ok := Percentile(c.stat); p != c.p || ok != c.ok {
			t.Errorf("Percentile(%q) = %v %v, want %v %v", c.stat, p, ok, c.p, c.ok)
		}
	}
	for _, s := range Stats() {
		if _, ok := Percentile(s); !ok && s != "mean" {
			t.Errorf("stat %q has no percentile", s)
		}
	}
}

func TestStatusMatches(t *testing.T) {
	cases := []struct {
		status string
		code   int
		want   bool
	}{
		{"503", 503, true}, {"503", 502, false}, {"5xx", 500, true}, {"5xx", 599, true},
		{"5xx", 499, false}, {"4xx", 429, true}, {"1xx", 100, true}, {"2xx", 0, false},
		{"5xx", 600, false}, {"200", 0, false},
	}
	for _, c := range cases {
		if got := StatusMatches(c.status, c.code); got != c.want {
			t.Errorf("StatusMatches(%q, %d) = %v, want %v", c.status, c.code, got, c.want)
		}
	}
}

func TestTextEncoding(t *testing.T) {
	e := mustParse(t, "availability{route:users} >= 99.9%")
	e.Line = 3
	v := Evaluate(e, SourceFunc(func(Expr) (float64, bool, error) { return 0.9995, true, nil }))
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"Result":"PASS"`, `"Op":"\u003e="`, `"Kind":"ratio"`, `"Line":3`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("%s does not contain %s", b, w)
		}
	}
	var back Verdict
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, v) {
		t.Errorf("round trip:\n got %#v\nwant %#v", back, v)
	}
	for _, r := range []Result{Pass, Fail, NoData, Skip} {
		var got Result
		b, _ := r.MarshalText()
		if err := got.UnmarshalText(b); err != nil || got != r {
			t.Errorf("Result %v: %q -> %v %v", r, b, got, err)
		}
	}
	for o := Lt; o <= Ne; o++ {
		var got Op
		b, _ := o.MarshalText()
		if err := got.UnmarshalText(b); err != nil || got != o {
			t.Errorf("Op %v: %q -> %v %v", o, b, got, err)
		}
	}
	for k := Duration; k <= Bytes; k++ {
		var got Kind
		b, _ := k.MarshalText()
		if err := got.UnmarshalText(b); err != nil || got != k {
			t.Errorf("Kind %v: %q -> %v %v", k, b, got, err)
		}
	}
	var r Result
	if err := r.UnmarshalText([]byte("MAYBE")); err == nil || !strings.Contains(err.Error(), "PASS FAIL NODATA SKIP") {
		t.Errorf("unknown result: %v", err)
	}
	if _, err := Result(0).MarshalText(); err == nil {
		t.Error("zero Result encoded")
	}
	if _, err := json.Marshal(Verdict{}); err == nil {
		t.Error("a zero Verdict encoded; its zero Result and Op must refuse to")
	}
	if Op(0).String() != "op(0)" || Kind(9).String() != "kind(9)" || Result(9).String() != "UNKNOWN" {
		t.Error("invalid enum values print wrong")
	}
}

func ExampleEvaluate() {
	e, err := Parse("overhead.p99 < 1ms")
	if err != nil {
		panic(err)
	}
	src := SourceFunc(func(Expr) (float64, bool, error) { return 412e-6, true, nil })
	fmt.Println(Evaluate(e, src))
	_, err = Parse("latency.p99{rout:users} < 10%")
	fmt.Println(err)
	// Output:
	// PASS overhead.p99 < 1ms: 412us
	// budget "latency.p99{rout:users} < 10%": col 13: tag "rout" not allowed on latency.p99 (did you mean route? allowed: route, phase, target, server, router, limiter, tier)
	// budget "latency.p99{rout:users} < 10%": col 29: unit "%" does not fit duration metric latency.p99 (units: ns us µs ms s m)
}
