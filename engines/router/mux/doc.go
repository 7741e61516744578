// Package mux is the "mux" router engine: the route table loaded into a
// gorilla/mux Router (github.com/gorilla/mux), matched with its Match method.
//
// Contract (pipeline.Router):
//   - Immutable: New builds the gorilla router and never adds a route or
//     changes one afterwards; the caller may reuse its slice.
//   - Concurrency: gorilla's Router.Match only reads the router. The
//     *http.Request and *mux.RouteMatch that Match needs come from a
//     sync.Pool, so each call has its own.
//   - Allocations: Match itself allocates nothing once the pool is warm, but
//     gorilla does: a matching route calls regexp FindStringSubmatchIndex to
//     extract path variables (there are none), 1 allocation per Found. Misses
//     and 405s allocate nothing. The benchmarks report it.
//   - Precedence: gorilla tries routes in the order they were added and takes
//     the first whose matchers all pass, so the routes are added in
//     precedence order (exact patterns first, then prefixes by decreasing
//     base length, ties in table order), each built as shown below.
//   - Method mismatch: gorilla's method matcher failing does not stop the
//     search (gorilla records ErrMethodMismatch and goes on to the next
//     route), which is exactly the fall-through to a shorter prefix. Gorilla
//     does not say which routes matched the path, so the collector matcher,
//     which gorilla still runs after a failed method matcher, adds the
//     route's method set to this call's Allow union. When no route matches,
//     a non-empty union is a 405 and an empty one a 404. The union, not
//     RouteMatch.MatchErr, decides: gorilla v1.8.1 resets an earlier route's
//     ErrMethodMismatch to nil as soon as a later route's path matcher passes,
//     even if that route's boundary matcher then fails (an exact "/a/bc"
//     followed by a prefix "/a/b/*"), so MatchErr alone would turn that 405
//     into a 404.
//
// Each RouteSpec becomes one gorilla route, with matchers in this order:
//
//	exact "/a/b":     Path("/a/b")
//	prefix "/a/b/*":  PathPrefix("/a/b"), boundary (the next byte is '/' or the end)
//	catch-all "/*":   PathPrefix("/")
//	then, for all:    Methods(...), collector; handler: the route's Index
//
// The path is matched as given, not decoded: it is put in URL.Path and the
// gorilla router neither cleans it (Match never does; only ServeHTTP would)
// nor uses the encoded path.
//
// Patterns are validated by engines/router/internal/routespec, shared by every
// router engine; it rejects '{' and '}', which gorilla would read as template
// variables.
package mux
