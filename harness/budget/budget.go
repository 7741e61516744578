package budget

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is what a metric measures, and so how its values are written and
// stored.
type Kind uint8

const (
	Duration Kind = iota + 1 // stored in seconds; written with ns us µs ms s m
	Ratio                    // stored as a fraction 0..1; written as 99.9% or 0.999
	Number                   // a plain number (counts, req/s, quotients); no unit
	Bytes                    // stored in bytes; written with B KB MB GB KiB MiB GiB
)

var kindNames = [...]string{Duration: "duration", Ratio: "ratio", Number: "number", Bytes: "bytes"}

func (k Kind) String() string { return enumString(kindNames[:], int(k), "kind") }

// MarshalText writes the kind's name ("duration").
func (k Kind) MarshalText() ([]byte, error) { return enumMarshal(kindNames[:], int(k), "kind") }

// UnmarshalText reads a name written by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	i, err := enumUnmarshal(kindNames[:], b, "kind")
	*k = Kind(i)
	return err
}

// Op is a comparison operator.
type Op uint8

const (
	Lt Op = iota + 1 // <
	Le               // <=
	Gt               // >
	Ge               // >=
	Eq               // ==
	Ne               // !=
)

var opNames = [...]string{Lt: "<", Le: "<=", Gt: ">", Ge: ">=", Eq: "==", Ne: "!="}

func (o Op) String() string { return enumString(opNames[:], int(o), "op") }

// MarshalText writes the operator as written in a budget ("<=").
func (o Op) MarshalText() ([]byte, error) { return enumMarshal(opNames[:], int(o), "op") }

// UnmarshalText reads an operator written by MarshalText.
func (o *Op) UnmarshalText(b []byte) error {
	i, err := enumUnmarshal(opNames[:], b, "op")
	*o = Op(i)
	return err
}

// Tolerance is the relative tolerance of every comparison: observed and
// limit are equal when |observed-limit| <= Tolerance*max(|observed|,|limit|).
// So "== 100%" holds for a ratio computed as 0.9999999999999999, "< 1ms"
// fails for an observed value equal to 1ms within it, and "<= 1.05" holds
// for 1.0500000000000003. Against a limit of 0 only an exact 0 is equal.
const Tolerance = 1e-9

// Holds reports whether "observed op limit" is true, with equality within
// Tolerance. An invalid Op never holds.
func (o Op) Holds(observed, limit float64) bool {
	eq := approxEqual(observed, limit)
	switch o {
	case Lt:
		return observed < limit && !eq
	case Le:
		return observed < limit || eq
	case Gt:
		return observed > limit && !eq
	case Ge:
		return observed > limit || eq
	case Eq:
		return eq
	case Ne:
		return !eq
	}
	return false
}

func approxEqual(a, b float64) bool {
	if a == b {
		return true
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return false
	}
	return math.Abs(a-b) <= Tolerance*math.Max(math.Abs(a), math.Abs(b))
}

// Result is a budget's verdict. The zero Result is not a verdict (it prints
// as UNKNOWN), so a zero Verdict never reads as a pass.
type Result uint8

const (
	Pass   Result = iota + 1 // evaluated and held
	Fail                     // evaluated and did not hold, or could not be evaluated (Detail says why)
	NoData                   // the source had no data for the metric and filter
	Skip                     // not evaluated: set by callers only (Skipped), e.g. for an invalid run
)

var resultNames = [...]string{Pass: "PASS", Fail: "FAIL", NoData: "NODATA", Skip: "SKIP"}

func (r Result) String() string {
	if int(r) < len(resultNames) && resultNames[r] != "" {
		return resultNames[r]
	}
	return "UNKNOWN"
}

// MarshalText writes PASS, FAIL, NODATA or SKIP.
func (r Result) MarshalText() ([]byte, error) { return enumMarshal(resultNames[:], int(r), "result") }

// UnmarshalText reads a name written by MarshalText.
func (r *Result) UnmarshalText(b []byte) error {
	i, err := enumUnmarshal(resultNames[:], b, "result")
	*r = Result(i)
	return err
}

func enumString(names []string, i int, what string) string {
	if i > 0 && i < len(names) {
		return names[i]
	}
	return what + "(" + strconv.Itoa(i) + ")"
}

func enumMarshal(names []string, i int, what string) ([]byte, error) {
	if i > 0 && i < len(names) {
		return []byte(names[i]), nil
	}
	return nil, fmt.Errorf("encoding budget %s: invalid value %d", what, i)
}

func enumUnmarshal(names []string, b []byte, what string) (int, error) {
	if i := slices.Index(names, string(b)); i > 0 {
		return i, nil
	}
	return 0, fmt.Errorf("decoding budget %s: unknown %q (known: %s)", what, b, strings.Join(names[1:], " "))
}

// Tag is one key:value filter of an expression. A Value ending in '*' is a
// prefix glob (see TagMatches).
type Tag struct {
	Key   string
	Value string
}

func (t Tag) String() string { return t.Key + ":" + t.Value }

// Expr is one parsed budget expression. Parse fills every field but Line.
type Expr struct {
	Text   string  // as written (surrounding space trimmed)
	Line   int     // line in the scenario file (set by the caller, 0 if none)
	Metric string  // e.g. "latency.p99", "status.503.ratio"
	Tags   []Tag   // in written order; Value may end in '*' (prefix glob)
	Op     Op      // < <= > >= == !=
	Value  float64 // in the metric's base unit (seconds, fraction, count, bytes)
	Kind   Kind
	Unit   string // unit as written ("ms", "%", ""), used to format observed values
}

// Tag returns the value of the tag with this key.
func (e Expr) Tag(key string) (string, bool) {
	for _, t := range e.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// Matches reports whether value passes the expression's filter on key: true
// when the expression has no tag key, else TagMatches(pattern, value).
func (e Expr) Matches(key, value string) bool {
	p, ok := e.Tag(key)
	return !ok || TagMatches(p, value)
}

// Family returns the catalogue entry of e.Metric and the value of its
// placeholder ("p99", "503"); ok is false for an Expr that Parse did not make.
func (e Expr) Family() (f Family, param string, ok bool) { return Lookup(e.Metric) }

// Filter returns the tags as written in a budget, "{route:users, phase:x}",
// or "" when there are none.
func (e Expr) Filter() string {
	if len(e.Tags) == 0 {
		return ""
	}
	parts := make([]string, len(e.Tags))
	for i, t := range e.Tags {
		parts[i] = t.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Limit returns the expression's value in its unit, "1ms", "99.9%", "0.8".
func (e Expr) Limit() string {
	if u, ok := findUnit(e.Unit); ok {
		return canonicalNumber(e.Value*u.div/u.mul) + e.Unit
	}
	if (e.Kind == Duration || e.Kind == Bytes) && e.Value != 0 {
		return formatSig(e.Kind, "", e.Value, 12)
	}
	return canonicalNumber(e.Value)
}

// String returns the expression in canonical form (one space around the
// operator, ", " between tags), which Parse reads back to an equal Expr.
func (e Expr) String() string {
	return e.Metric + e.Filter() + " " + e.Op.String() + " " + e.Limit()
}

// canonicalNumber writes x rounded to 12 significant digits, without an
// exponent (the grammar has none), so that float noise such as
// 99.90000000000001 does not show.
func canonicalNumber(x float64) string {
	if r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 12, 64), 64); err == nil {
		x = r
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// TagMatches reports whether a tag value matches a pattern from an
// expression: equal, or, when the pattern ends in '*', starting with the
// pattern's text before the '*' ("gatelab-*" matches "gatelab-fasthttp").
func TagMatches(pattern, value string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(value, prefix)
	}
	return pattern == value
}

// Line is one expression of a scenario file and the line it is on.
type Line struct {
	Text string
	Line int
}

// SyntaxError is one problem with one expression. Col counts runes of the
// trimmed Text, from 1.
type SyntaxError struct {
	Line int    // as given to ParseAll; 0 from Parse
	Col  int    // where the offending token starts
	Text string // the expression
	Msg  string // what is wrong
}

func (e *SyntaxError) Error() string {
	s := fmt.Sprintf("budget %q: col %d: %s", e.Text, e.Col, e.Msg)
	if e.Line > 0 {
		s = "line " + strconv.Itoa(e.Line) + ": " + s
	}
	return s
}

// Parse reads one budget expression:
//
//	expr   = metric [ "{" tag { "," tag } "}" ] op number [ unit ]
//	tag    = key ":" value
//	metric = [A-Za-z0-9_.]+               (checked against the catalogue)
//	key    = [A-Za-z0-9_]+                 (checked against the metric's tags)
//	value  = [A-Za-z0-9_.:/-]+ [ "*" ]
//	op     = "<" | "<=" | ">" | ">=" | "==" | "!="
//	number = [ "+" | "-" ] ( digits [ "." digits ] | "." digits )
//	unit   = ns us µs ms s m | % | B KB MB GB KiB MiB GiB
//
// Space is allowed between any two tokens. Besides the syntax it checks the
// catalogue: the metric is known, its tags are allowed and not repeated,
// required tags are there, the unit fits the metric's kind (a duration or
// byte value other than 0 needs one), and the value is finite and in range
// (a ratio within 0..1, only overhead and latency_delta negative). A bare
// number for a Ratio metric is a fraction. The errors are *SyntaxError values (joined when an
// expression has several problems).
func Parse(text string) (Expr, error) {
	e, errs := parse(text)
	switch len(errs) {
	case 0:
		return e, nil
	case 1:
		return Expr{}, errs[0]
	}
	joined := make([]error, len(errs))
	for i, err := range errs {
		joined[i] = err
	}
	return Expr{}, errors.Join(joined...)
}

// ParseAll parses every line and returns the expressions that parsed, with
// Line set, and every problem of every line that did not, each a
// *SyntaxError whose message starts "line N: ".
func ParseAll(lines []Line) ([]Expr, []error) {
	var exprs []Expr
	var errs []error
	for _, l := range lines {
		e, list := parse(l.Text)
		if len(list) > 0 {
			for _, se := range list {
				se.Line = l.Line
				errs = append(errs, se)
			}
			continue
		}
		e.Line = l.Line
		exprs = append(exprs, e)
	}
	return exprs, errs
}

// parser holds the positions of what it read, for the catalogue checks'
// messages.
type parser struct {
	src string
	pos int

	metricOff  int
	keyOffs    []int
	valOffs    []int
	valueOff   int
	unitOff    int
	number     float64
	numberText string
	unit       string
}

func parse(text string) (Expr, []*SyntaxError) {
	p := &parser{src: strings.TrimSpace(text)}
	e := Expr{Text: p.src}
	if p.src == "" {
		return Expr{}, []*SyntaxError{p.errAt(0, "empty budget expression")}
	}
	if err := p.syntax(&e); err != nil {
		return Expr{}, []*SyntaxError{err}
	}
	if errs := p.check(&e); len(errs) > 0 {
		return Expr{}, errs
	}
	return e, nil
}

func (p *parser) errAt(off int, format string, args ...any) *SyntaxError {
	return &SyntaxError{
		Col:  utf8.RuneCountInString(p.src[:off]) + 1,
		Text: p.src,
		Msg:  fmt.Sprintf(format, args...),
	}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek(b byte) bool { return p.pos < len(p.src) && p.src[p.pos] == b }

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		r, w := utf8.DecodeRuneInString(p.src[p.pos:])
		if !unicode.IsSpace(r) {
			return
		}
		p.pos += w
	}
}

// take advances over bytes that satisfy ok and returns them.
func (p *parser) take(ok func(byte) bool) string {
	start := p.pos
	for p.pos < len(p.src) && ok(p.src[p.pos]) {
		p.pos++
	}
	return p.src[start:p.pos]
}

// token describes what stands at off, for messages.
func (p *parser) token(off int) string {
	if off >= len(p.src) {
		return "end of text"
	}
	end := off
	for n := 0; end < len(p.src) && n < 24; n++ {
		r, w := utf8.DecodeRuneInString(p.src[end:])
		if unicode.IsSpace(r) || (end > off && strings.ContainsRune("{},", r)) {
			break
		}
		end += w
	}
	return strconv.Quote(p.src[off:end])
}

func isMetricByte(b byte) bool { return isAlnum(b) || b == '_' || b == '.' }
func isKeyByte(b byte) bool    { return isAlnum(b) || b == '_' }
func isValueByte(b byte) bool  { return isAlnum(b) || strings.IndexByte("_.:/-", b) >= 0 }
func isOpByte(b byte) bool     { return b == '<' || b == '>' || b == '=' || b == '!' }
func isDigit(b byte) bool      { return b >= '0' && b <= '9' }
func isAlnum(b byte) bool {
	return isDigit(b) || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}

// syntax reads the tokens into e, stopping at the first syntax error.
func (p *parser) syntax(e *Expr) *SyntaxError {
	p.metricOff = p.pos
	e.Metric = p.take(isMetricByte)
	if e.Metric == "" {
		return p.errAt(p.pos, "expected a metric name, got %s", p.token(p.pos))
	}
	p.skipSpace()
	if p.peek('{') {
		if err := p.tags(e); err != nil {
			return err
		}
		p.skipSpace()
	}

	opOff := p.pos
	opText := p.take(isOpByte)
	if opText == "" {
		if p.eof() {
			return p.errAt(p.pos, "missing operator and value after %s (< <= > >= == !=)", e.Metric)
		}
		return p.errAt(p.pos, "expected an operator (< <= > >= == !=) after %s, got %s", e.Metric, p.token(p.pos))
	}
	i := slices.Index(opNames[:], opText)
	if i <= 0 {
		hint := "< <= > >= == !="
		switch opText {
		case "=":
			hint = "use == to compare"
		case "=<":
			hint = "use <="
		case "=>":
			hint = "use >="
		case "<>":
			hint = "use !="
		}
		return p.errAt(opOff, "unknown operator %q (%s)", opText, hint)
	}
	e.Op = Op(i)
	p.skipSpace()

	if err := p.value(opText); err != nil {
		return err
	}
	p.skipSpace()
	if !p.eof() {
		return p.errAt(p.pos, "unexpected %s after the value", p.token(p.pos))
	}
	return nil
}

// tags reads "{key:value, ...}"; p.pos is at the '{'.
func (p *parser) tags(e *Expr) *SyntaxError {
	open := p.pos
	p.pos++
	for {
		p.skipSpace()
		switch {
		case p.eof():
			return p.errAt(p.pos, "unclosed '{' (opened at col %d)", p.errAt(open, "").Col)
		case p.peek('}') && len(e.Tags) == 0:
			return p.errAt(p.pos, "empty tag list {}: leave the braces out or add key:value")
		case p.peek('}'), p.peek(','):
			return p.errAt(p.pos, "missing tag (key:value) after ','")
		}
		keyOff := p.pos
		key := p.take(isKeyByte)
		if key == "" {
			return p.errAt(p.pos, "expected a tag key, got %s", p.token(p.pos))
		}
		p.skipSpace()
		if !p.peek(':') {
			if p.eof() || p.peek(',') || p.peek('}') {
				return p.errAt(p.pos, "missing ':' and value after tag key %q", key)
			}
			return p.errAt(p.pos, "expected ':' after tag key %q, got %s", key, p.token(p.pos))
		}
		p.pos++
		p.skipSpace()
		valOff := p.pos
		val := p.take(isValueByte)
		if p.peek('*') {
			if val == "" {
				return p.errAt(valOff, "tag value \"*\" matches everything: leave the tag %q out", key)
			}
			star := p.pos
			p.pos++
			val += "*"
			if p.pos < len(p.src) && isValueByte(p.src[p.pos]) {
				rest := p.take(isValueByte)
				return p.errAt(star, "'*' may only end a tag value (prefix glob), in %s:%s", key, val+rest)
			}
		}
		if val == "" {
			if p.eof() || p.peek(',') || p.peek('}') {
				return p.errAt(p.pos, "missing value for tag %q", key)
			}
			return p.errAt(p.pos, "bad value for tag %q: %s (values are written bare: letters, digits, _ . : / -, and an optional trailing *)", key, p.token(p.pos))
		}
		e.Tags = append(e.Tags, Tag{Key: key, Value: val})
		p.keyOffs = append(p.keyOffs, keyOff)
		p.valOffs = append(p.valOffs, valOff)
		p.skipSpace()
		switch {
		case p.peek(','):
			p.pos++
		case p.peek('}'):
			p.pos++
			return nil
		case p.eof():
			return p.errAt(p.pos, "unclosed '{' (opened at col %d)", p.errAt(open, "").Col)
		default:
			return p.errAt(p.pos, "expected ',' or '}' after tag %s:%s, got %s", key, val, p.token(p.pos))
		}
	}
}

// value reads number and unit.
func (p *parser) value(opText string) *SyntaxError {
	p.valueOff = p.pos
	if p.eof() {
		return p.errAt(p.pos, "missing value after %q", opText)
	}
	start := p.pos
	if p.peek('+') || p.peek('-') {
		p.pos++
	}
	digits := len(p.take(isDigit))
	if p.peek('.') {
		p.pos++
		digits += len(p.take(isDigit))
	}
	if digits == 0 {
		p.pos = start
		word := p.src[start:]
		if i := strings.IndexFunc(word, unicode.IsSpace); i >= 0 {
			word = word[:i]
		}
		switch strings.ToLower(strings.TrimLeft(word, "+-")) {
		case "nan", "inf", "infinity":
			return p.errAt(start, "value %q is not a finite number", word)
		}
		return p.errAt(start, "expected a number after %q, got %s", opText, p.token(start))
	}
	p.numberText = p.src[start:p.pos]
	n, err := strconv.ParseFloat(p.numberText, 64)
	if err != nil || math.IsInf(n, 0) {
		return p.errAt(start, "value %s is out of range", p.numberText)
	}
	p.number = n

	p.skipSpace()
	p.unitOff = p.pos
	for p.pos < len(p.src) {
		r, w := utf8.DecodeRuneInString(p.src[p.pos:])
		if r == utf8.RuneError || !(unicode.IsLetter(r) || r == '%') {
			break
		}
		p.pos += w
	}
	p.unit = p.src[p.unitOff:p.pos]
	return nil
}

// check holds the parsed expression against the catalogue and returns every
// problem it finds.
func (p *parser) check(e *Expr) []*SyntaxError {
	var errs []*SyntaxError
	add := func(off int, format string, args ...any) { errs = append(errs, p.errAt(off, format, args...)) }

	fam, _, known := Lookup(e.Metric)
	if !known {
		add(p.metricOff, "%s", metricProblem(e.Metric))
	}

	seen := map[string]int{}
	for i, t := range e.Tags {
		if first, dup := seen[t.Key]; dup {
			add(p.keyOffs[i], "duplicate tag %q (first at col %d)", t.Key, p.errAt(p.keyOffs[first], "").Col)
			continue
		}
		seen[t.Key] = i
		switch {
		case known && !fam.Allows(t.Key):
			add(p.keyOffs[i], "tag %q not allowed on %s (%sallowed: %s)", t.Key, e.Metric, didYouMean(closest(t.Key, fam.Tags)), strings.Join(fam.Tags, ", "))
		case !known && !slices.Contains(tagKeys, t.Key):
			add(p.keyOffs[i], "unknown tag %q (tags: %s)", t.Key, strings.Join(tagKeys, ", "))
		case t.Key == "vs" && strings.HasSuffix(t.Value, "*"):
			add(p.valOffs[i], "vs must name one target, not a pattern (%s)", t)
		}
	}
	if known {
		for _, req := range fam.Required {
			if _, ok := seen[req]; !ok {
				add(p.metricOff, "%s needs a %s tag (%s:<target to compare with>)", e.Metric, req, req)
			}
		}
	}

	u, unitKnown := findUnit(p.unit)
	if p.unit != "" && !unitKnown {
		add(p.unitOff, "unknown unit %q (%sunits: %s)", p.unit, didYouMean(suggestUnit(p.unit)), allUnitNames())
	}
	value := p.number
	if unitKnown {
		value = value * u.mul / u.div
	}
	if math.IsInf(value, 0) {
		add(p.valueOff, "value %s%s is out of range", p.numberText, p.unit)
		return errs
	}
	if !known {
		return errs
	}

	e.Kind = fam.Kind
	e.Unit = p.unit
	e.Value = value
	written := p.numberText + p.unit
	switch {
	case unitKnown && !(u.kind == fam.Kind || u.name == "%" && fam.Percent):
		add(p.unitOff, "unit %q does not fit %s metric %s (%s)", p.unit, fam.Kind, e.Metric, unitHint(fam))
	case p.unit == "" && (fam.Kind == Duration || fam.Kind == Bytes) && p.number != 0:
		add(p.valueOff, "%s metric %s needs a unit after %s (%s)", fam.Kind, e.Metric, p.numberText, unitHint(fam))
	case fam.Kind == Ratio && (value < 0 || value > 1):
		if p.unit == "%" {
			add(p.valueOff, "ratio %s is outside 0%%..100%%", written)
		} else {
			add(p.valueOff, "ratio %s is outside 0..1 (write a fraction such as 0.999 or a percentage such as 99.9%%)", written)
		}
	case value < 0 && !fam.Signed:
		add(p.valueOff, "value %s is negative; %s cannot be", written, e.Metric)
	}
	return errs
}

func unitHint(f Family) string {
	switch {
	case f.Kind == Number && f.Percent:
		return "a bare number, or a percentage such as 105%"
	case f.Kind == Number:
		return "a bare number, no unit"
	case f.Kind == Ratio:
		return "a percentage such as 99.9% or a fraction such as 0.999"
	}
	return "units: " + strings.Join(Units(f.Kind), " ")
}

// Source gives the observed value of an expression's metric over its filter
// (tags). ok=false means there is no data for it; an error that wraps a
// *NoDataError means the same and says why (see Missing). Any other error
// fails the budget.
type Source interface {
	Value(e Expr) (float64, bool, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(e Expr) (float64, bool, error)

// Value calls f.
func (f SourceFunc) Value(e Expr) (float64, bool, error) { return f(e) }

// NoDataError is how a Source says why it has no data.
type NoDataError struct{ Reason string }

func (e *NoDataError) Error() string { return "no data: " + e.Reason }

// Missing returns a *NoDataError for a Source to return ("no samples in
// phase redis-down").
func Missing(reason string) error { return &NoDataError{Reason: reason} }

// Verdict is one evaluated budget. Detail is set exactly when no value was
// observed (NoData, Skip, or a Fail because the value could not be
// computed); Observed is then 0. Observed is always finite, so a Verdict
// encodes with encoding/json.
type Verdict struct {
	Expr     Expr
	Observed float64 // in the metric's base unit
	Result   Result
	Detail   string
}

// Evaluate asks s once for the expression's value and compares it with Op
// (within Tolerance). No data gives NoData; an error from s, a NaN or an
// infinite value gives Fail with the reason in Detail. It never gives Skip.
func Evaluate(e Expr, s Source) Verdict {
	v := Verdict{Expr: e}
	if s == nil {
		v.Result, v.Detail = Fail, "error: no source to evaluate with"
		return v
	}
	if e.Op < Lt || e.Op > Ne {
		v.Result, v.Detail = Fail, "error: invalid operator "+e.Op.String()
		return v
	}
	x, ok, err := s.Value(e)
	var nd *NoDataError
	switch {
	case errors.As(err, &nd):
		v.Result, v.Detail = NoData, "no data"
		if nd.Reason != "" {
			v.Detail += " (" + nd.Reason + ")"
		}
	case err != nil:
		v.Result, v.Detail = Fail, "error: "+err.Error()
	case !ok:
		v.Result, v.Detail = NoData, "no data"
	case math.IsNaN(x) || math.IsInf(x, 0):
		v.Result, v.Detail = Fail, "error: the observed value is "+strconv.FormatFloat(x, 'g', -1, 64)
	default:
		v.Observed = x
		v.Result = Fail
		if e.Op.Holds(x, e.Value) {
			v.Result = Pass
		}
	}
	return v
}

// Skipped is the verdict of a budget a caller did not evaluate, e.g. on an
// invalid run.
func Skipped(e Expr, reason string) Verdict {
	if reason == "" {
		reason = "skipped"
	}
	return Verdict{Expr: e, Result: Skip, Detail: reason}
}

// ObservedText formats Observed for people: three significant digits, more
// when three would print the limit's text for a value that is not equal to
// it (0.9996ms against "< 1ms" prints 999.6us, not 1ms) or 100% for a ratio
// below 1 (99.95%). A duration takes a readable unit (412us, 1.05ms, 2.5s,
// 1.5m; µs when the expression wrote µs); bytes scale within the system the
// expression used (123MB, or 117MiB for MiB); a ratio prints as a
// percentage when the expression wrote %, else as a fraction (0.999), and so
// does a Number. It is "" when no value was observed (Detail is set).
func (v Verdict) ObservedText() string {
	if (v.Result != Pass && v.Result != Fail) || v.Detail != "" {
		return ""
	}
	e, x := v.Expr, v.Observed
	const maxDigits = 17
	for n := 3; ; n++ {
		s := formatSig(e.Kind, e.Unit, x, n)
		if n >= maxDigits {
			return s
		}
		if !approxEqual(x, e.Value) && s == formatSig(e.Kind, e.Unit, e.Value, n) {
			continue
		}
		if x != 1 && (e.Kind == Ratio || e.Unit == "%") && (s == "1" || s == "100%") {
			continue
		}
		return s
	}
}

// Expected is the budget's side of the comparison, "< 1ms", for messages
// such as JUnit failures.
func (v Verdict) Expected() string { return v.Expr.Op.String() + " " + v.Expr.Limit() }

// String is the console line: "PASS overhead.p99 < 1ms: 412us",
// "NODATA ...: no data (reason)", "SKIP ...: reason".
func (v Verdict) String() string {
	head := v.Result.String() + " " + v.Expr.String() + ": "
	switch {
	case v.Detail != "":
		return head + v.Detail
	case v.Result == Pass || v.Result == Fail:
		return head + v.ObservedText()
	}
	return head + "not evaluated"
}

// FormatValue formats x, a value of kind k in base units, with three
// significant digits the way ObservedText does for an expression written
// with unit ("ms", "%", "MiB", ""), without regard to a limit.
func FormatValue(k Kind, unit string, x float64) string { return formatSig(k, unit, x, 3) }

func formatSig(k Kind, unit string, x float64, n int) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return strconv.FormatFloat(x, 'g', -1, 64)
	case unit == "%":
		return sig(x*100, n) + "%"
	case k == Duration:
		micro := "us"
		if unit == "µs" || unit == "μs" {
			micro = unit
		}
		zero := "s"
		if u, ok := findUnit(unit); ok && u.kind == Duration {
			zero = unit
		}
		return scaled(x, n, zero, []step{{"ns", 1e-9, 1000}, {micro, 1e-6, 1000}, {"ms", 1e-3, 1000}, {"s", 1, 60}, {"m", 60, 0}})
	case k == Bytes:
		if strings.HasSuffix(unit, "iB") {
			return scaled(x, n, "B", []step{{"B", 1, 1024}, {"KiB", 1 << 10, 1024}, {"MiB", 1 << 20, 1024}, {"GiB", 1 << 30, 0}})
		}
		return scaled(x, n, "B", []step{{"B", 1, 1000}, {"KB", 1e3, 1000}, {"MB", 1e6, 1000}, {"GB", 1e9, 0}})
	}
	return sig(x, n)
}

// step is one rung of a unit ladder: size in base units, and how many of it
// make the next rung (0 for the last).
type step struct {
	name string
	size float64
	next float64
}

// scaled writes x in the largest unit not bigger than it, moving up a rung
// when rounding reaches the next one (999.96us -> 1ms).
func scaled(x float64, n int, zero string, ladder []step) string {
	if x == 0 {
		return "0" + zero
	}
	a := math.Abs(x)
	i := 0
	for i < len(ladder)-1 && a >= ladder[i+1].size {
		i++
	}
	for {
		s := sig(x/ladder[i].size, n)
		if r, err := strconv.ParseFloat(s, 64); err == nil && ladder[i].next > 0 && math.Abs(r) >= ladder[i].next {
			i++
			continue
		}
		return s + ladder[i].name
	}
}

// sig writes x with n significant digits (all digits of the integer part
// are kept: 12345 stays 12345), no exponent, no trailing zeros.
func sig(x float64, n int) string {
	if x == 0 {
		return "0"
	}
	exp := int(math.Floor(math.Log10(math.Abs(x))))
	s := strconv.FormatFloat(x, 'f', max(0, n-1-exp), 64)
	if strings.Contains(s, ".") {
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}
