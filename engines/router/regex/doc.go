// Package regex is the "regex" router engine: every pattern is compiled to an
// anchored Go regexp and the regexps are tried one after another.
//
// Contract (pipeline.Router):
//   - Immutable: New compiles the route table into a slice that is never
//     written again; the caller may reuse its own slice.
//   - Concurrency: *regexp.Regexp is safe for concurrent use and nothing else
//     is written in Match, so Match needs no locks.
//   - Allocations: Match itself allocates nothing; regexp.MatchString reuses
//     matcher state from the regexp's internal cache, so the steady state is 0
//     allocs/op (the benchmarks report it).
//   - Precedence: the regexps are kept in precedence order (exact patterns
//     first, then prefixes by decreasing base length, ties in table order)
//     and tried in that order: the first whose regexp matches and whose
//     method set holds the request method wins. The union of the methods of
//     the regexps that matched makes a 405; no match at all is a 404.
//
// Compiled forms, with B = regexp.QuoteMeta(base):
//
//	exact  "/a/b"    ^B$          (Go's $ without (?m) is end of text)
//	prefix "/a/b/*"  ^B(?:/|$)    (a segment boundary; the rest is not read)
//	catch-all "/*"   ^/
//
// Cost is linear in the number of routes: a miss runs every regexp. That is
// the point of this engine in the lab.
//
// Patterns are validated by engines/router/internal/routespec, shared by every
// router engine.
package regex
