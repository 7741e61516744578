package suites

// headerLimitRoutes are the routes the routing, header, upstream-error and
// limit cases add to the fixture (paths under /conf/h-...).
var headerLimitRoutes = []Route{
	// strip_prefix of a whole prefix route: its base becomes "/".
	{ID: "h-strip", Pattern: "/conf/h-strip/*", Backend: BackendGamma, Strip: "/conf/h-strip", Auth: NoAuth, Needs: RoutingPrefix},
	// One pattern, two routes by method: GET to alpha, POST to beta; other
	// methods get 405 with both in Allow.
	{ID: "h-method-get", Pattern: "/conf/h-method/*", Methods: []string{"GET"}, Backend: BackendAlpha, Auth: NoAuth, Needs: RoutingMethods},
	{ID: "h-method-post", Pattern: "/conf/h-method/*", Methods: []string{"POST"}, Backend: BackendBeta, Auth: NoAuth, Needs: RoutingMethods},
	// The open-breaker case's own route, to the backend whose breaker it opens.
	{ID: "h-breaker", Pattern: "/conf/h-breaker/*", Backend: BackendBreaker, Auth: NoAuth, Needs: UpstreamBreaker},
}
