package suites

// authExtendedRoutes are the routes the auth, rate-limit and extended cases
// add to the fixture (paths /conf/a-...). The auth and rate-limit cases use
// the base routes (/conf/jwt/, /conf/scoped/, /conf/apikey/,
// /conf/limited/, /conf/ip-limited/).
var authExtendedRoutes = []Route{
	// Traffic that must keep flowing while the config is replaced.
	{ID: "a-reload-steady", Pattern: "/conf/a-reload-steady/*", Backend: BackendBeta, Auth: NoAuth, Needs: ConfigReload},
	// CORS from one explicit origin.
	{ID: "a-cors", Pattern: "/conf/a-cors/*", Methods: []string{"GET", "POST"}, Backend: BackendAlpha, Auth: NoAuth, Needs: CORS,
		CORS: &CORSPolicy{AllowedOrigins: []string{CORSOrigin}, AllowedHeaders: []string{"X-Conf-Header", "Content-Type"}, MaxAgeSeconds: 600}},
	// The limiter's fail modes, served by a target whose limiter store is
	// down (LimiterStoreDowner). Fail-open is the default.
	{ID: "a-fail-open", Pattern: "/conf/a-fail-open/*", Backend: BackendAlpha, Auth: JWTAuth, Tier: "conf-roomy", Needs: FailMode},
	{ID: "a-fail-closed", Pattern: "/conf/a-fail-closed/*", Backend: BackendAlpha, Auth: JWTAuth, Tier: "conf-roomy", Needs: FailMode, FailClosed: true},
	// Load shedding by priority, on a target with a small in-flight limit
	// of its own (ShedTarget): P0 is never shed, P3 first.
	{ID: "a-shed-critical", Pattern: "/conf/a-shed-critical/*", Backend: BackendAlpha, Auth: NoAuth, Priority: "P0", Needs: Shedding},
	{ID: "a-shed-low", Pattern: "/conf/a-shed-low/*", Backend: BackendAlpha, Auth: NoAuth, Priority: "P3", Needs: Shedding},
}

// CORSOrigin is the one origin the CORS route allows.
const CORSOrigin = "https://app.conf.test"

// CORSPolicy is a route's cross-origin policy, in neutral terms (gatelab's
// route.cors).
type CORSPolicy struct {
	AllowedOrigins []string
	// AllowedMethods: empty means the route's methods.
	AllowedMethods []string
	AllowedHeaders []string
	MaxAgeSeconds  int
}
