package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatelab/gatelab/gateway/policy"
)

// The method vocabulary lives in gateway/policy, shared with the config;
// these aliases keep the engines' names.

// Method is an HTTP method the gateway knows (policy.Method).
type Method = policy.Method

// Known methods (policy's). MethodUnknown is anything else (CONNECT, TRACE,
// extensions): no route ever allows it.
const (
	MethodUnknown = policy.MethodUnknown
	MethodGet     = policy.MethodGet
	MethodHead    = policy.MethodHead
	MethodPost    = policy.MethodPost
	MethodPut     = policy.MethodPut
	MethodPatch   = policy.MethodPatch
	MethodDelete  = policy.MethodDelete
	MethodOptions = policy.MethodOptions
)

// ParseMethod maps a request method to a Method without allocating. Methods are
// case-sensitive (RFC 9110): "get" is MethodUnknown.
func ParseMethod(s string) Method { return policy.ParseMethod(s) }

// MethodSet is a bit set of Methods (policy.MethodSet). The zero value is
// the empty set.
type MethodSet = policy.MethodSet

// AllMethods is the set a route with no `methods:` list allows.
const AllMethods = policy.AllMethods

// RouteSpec is what a router engine is built from: one entry per configured
// route, in config order. Index is the position in the snapshot's route slice
// and is what Match returns.
//
// Pattern grammar (policy.ParsePattern, used by gateway/config to validate
// and by the router engines to parse):
//   - exact:  "/api/v2/health" matches only that path.
//   - prefix: "/api/v2/users/*" matches "/api/v2/users" and every path below
//     "/api/v2/users/", at segment boundaries ("/api/v2/usersX" does not match).
//   - catch-all: "/*" matches every path (the shortest prefix).
//
// Precedence: an exact pattern beats any prefix; a longer prefix beats a
// shorter one. Among the candidates whose pattern matches the path, the first
// one (in that order) whose method set has the request method wins. If some
// pattern matched but no candidate allows the method the result is
// MethodNotAllowed with the union of the candidates' methods.
type RouteSpec struct {
	Index   int
	Pattern string
	Methods MethodSet
}

// MatchStatus says how a lookup ended.
type MatchStatus uint8

const (
	NotFound MatchStatus = iota
	Found
	MethodNotAllowed
)

// Match is a router's answer. Route is valid when Status == Found; Allow is
// valid when Status == MethodNotAllowed.
type Match struct {
	Route  int
	Status MatchStatus
	Allow  MethodSet
}

// Router looks up a canonical path (see CanonicalPath). Implementations are
// immutable after construction, safe for concurrent use, and must not allocate
// in Match.
type Router interface {
	Match(m Method, path string) Match
}

// RouterFactory builds a Router from a route table. It is called once per
// config snapshot, never per request.
type RouterFactory func(routes []RouteSpec) (Router, error)

// LimitKeyKind says what a rate-limit tier counts by (policy.LimitKeyKind).
type LimitKeyKind = policy.LimitKeyKind

const (
	KeyUserID   = policy.KeyUserID
	KeyAPIKey   = policy.KeyAPIKey
	KeyClientIP = policy.KeyClientIP
	KeyGlobal   = policy.KeyGlobal
)

// LimitAlgorithm selects the counting algorithm of a tier
// (policy.LimitAlgorithm).
type LimitAlgorithm = policy.LimitAlgorithm

const (
	// SlidingWindow is the design chapter's sliding-window counter: the
	// previous fixed window's count weighted by how much of it still overlaps
	// the sliding window, plus the current window's count.
	SlidingWindow = policy.SlidingWindow
	// GCRA is the generic cell rate algorithm (a token bucket allowing a burst
	// of Limit requests, refilled evenly over Window).
	GCRA = policy.GCRA
)

// Policy is one rate-limit tier as a limiter sees it.
type Policy struct {
	Name      string
	Limit     int64
	Window    time.Duration
	Algorithm LimitAlgorithm
	// Deadline is how long the decision may take (the route's
	// rate_limit_deadline, default 5 ms). A decision not made in time is
	// "no decision" (an error wrapping ErrNoDecision). 0: no deadline beyond
	// ctx. In-process engines may ignore it.
	Deadline time.Duration
}

// Invalid is the error a limiter engine returns for a policy outside what
// it supports: "no decision" (it wraps ErrNoDecision), naming the engine
// and the policy.
func (p Policy) Invalid(engine string) error {
	return fmt.Errorf("%w: %s limiter: invalid policy %q (limit %d, window %v, algorithm %d)",
		ErrNoDecision, engine, p.Name, p.Limit, p.Window, p.Algorithm)
}

// LimitDecision is a limiter's answer for one request.
type LimitDecision struct {
	Allowed   bool
	Limit     int64
	Remaining int64
	// Reset is when the count next drops enough to admit a request; used for
	// X-RateLimit-Reset (epoch seconds) and the RateLimit `t` parameter.
	Reset time.Time
	// RetryAfter is how long a rejected caller must wait; zero when allowed.
	RetryAfter time.Duration
}

// ErrNoDecision wraps every limiter failure: the route's fail mode decides what
// the client sees. A limiter never returns a decision together with an error.
var ErrNoDecision = errors.New("rate limiter: no decision")

// Limiter decides whether one more request under key fits the policy and, if
// so, counts it. key is already scoped (tier name + kind + identity) and holds
// no secret: API keys arrive as hashes. key is only valid during the call;
// implementations must copy it if they keep it. Implementations are safe for
// concurrent use.
type Limiter interface {
	Allow(ctx context.Context, key string, p Policy) (LimitDecision, error)
}
