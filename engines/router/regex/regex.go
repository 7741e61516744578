package regex

import (
	"fmt"
	"regexp"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/router/internal/routespec"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func init() { engines.RegisterRouter("regex", New) }

var _ pipeline.Router = (*Router)(nil)

// Router tries one compiled regexp per route, in precedence order.
type Router struct {
	routes []route
}

type route struct {
	re      *regexp.Regexp
	index   int
	methods pipeline.MethodSet
}

// New compiles the route table. It returns an error for an invalid table.
func New(routes []pipeline.RouteSpec) (pipeline.Router, error) {
	rs, err := routespec.Parse(routes)
	if err != nil {
		return nil, err
	}
	routespec.SortByPrecedence(rs)
	r := &Router{routes: make([]route, len(rs))}
	for i, s := range rs {
		re, err := regexp.Compile(expr(s.Base, s.Prefix))
		if err != nil {
			return nil, fmt.Errorf("route %d: pattern %q: %w", s.Index, s.Pattern, err)
		}
		r.routes[i] = route{re: re, index: s.Index, methods: s.Methods}
	}
	return r, nil
}

// expr is the regular expression a validated pattern compiles to (see the
// package documentation).
func expr(base string, prefix bool) string {
	switch {
	case prefix && base == "":
		return "^/"
	case prefix:
		return "^" + regexp.QuoteMeta(base) + "(?:/|$)"
	default:
		return "^" + regexp.QuoteMeta(base) + "$"
	}
}

// Match implements pipeline.Router.
func (r *Router) Match(m pipeline.Method, path string) pipeline.Match {
	if len(path) == 0 || path[0] != '/' {
		return pipeline.Match{Status: pipeline.NotFound}
	}
	var allow pipeline.MethodSet
	for i := range r.routes {
		rt := &r.routes[i]
		if !rt.re.MatchString(path) {
			continue
		}
		if rt.methods.Has(m) {
			return pipeline.Match{Route: rt.index, Status: pipeline.Found}
		}
		allow |= rt.methods
	}
	if allow != 0 {
		return pipeline.Match{Status: pipeline.MethodNotAllowed, Allow: allow}
	}
	return pipeline.Match{Status: pipeline.NotFound}
}
