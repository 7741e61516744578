package suites

// authExtendedRoutes are the routes the auth, rate-limit and extended cases
// add to the fixture.
var authExtendedRoutes = []Route{}
