package peers

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// haproxyQuote writes s as one haproxy config word in single quotes, inside
// which nothing is interpreted (no '\' escapes, no "$VAR" expansion); a
// single quote in s closes the quotes, is written escaped and reopens them
// ('it'\”s'), which haproxy joins into one word as a shell does.
func haproxyQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// haproxyBackend is the backend (and ACL) name of a route.
func haproxyBackend(r Route) string { return "route_" + r.ID }

// renderHAProxy renders a checked, defaulted Config.
func renderHAProxy(c Config) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	w("# haproxy.cfg rendered by gatelab harness/peers from the lab's route table.")
	w("# A plain reverse proxy: no auth, no rate limiting, no stats. Run it in the")
	w("# foreground:  haproxy -W -db -f DIR/haproxy.cfg")
	w("# (DIR is the directory the pid file below is in).")
	w("global")
	w("    nbthread %d", c.Workers)
	w("    maxconn 8192")
	w("    pidfile %s", haproxyQuote(path.Join(c.Dir, "haproxy.pid")))
	w("    hard-stop-after 10s")
	if c.AccessLog {
		w("    log stdout format raw local0")
	}
	w("")
	w("defaults")
	w("    mode http")
	if c.AccessLog {
		w("    log global")
		w("    option httplog")
	}
	w("    option forwardfor")
	w("    http-reuse always")
	w("    maxconn 8192")
	w("    timeout connect %dms", DefaultTimeoutMS)
	w("    timeout server %dms", DefaultTimeoutMS)
	w("    timeout client 60s")
	w("    timeout http-request 10s")
	w("    timeout http-keep-alive 60s")
	w("    # Idle upstream connections kept per server, and for how long.")
	w("    default-server pool-max-conn %d pool-purge-delay 60s", c.KeepAlive)
	w("")
	w("frontend peer")
	w("    bind %s", c.Listen)
	w("    # X-Forwarded-For is replaced (option forwardfor adds the client's")
	w("    # address), as nginx and gatelab do, not appended to.")
	w("    http-request del-header X-Forwarded-For")
	if c.RequestID {
		w("    # X-Request-ID: the client's when well formed, else a version 4 UUID;")
		w("    # the same one upstream and back to the client.")
		w("    http-request set-var(txn.request_id) req.fhdr(x-request-id) if { req.fhdr(x-request-id) -m reg %s }", haproxyQuote(requestIDPattern))
		w("    http-request set-var(txn.request_id) uuid unless { var(txn.request_id) -m found }")
		w("    http-request set-header X-Request-ID %%[var(txn.request_id)]")
		w("    http-response set-header X-Request-ID %%[var(txn.request_id)]")
	}
	for _, r := range c.Routes {
		w("    acl %s path_beg %s", haproxyBackend(r), haproxyQuote(r.Prefix))
	}
	// Base paths are exact matches, which beat every prefix (as nginx's
	// "location =" does and gatelab's longest match would): they go first.
	for _, r := range c.Routes {
		if r.Base {
			w("    use_backend %s if { path %s }", haproxyBackend(r), haproxyQuote(basePath(r)))
		}
	}
	// haproxy takes the first use_backend that matches; nginx and gatelab
	// take the longest prefix. Longest first makes them agree.
	order := slices.Clone(c.Routes)
	slices.SortStableFunc(order, func(a, b Route) int { return len(b.Prefix) - len(a.Prefix) })
	for _, r := range order {
		w("    use_backend %s if %s", haproxyBackend(r), haproxyBackend(r))
	}
	w("    default_backend no_route")
	for _, r := range c.Routes {
		w("")
		w("backend %s", haproxyBackend(r))
		w("    balance roundrobin")
		w("    timeout connect %dms", r.TimeoutMS)
		w("    timeout server %dms", r.TimeoutMS)
		if r.Base && basePath(r) == r.StripPrefix {
			// The base path stripped whole becomes "/" (the next rule
			// cannot give it: it needs a '/' after the strip prefix).
			w("    http-request replace-path %s '/'", haproxyQuote("^"+regexp.QuoteMeta(r.StripPrefix)+"$"))
		}
		if r.StripPrefix != "" {
			// The query string is kept: replace-path works on the path only.
			w("    http-request replace-path %s %s", haproxyQuote("^"+regexp.QuoteMeta(r.StripPrefix)+"(/.*)$"), haproxyQuote(`\1`))
		}
		for i, u := range r.Upstreams {
			w("    server s%d %s", i, u)
		}
	}
	w("")
	w("# No route: 404, as gatelab answers.")
	w("backend no_route")
	w("    http-request return status 404")
	return b.String()
}
