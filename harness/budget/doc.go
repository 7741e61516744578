// Package budget parses, checks and evaluates the lab's budget expressions,
// k6-style comparisons on named metrics with tag filters:
//
//	overhead.p99 < 1ms
//	latency.p99{route:users, phase:redis-down} < 10ms
//	availability{route:users} >= 99.9%
//	status.503.ratio{route:payments, phase:redis-down} == 100%
//	admitted.ratio{tier:standard} <= 1.05
//	rps.ratio{target:gatelab-fasthttp-*, vs:nginx} >= 0.8
//	latency_delta.p99{target:gatelab-*, vs:nginx} < 1ms
//	rss.peak < 200MB
//
// # Grammar
//
//	expr   = metric [ "{" tag { "," tag } "}" ] op number [ unit ]
//	tag    = key ":" value
//	metric = [A-Za-z0-9_.]+
//	key    = [A-Za-z0-9_]+
//	value  = [A-Za-z0-9_.:/-]+ [ "*" ]        a trailing * is a prefix glob
//	op     = "<" | "<=" | ">" | ">=" | "==" | "!="
//	number = [ "+" | "-" ] ( digits [ "." digits ] | "." digits )
//	unit   = ns us µs ms s m                  Duration (seconds)
//	       | %                                Ratio (fraction), or a Percent Number
//	       | B KB MB GB KiB MiB GiB           Bytes (KB = 1000 B, KiB = 1024 B)
//
// Space may stand between any two tokens. Parse then checks the expression
// against the catalogue (Families): the metric is known ("<stat>" is one of
// p50 p90 p95 p99 p99.9 p99.99 max mean; "<status>" a code or 1xx..5xx), each
// tag is allowed on it and given once, required tags are there (rps.ratio
// and latency_delta need vs, naming one target), the unit fits the
// metric's kind, and the value is finite and in range: a Ratio within 0..1
// (a bare number is a fraction, 0.999; 99.9% is the same), a Duration or
// Bytes value other than 0 has a unit, and only overhead and latency_delta
// may be negative. Each problem is a
// *SyntaxError naming the column and the offending token; ParseAll returns
// every problem of every line, each starting "line N: ".
//
// # Evaluation
//
// Evaluate asks a Source once for the observed value of the expression's
// metric over its filter (the Source decides what the tags select: phase
// window, route, target glob, vs target...) and compares it with the Op.
// Every comparison treats values within a relative Tolerance of 1e-9 as
// equal, so == works on computed ratios and < fails on an exact tie. No data
// gives NoData; an error, NaN or infinity gives Fail with the reason in
// Detail (never a pass). Skip is only ever set by callers, with Skipped.
// ObservedText and String format the verdict for the console and JUnit:
//
//	PASS overhead.p99 < 1ms: 412us
//	FAIL latency.p99{route:users} < 1ms: 1.3ms
//	NODATA availability{route:users} >= 99.9%: no data (no samples in phase)
//	SKIP rps.ratio{target:gatelab-fasthttp-*, vs:nginx} >= 0.8: run invalid
//
// # Contract
//
// The package is pure: no I/O, no goroutines, no global state but the
// read-only catalogue, so every function is safe for concurrent use. An Expr
// shares its Tags slice when copied: treat it as immutable. Parsing and
// formatting allocate; they run when a scenario is loaded and when a run is
// judged, never per request. Evaluate calls Source.Value exactly once and
// never panics on a nil Source or a zero Expr. Verdict.Observed is always
// finite, so results encode with encoding/json; Kind, Op and Result encode as
// text ("duration", "<=", "PASS").
package budget
