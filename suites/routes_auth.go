package suites

// authExtendedRoutes are the routes the auth, rate-limit and extended cases
// add to the fixture (paths /conf/a-...). The auth and rate-limit cases use
// the base routes (/conf/jwt/, /conf/scoped/, /conf/apikey/,
// /conf/limited/, /conf/ip-limited/).
var authExtendedRoutes = []Route{
	// Traffic that must keep flowing while the config is replaced.
	{ID: "a-reload-steady", Pattern: "/conf/a-reload-steady/*", Backend: BackendBeta, Auth: NoAuth, Needs: ConfigReload},
	// CORS: its policy is in RouteExtras (the Route struct has no CORS
	// field yet).
	{ID: routeCORS, Pattern: "/conf/a-cors/*", Methods: []string{"GET", "POST"}, Backend: BackendAlpha, Auth: NoAuth, Needs: CORS},
	// The limiter's fail modes, served by a target whose limiter store is
	// down (LimiterStoreDowner). Fail-open is the default; fail-closed is
	// in RouteExtras.
	{ID: "a-fail-open", Pattern: "/conf/a-fail-open/*", Backend: BackendAlpha, Auth: JWTAuth, Tier: "conf-roomy", Needs: FailMode},
	{ID: routeFailClosed, Pattern: "/conf/a-fail-closed/*", Backend: BackendAlpha, Auth: JWTAuth, Tier: "conf-roomy", Needs: FailMode},
	// Load shedding by priority, on a target with a small in-flight limit
	// of its own (ShedTarget): P0 is never shed, P3 first.
	{ID: "a-shed-critical", Pattern: "/conf/a-shed-critical/*", Backend: BackendAlpha, Auth: NoAuth, Priority: "P0", Needs: Shedding},
	{ID: "a-shed-low", Pattern: "/conf/a-shed-low/*", Backend: BackendAlpha, Auth: NoAuth, Priority: "P3", Needs: Shedding},
}

const (
	routeCORS       = "a-cors"
	routeFailClosed = "a-fail-closed"
	// CORSOrigin is the one origin the CORS route allows.
	CORSOrigin = "https://app.conf.test"
)

// RouteExtra is route config the neutral Route cannot express yet, by route
// ID. A target renders it with the route; a target that cannot must not
// declare the feature the route Needs.
type RouteExtra struct {
	// FailClosed: the route rejects requests (503) when the rate limiter
	// cannot decide, instead of admitting them (fail-open, the default).
	FailClosed bool
	// CORS is the route's cross-origin policy; nil: none.
	CORS *CORSPolicy
}

// CORSPolicy is a route's cross-origin policy, in neutral terms (gatelab's
// route.cors).
type CORSPolicy struct {
	AllowedOrigins []string
	// AllowedMethods: empty means the route's methods.
	AllowedMethods []string
	AllowedHeaders []string
	MaxAgeSeconds  int
}

// RouteExtras holds the RouteExtra of the fixture routes that have one.
var RouteExtras = map[string]RouteExtra{
	routeCORS: {CORS: &CORSPolicy{
		AllowedOrigins: []string{CORSOrigin},
		AllowedHeaders: []string{"X-Conf-Header", "Content-Type"},
		MaxAgeSeconds:  600,
	}},
	routeFailClosed: {FailClosed: true},
}
