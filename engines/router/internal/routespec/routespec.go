// Package routespec is the route-table parsing shared by the router engines,
// so that every engine accepts and rejects exactly the same route tables and
// orders candidates the same way. The pattern grammar itself is
// policy.ParsePattern, shared with the config's validation.
package routespec

import (
	"fmt"
	"sort"

	"github.com/gatelab/gatelab/gateway/pipeline"
	"github.com/gatelab/gatelab/gateway/policy"
)

// Route is a validated RouteSpec.
type Route struct {
	// Index is RouteSpec.Index, what Match returns.
	Index int
	// Pattern is the pattern as configured.
	Pattern string
	// Base is the path an exact pattern matches, or the part of a prefix
	// pattern before "/*" ("" for the catch-all "/*").
	Base string
	// Prefix is true for "<base>/*" patterns.
	Prefix bool
	// Methods is the non-empty set of methods the route allows.
	Methods pipeline.MethodSet
	// Order is the route's position in the table handed to the engine; it
	// breaks ties between routes with the same pattern (config order).
	Order int
}

// Parse validates a route table and returns it in the same order. The input is
// not modified or retained.
//
// Patterns are parsed by policy.ParsePattern, the one grammar the config
// validates with too (see pipeline.RouteSpec), so a table the config
// accepts is one every engine accepts. On top of it, the method set must be
// non-empty and hold only known methods.
func Parse(specs []pipeline.RouteSpec) ([]Route, error) {
	out := make([]Route, 0, len(specs))
	for i, s := range specs {
		r, err := parseOne(s)
		if err != nil {
			return nil, fmt.Errorf("route %d: pattern %q: %w", s.Index, s.Pattern, err)
		}
		r.Order = i
		out = append(out, r)
	}
	return out, nil
}

func parseOne(s pipeline.RouteSpec) (Route, error) {
	r := Route{Index: s.Index, Pattern: s.Pattern, Methods: s.Methods}
	if s.Methods == 0 {
		return r, fmt.Errorf("empty method set")
	}
	if s.Methods&^pipeline.AllMethods != 0 {
		return r, fmt.Errorf("method set %#x holds unknown methods", uint16(s.Methods))
	}
	p, err := policy.ParsePattern(s.Pattern)
	if err != nil {
		return r, err
	}
	r.Base, r.Prefix = p.Base, p.Prefix
	return r, nil
}

// SortByPrecedence orders routes the way candidates are tried: exact patterns
// first, then prefixes by decreasing base length; routes that tie keep their
// table order. Two different patterns that tie can never match the same path
// (two exact patterns, or two prefix bases of the same length), so this order
// is exactly the precedence of pipeline.RouteSpec.
func SortByPrecedence(rs []Route) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Prefix != b.Prefix {
			return !a.Prefix
		}
		if a.Prefix && len(a.Base) != len(b.Base) {
			return len(a.Base) > len(b.Base)
		}
		return a.Order < b.Order
	})
}
