package dashboards

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Grafana's variable syntaxes: $name, ${name}, ${name:format} and the
// deprecated [[name]] / [[name:format]].
var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]`)

// legendRef is a {{label}} of a legendFormat.
var legendRef = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// BuiltinValues are the values Substitute uses for Grafana's built-in
// interval variables. $__rate_interval is 1m rather than Grafana's "four
// scrape intervals": a test scraping every second for less than a minute
// then sees every sample it has in one window.
var BuiltinValues = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__range":         "1h",
}

// VarRefs returns the names of the Grafana variables expr uses, sorted,
// without duplicates.
func VarRefs(expr string) []string {
	seen := map[string]bool{}
	for _, m := range varRef.FindAllStringSubmatch(expr, -1) {
		seen[m[1]+m[2]+m[3]] = true // exactly one group matched
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Substitute replaces every Grafana variable in expr ($name, ${name},
// ${name:format}, [[name]]) by values[name] and returns the PromQL that
// Prometheus can run. A variable missing from values is an error (listing
// all of them), never left in place or replaced by a guess.
//
// This is the one place where dashboard expressions become concrete; use
// DefaultValues for the values the tests and tools use.
func Substitute(expr string, values map[string]string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		v, ok := values[name]
		if !ok {
			missing = append(missing, "$"+name)
			return ref
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for %s in %q", strings.Join(missing, ", "), expr)
	}
	return out, nil
}

// DefaultValues returns the values Substitute needs for every dashboard
// expression: BuiltinValues, plus each dashboard query variable's value for
// its "All" option (its allValue, ".*" when it has none: every multi-value
// variable here is used in a =~ matcher, where ".*" selects what "All"
// selects).
func DefaultValues() (map[string]string, error) {
	values := make(map[string]string, len(BuiltinValues)+4)
	for k, v := range BuiltinValues {
		values[k] = v
	}
	for _, name := range DashboardFiles {
		m, err := readModel(name)
		if err != nil {
			return nil, err
		}
		for _, v := range m.Templating.List {
			if v.Type != "query" {
				continue
			}
			all := v.AllValue
			if all == "" {
				all = ".*"
			}
			if prev, ok := values[v.Name]; ok && prev != all {
				return nil, fmt.Errorf("%s: variable %s: allValue %q, another dashboard has %q", name, v.Name, all, prev)
			}
			values[v.Name] = all
		}
	}
	return values, nil
}

// Concrete is Substitute(expr, DefaultValues()).
func Concrete(expr string) (string, error) {
	values, err := DefaultValues()
	if err != nil {
		return "", err
	}
	return Substitute(expr, values)
}

// comparisonOperands splits expr at its top-level (outside parentheses,
// brackets, braces and strings) comparison operators (== != > < >= <=, with
// an optional bool) and set operators (and, or, unless), and returns the
// trimmed operands in order. An expression with no top-level comparison
// gives nil. Grouping modifiers (on(...), ignoring(...), group_left) after
// an operator stay at the start of the next operand; the alert rules here
// use none.
func comparisonOperands(expr string) []string {
	var (
		parts    []string
		depth    int
		start    int
		compared bool
	)
	cut := func(at, skip int) {
		parts = append(parts, strings.TrimSpace(expr[start:at]))
		start = at + skip
	}
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			// Skip the string; a backslash escapes in "..." and '...'.
			for i++; i < len(expr) && expr[i] != c; i++ {
				if expr[i] == '\\' && c != '`' {
					i++
				}
			}
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case depth > 0:
		case strings.HasPrefix(expr[i:], "==") || strings.HasPrefix(expr[i:], "!=") ||
			strings.HasPrefix(expr[i:], ">=") || strings.HasPrefix(expr[i:], "<="):
			cut(i, 2)
			compared = true
			i++
		case c == '>' || c == '<':
			cut(i, 1)
			compared = true
		default:
			if w := wordAt(expr, i); w == "and" || w == "or" || w == "unless" || w == "bool" {
				cut(i, len(w))
				i += len(w) - 1
			}
		}
	}
	parts = append(parts, strings.TrimSpace(expr[start:]))
	if !compared {
		return nil
	}
	out := parts[:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// wordAt returns the identifier starting at i if it is a whole word there.
func wordAt(s string, i int) string {
	if i > 0 && isIdent(s[i-1]) {
		return ""
	}
	j := i
	for j < len(s) && isIdent(s[j]) {
		j++
	}
	return s[i:j]
}

func isIdent(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// numeric reports whether s is arithmetic on number literals only
// ("0.015", "(14.4 * (1 - 0.9999))"): a threshold, not a measurement.
var numeric = regexp.MustCompile(`^[0-9.eE+\-*/()\s]+$`)
