package suites

import (
	"sort"
	"time"
)

// Level is how much of gatelab's behaviour a case belongs to: core cases
// are what any API gateway in front of these routes must do; extended
// ones need features many gateways leave out.
type Level string

// The levels, in report order.
const (
	Core     Level = "core"
	Extended Level = "extended"
)

// Levels lists the levels in report order.
var Levels = []Level{Core, Extended}

// Feature names a behaviour a target may support. Targets declare the
// features they have; cases name the features they need.
type Feature string

// The features the cases need. A third-party target declares its own in a
// capabilities file (ParseCapabilities); the reference gateway declares all.
const (
	RoutingPrefix    Feature = "routing.prefix"         // prefix routes, longest wins, strip_prefix
	RoutingExact     Feature = "routing.exact"          // exact-path routes beat prefixes
	RoutingMethods   Feature = "routing.methods"        // 405 with Allow for a path served for other methods; 404 for none
	RoutingCanonical Feature = "routing.canonical-path" // dot segments, encoded separators, doubled slashes
	AuthJWT          Feature = "auth.jwt"               // bearer JWT: algorithms, expiry and skew, iss/aud, kid
	AuthAPIKey       Feature = "auth.apikey"            // API keys: valid, unknown, revoked, expired
	AuthScopes       Feature = "auth.scopes"            // 401 vs 403 with required scopes
	HeadersIdentity  Feature = "headers.identity"       // identity headers set from the credential; client copies dropped
	HeadersHopByHop  Feature = "headers.hop-by-hop"     // hop-by-hop headers removed both ways
	HeadersForwarded Feature = "headers.forwarded"      // X-Forwarded-For/-Proto/-Host set
	HeadersRequestID Feature = "headers.request-id"     // X-Request-ID kept or generated, echoed
	HeadersTrace     Feature = "headers.traceparent"    // W3C traceparent continued or started
	RateLimit        Feature = "ratelimit"              // 429 with Retry-After, limit headers, tiers
	RateLimitIP      Feature = "ratelimit.per-ip"       // per-client-IP limits on unauthenticated routes
	UpstreamErrors   Feature = "upstream.errors"        // 502 refused, 504 timeout, JSON error bodies with request_id
	UpstreamBreaker  Feature = "upstream.breaker"       // 503 from an open circuit breaker
	LimitsBody       Feature = "limits.body"            // 413 over the route's body limit
	LimitsHeaders    Feature = "limits.headers"         // 431 over the header limit
	LimitsSlowHeader Feature = "limits.slow-header"     // slow-header clients cut off
	FailMode         Feature = "ratelimit.fail-mode"    // limiter store down: fail-open and fail-closed routes
	ConfigReload     Feature = "config.reload"          // config replaced under traffic, no failed request
	CORS             Feature = "cors"                   // CORS preflight answered by the gateway
	Shedding         Feature = "shed"                   // load shedding by priority
)

// Case is one conformance check.
type Case struct {
	ID          string // "group/name", stable: reports and skips name it
	Description string
	Level       Level
	Features    []Feature
	// Run checks the target through t; it fails with t.Errorf/Fatalf.
	Run func(t *T)
	// Timeout bounds the case (0: DefaultCaseTimeout).
	Timeout time.Duration
}

// DefaultCaseTimeout bounds a case that sets no timeout of its own.
const DefaultCaseTimeout = 20 * time.Second

// groups are the case lists of the group files, in report order.
var groups = [][]Case{routingCases, headerCases, authCases, rateLimitCases, upstreamCases, limitCases, extendedCases, corsCases, shedCases}

// All returns every case, sorted by ID.
func All() []Case {
	var out []Case
	for _, g := range groups {
		out = append(out, g...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// AllFeatures lists every feature some case needs, sorted.
func AllFeatures() []Feature {
	seen := map[Feature]bool{}
	var out []Feature
	for _, c := range All() {
		for _, f := range c.Features {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
