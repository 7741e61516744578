package suites

// The fixture every target is configured from: echo upstreams ("gatelab
// upstream -name NAME", which answer with what they received) behind a
// fixed route table. The reference gateway renders all of it; nginx and
// haproxy render the routes they can express (plain prefixes with
// strip_prefix) and declare only the features those routes give.

// Backends of the fixture. Dead and Breaker are closed ports (refused
// connections). Targets keep Dead in rotation whatever happens to it (no
// health checks, no breaker), so it answers 502 for as long as a target
// runs; Breaker's breaker opens after a few failures, for the open-breaker
// case alone.
const (
	BackendAlpha   = "alpha"
	BackendBeta    = "beta"
	BackendGamma   = "gamma"
	BackendDead    = "dead"
	BackendBreaker = "breaker"
)

// RefusedBackends are the backends on closed ports.
var RefusedBackends = []string{BackendDead, BackendBreaker}

// EchoBackends are the backends that run an echo upstream.
var EchoBackends = []string{BackendAlpha, BackendBeta, BackendGamma}

// Auth kinds of a route (the gatelab config's route.auth values).
const (
	NoAuth  = "none"
	JWTAuth = "jwt"
	KeyAuth = "api_key"
)

// Route is one route of the fixture, in neutral terms.
type Route struct {
	ID      string
	Pattern string // "/a/b" exact; "/a/b/*" prefix (matches /a/b and below)
	Methods []string
	Backend string
	Strip   string // strip_prefix
	Auth    string // NoAuth, JWTAuth, KeyAuth
	Scopes  []string
	Tier    string // rate-limit tier ("" none)
	// TimeoutMS is the per-route upstream timeout (0: the target's default).
	TimeoutMS    int
	MaxBodyBytes int64
	// Priority is the load-shedding priority, P0 (never shed) to P3 (shed
	// first); "" is the target's default.
	Priority string
	// FailClosed: the route rejects requests (503) when the rate limiter
	// cannot decide, instead of admitting them (fail-open, the default).
	FailClosed bool
	// CORS is the route's cross-origin policy; nil: none.
	CORS *CORSPolicy
	// Needs is the feature a target must support to carry this route;
	// targets that lack it leave the route out.
	Needs Feature
}

// Tiers of the fixture: limit per minute, keyed by the credential's
// subject or API key, or by client IP (unauthenticated routes).
type Tier struct {
	Name  string
	Limit int
	Key   string // user_id | api_key | client_ip
}

// Tiers are the fixture's rate-limit tiers. Cases that count use their own
// subject, so parallel cases never share a counter; the per-IP tier has one
// route used by one case only.
var Tiers = []Tier{
	{Name: "conf-roomy", Limit: 1_000_000, Key: "user_id"},
	{Name: "conf-tight", Limit: 5, Key: "user_id"},
	{Name: "conf-ip", Limit: 5, Key: "client_ip"},
}

// Routes is the fixture's route table: the base routes below plus the ones
// the case groups add for themselves (routes_*.go).
var Routes = concatRoutes(baseRoutes, headerLimitRoutes, authExtendedRoutes)

func concatRoutes(groups ...[]Route) []Route {
	var out []Route
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

var baseRoutes = []Route{
	// Prefix routing, the longest prefix winning, strip_prefix.
	{ID: "prefix", Pattern: "/conf/prefix/*", Backend: BackendAlpha, Strip: "/conf", Auth: NoAuth, Needs: RoutingPrefix},
	{ID: "prefix-deeper", Pattern: "/conf/prefix/deeper/*", Backend: BackendBeta, Strip: "/conf", Auth: NoAuth, Needs: RoutingPrefix},
	// An exact route inside a prefix route's space.
	{ID: "exact", Pattern: "/conf/prefix/exact", Backend: BackendGamma, Auth: NoAuth, Needs: RoutingExact},
	// Only GET (and HEAD) here: other methods get 405 with Allow.
	{ID: "get-only", Pattern: "/conf/get-only/*", Methods: []string{"GET"}, Backend: BackendAlpha, Auth: NoAuth, Needs: RoutingMethods},
	// Upstream errors: refused connections, a 300 ms timeout (the echo
	// upstream delays by X-Upstream-Delay), small bodies.
	{ID: "dead", Pattern: "/conf/dead/*", Backend: BackendDead, Auth: NoAuth, Needs: UpstreamErrors},
	{ID: "slow", Pattern: "/conf/slow/*", Backend: BackendAlpha, Auth: NoAuth, TimeoutMS: 300, Needs: UpstreamErrors},
	{ID: "small-body", Pattern: "/conf/small-body/*", Backend: BackendAlpha, Auth: NoAuth, MaxBodyBytes: 1024, Needs: LimitsBody},
	// Credentials.
	{ID: "jwt", Pattern: "/conf/jwt/*", Backend: BackendAlpha, Strip: "/conf", Auth: JWTAuth, Tier: "conf-roomy", Needs: AuthJWT},
	{ID: "scoped", Pattern: "/conf/scoped/*", Backend: BackendAlpha, Auth: JWTAuth, Scopes: []string{"conf:admin"}, Tier: "conf-roomy", Needs: AuthScopes},
	{ID: "apikey", Pattern: "/conf/apikey/*", Backend: BackendBeta, Auth: KeyAuth, Needs: AuthAPIKey},
	// Rate limits.
	{ID: "limited", Pattern: "/conf/limited/*", Backend: BackendAlpha, Auth: JWTAuth, Tier: "conf-tight", Needs: RateLimit},
	{ID: "ip-limited", Pattern: "/conf/ip-limited/*", Backend: BackendAlpha, Auth: NoAuth, Tier: "conf-ip", Needs: RateLimitIP},
}

// API keys of fixtures/apikeys.yaml (TEST ONLY; fixtures/README.md).
const (
	APIKeyValid   = "glk_test_partner42"
	APIKeyRevoked = "glk_test_revoked"
	APIKeyExpired = "glk_test_expired"
)
