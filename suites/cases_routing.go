package suites

// routingCases: which backend gets a request, and with what path.
var routingCases = []Case{
	{
		ID:          "routing/longest-prefix",
		Description: "A request goes to the route with the longest matching prefix, with strip_prefix removed from the path the backend sees; the query is kept.",
		Level:       Core,
		Features:    []Feature{RoutingPrefix},
		Run: func(t *T) {
			for _, c := range []struct{ path, backend, upstreamPath, query string }{
				{"/conf/prefix/a?x=1", BackendAlpha, "/prefix/a", "x=1"},
				{"/conf/prefix/deeper/b?y=2", BackendBeta, "/prefix/deeper/b", "y=2"},
				{"/conf/prefix/deeperx", BackendAlpha, "/prefix/deeperx", ""}, // a prefix matches whole segments
			} {
				r := t.Get(c.path, nil)
				e := t.MustEcho(r)
				if r.Status != 200 || e.Name != c.backend || e.Path != c.upstreamPath || e.Query != c.query {
					t.Errorf("GET %s: status %d, backend %q path %q query %q; want 200 from %s at %s query %q",
						c.path, r.Status, e.Name, e.Path, e.Query, c.backend, c.upstreamPath, c.query)
				}
			}
		},
	},
}
