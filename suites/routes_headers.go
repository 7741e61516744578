package suites

// headerLimitRoutes are the routes the header, upstream-error and limit
// cases add to the fixture.
var headerLimitRoutes = []Route{}
