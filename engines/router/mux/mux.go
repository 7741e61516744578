package mux

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	gmux "github.com/gorilla/mux"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/router/internal/routespec"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func init() { engines.RegisterRouter("mux", New) }

var _ pipeline.Router = (*Router)(nil)

// Router wraps a gorilla/mux Router. See the package documentation.
type Router struct {
	mux  *gmux.Router
	pool sync.Pool // of *scratch
}

// scratch is the per-call state gorilla needs, pooled so Match allocates
// nothing itself.
type scratch struct {
	req   *http.Request // its context holds the scratch itself (scratchKey)
	url   url.URL
	match gmux.RouteMatch
	vars  map[string]string // handed to gorilla so it does not make one
	allow pipeline.MethodSet
}

type scratchKey struct{}

// routeHandler is the handler of every gorilla route: its value is the route's
// Index, read back from RouteMatch.Handler. It is never served.
type routeHandler int

func (routeHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

// New builds the gorilla router. It returns an error for an invalid table.
func New(routes []pipeline.RouteSpec) (pipeline.Router, error) {
	rs, err := routespec.Parse(routes)
	if err != nil {
		return nil, err
	}
	routespec.SortByPrecedence(rs)
	r := &Router{mux: gmux.NewRouter()}
	for _, s := range rs {
		rt := r.mux.NewRoute()
		switch {
		case s.Prefix && s.Base == "":
			rt.PathPrefix("/")
		case s.Prefix:
			rt.PathPrefix(s.Base).MatcherFunc(boundary(len(s.Base)))
		default:
			rt.Path(s.Base)
		}
		rt.Methods(methodNames(s.Methods)...).
			MatcherFunc(collect(s.Methods)).
			Handler(routeHandler(s.Index))
		if err := rt.GetError(); err != nil {
			return nil, fmt.Errorf("route %d: pattern %q: %w", s.Index, s.Pattern, err)
		}
	}
	r.pool.New = func() any {
		s := &scratch{vars: map[string]string{}}
		req := &http.Request{URL: &s.url, Header: http.Header{}}
		s.req = req.WithContext(context.WithValue(context.Background(), scratchKey{}, s))
		return s
	}
	return r, nil
}

// boundary is the segment-boundary matcher of a prefix route whose base is n
// bytes long; it runs after PathPrefix has checked those n bytes.
func boundary(n int) gmux.MatcherFunc {
	return func(req *http.Request, _ *gmux.RouteMatch) bool {
		p := req.URL.Path
		return len(p) == n || p[n] == '/'
	}
}

// collect is the last matcher of every route. Gorilla reaches it only when
// the path matchers passed, whether or not the method matcher did, so it adds
// the route's methods to the call's Allow union and always passes.
func collect(methods pipeline.MethodSet) gmux.MatcherFunc {
	return func(req *http.Request, _ *gmux.RouteMatch) bool {
		req.Context().Value(scratchKey{}).(*scratch).allow |= methods
		return true
	}
}

func methodNames(s pipeline.MethodSet) []string {
	var out []string
	for m := pipeline.MethodGet; m.String() != ""; m++ {
		if s.Has(m) {
			out = append(out, m.String())
		}
	}
	return out
}

// Match implements pipeline.Router.
func (r *Router) Match(m pipeline.Method, path string) pipeline.Match {
	if len(path) == 0 || path[0] != '/' {
		return pipeline.Match{Status: pipeline.NotFound}
	}
	s := r.pool.Get().(*scratch)
	// MethodUnknown becomes "", which no gorilla method matcher accepts.
	s.req.Method = m.String()
	s.url.Path = path
	clear(s.vars)
	s.match = gmux.RouteMatch{Vars: s.vars}
	s.allow = 0

	var res pipeline.Match
	if r.mux.Match(s.req, &s.match) {
		res = pipeline.Match{Route: int(s.match.Handler.(routeHandler)), Status: pipeline.Found}
	} else if s.allow != 0 {
		res = pipeline.Match{Status: pipeline.MethodNotAllowed, Allow: s.allow}
	} else {
		res = pipeline.Match{Status: pipeline.NotFound}
	}

	s.url.Path = "" // do not keep the caller's string alive in the pool
	s.match = gmux.RouteMatch{}
	r.pool.Put(s)
	return res
}
