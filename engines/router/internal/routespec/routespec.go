// Package routespec is the pattern parsing and validation shared by the router
// engines, so that every engine accepts and rejects exactly the same route
// tables and orders candidates the same way.
package routespec

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gatelab/gatelab/gateway/pipeline"
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
// On top of the grammar documented on pipeline.RouteSpec it requires what makes
// a pattern able to match a canonical path and mean the same thing to every
// engine: the base is itself canonical (pipeline.CanonicalPath), ASCII only
// (non-ASCII is written percent-encoded), without '*' (only the final "/*" is a
// wildcard), '?' (never part of a path) or '{' '}' (gorilla/mux template
// syntax); a prefix base does not end with '/' ("/a//*" is not a pattern); the
// method set is non-empty and holds only known methods.
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
	p := s.Pattern
	if p == "/*" {
		r.Prefix = true // catch-all: Base ""
		return r, nil
	}
	if strings.HasSuffix(p, "/*") {
		r.Prefix = true
		r.Base = p[:len(p)-2]
		if strings.HasSuffix(r.Base, "/") {
			return r, fmt.Errorf("prefix base ends with '/'")
		}
	} else {
		r.Base = p
	}
	if _, ok := pipeline.CanonicalPath(r.Base); !ok {
		return r, fmt.Errorf("not a canonical path (see pipeline.CanonicalPath)")
	}
	for i := 0; i < len(r.Base); i++ {
		switch c := r.Base[i]; {
		case c >= 0x80:
			return r, fmt.Errorf("non-ASCII byte (write it percent-encoded)")
		case c == '*':
			return r, fmt.Errorf("'*' is only allowed as the final \"/*\"")
		case c == '?', c == '{', c == '}':
			return r, fmt.Errorf("%q is not allowed in a pattern", c)
		}
	}
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
