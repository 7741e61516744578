package suites

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// rateLimitCases: counting per credential and per client address. Every
// case counts under credentials of its own (a new subject, a new loopback
// client address), so parallel cases, and targets sharing a limiter store,
// never share a counter; a count that straddles a window boundary is
// repeated (inOneWindow). Routes: /conf/limited/ (tier conf-tight, per
// subject), /conf/jwt/ (conf-roomy), /conf/ip-limited/ (conf-ip, per
// client IP; only ratelimit/per-ip uses it).
var rateLimitCases = []Case{
	{
		ID:          "ratelimit/429-with-headers",
		Description: "On a 5-per-minute tier the first 5 requests of a subject pass with X-RateLimit-Limit/-Remaining/-Reset and RateLimit-Policy/RateLimit counting down; the 6th gets 429 with Retry-After, Remaining 0, and reaches no backend.",
		Level:       Core,
		Features:    []Feature{RateLimit},
		Run: func(t *T) {
			tier := tierNamed("conf-tight")
			t.inOneWindow(time.Minute, func() []string {
				sub := t.Subject("tight")
				return t.exhaust("/conf/limited/x", Bearer(t.Token(sub, nil, 5*time.Minute, nil)), tier, sub)
			})
		},
	},
	{
		ID:          "ratelimit/per-subject",
		Description: "A subject that used up its limit does not limit another subject on the same route: the other's first request passes with the full count left.",
		Level:       Core,
		Features:    []Feature{RateLimit},
		Run: func(t *T) {
			tier := tierNamed("conf-tight")
			t.inOneWindow(time.Minute, func() []string {
				sub := t.Subject("tight-a")
				p := t.exhaust("/conf/limited/x", Bearer(t.Token(sub, nil, 5*time.Minute, nil)), tier, sub)
				other := t.Subject("tight-b")
				r := t.Get("/conf/limited/x", Bearer(t.Token(other, nil, 5*time.Minute, nil)))
				return append(p, passedProblems("another subject's first request", r, tier, tier.Limit-1)...)
			})
		},
	},
	{
		ID:          "ratelimit/tiers",
		Description: "Each tier has its own limit and counter: a subject limited on the 5-per-minute tier still passes on a route of the 1,000,000-per-minute tier, whose headers give that limit and a full count.",
		Level:       Core,
		Features:    []Feature{RateLimit, AuthJWT},
		Run: func(t *T) {
			tight, roomy := tierNamed("conf-tight"), tierNamed("conf-roomy")
			t.inOneWindow(time.Minute, func() []string {
				sub := t.Subject("tiers")
				tok := t.Token(sub, nil, 5*time.Minute, nil)
				p := t.exhaust("/conf/limited/x", Bearer(tok), tight, sub)
				r := t.Get("/conf/jwt/tiers", Bearer(tok))
				return append(p, passedProblems("the limited subject on the conf-roomy tier", r, roomy, roomy.Limit-1)...)
			})
		},
	},
	{
		ID:          "ratelimit/per-ip",
		Description: "On an unauthenticated route limited to 5 per minute per client IP, the 6th request from one address gets 429 with Retry-After while another address still passes; the backend sees the client's address in X-Forwarded-For.",
		Level:       Core,
		Features:    []Feature{RateLimitIP},
		Run: func(t *T) {
			if !t.targetOnLoopback() {
				t.Skipf("the case connects from loopback addresses of its own (a fresh client IP per run); the target %s is not on loopback", t.Target.URL())
			}
			if err := canSendFrom(freshLoopbackIP()); err != nil {
				t.Skipf("the case connects from loopback addresses of its own (a fresh client IP per run), which this machine does not allow: %v", err)
			}
			tier := tierNamed("conf-ip")
			t.inOneWindow(time.Minute, func() []string {
				ip, other := freshLoopbackIP(), freshLoopbackIP()
				ca, cb := clientFrom(ip), clientFrom(other)
				defer ca.CloseIdleConnections()
				defer cb.CloseIdleConnections()
				var p []string
				for i := 1; i <= tier.Limit; i++ {
					r := t.mustSendVia(ca, "", "GET", "/conf/ip-limited/x", nil)
					what := fmt.Sprintf("request %d from %s", i, ip)
					if q := passedProblems(what, r, tier, tier.Limit-i); len(q) > 0 {
						return append(p, q...)
					}
					if xff := r.Echo.Values("X-Forwarded-For"); len(xff) == 0 || lastListItem(xff) != ip {
						p = append(p, fmt.Sprintf("%s: the backend got X-Forwarded-For %q, want it to end with %s", what, xff, ip))
					}
				}
				r := t.mustSendVia(ca, "", "GET", "/conf/ip-limited/x", nil)
				p = append(p, rejectedProblems(fmt.Sprintf("request %d from %s", tier.Limit+1, ip), r, tier)...)
				r = t.mustSendVia(cb, "", "GET", "/conf/ip-limited/x", nil)
				return append(p, passedProblems("the first request from another address "+other, r, tier, tier.Limit-1)...)
			})
		},
	},
}

// tierNamed is the fixture tier of that name.
func tierNamed(name string) Tier {
	for _, t := range Tiers {
		if t.Name == name {
			return t
		}
	}
	panic("suites: no fixture tier " + name)
}

// exhaust sends tier.Limit+1 requests to path with header as subject sub:
// the first Limit must pass (reaching the backend as sub) with the limit
// fields counting down, the last must be refused with 429. It returns the
// problems found; it stops at the first request that did not pass.
func (t *T) exhaust(path string, header map[string]string, tier Tier, sub string) []string {
	var p []string
	for i := 1; i <= tier.Limit; i++ {
		r := t.Get(path, header)
		what := fmt.Sprintf("request %d of %s", i, sub)
		if q := passedProblems(what, r, tier, tier.Limit-i); len(q) > 0 {
			return append(p, q...)
		}
		if v := r.Echo.Values("X-User-ID"); len(v) != 1 || v[0] != sub {
			p = append(p, fmt.Sprintf("%s: the backend got X-User-ID %q, want [%q]", what, v, sub))
		}
	}
	r := t.Get(path, header)
	return append(p, rejectedProblems(fmt.Sprintf("request %d of %s", tier.Limit+1, sub), r, tier)...)
}

// passedProblems checks a request admitted on a route of tier: 200 from a
// backend, with the limit fields and remaining left.
func passedProblems(what string, r *Response, tier Tier, remaining int) []string {
	if r.Status != 200 || r.Echo == nil {
		return []string{fmt.Sprintf("%s: status %d (body %s), want 200 from a backend", what, r.Status, excerpt(r))}
	}
	return limitFieldProblems(what, r, tier, remaining)
}

// rejectedProblems checks a request over the limit of tier: 429 with
// Retry-After, the limit fields at 0 remaining, no backend reached.
func rejectedProblems(what string, r *Response, tier Tier) []string {
	if r.Status != 429 {
		return []string{fmt.Sprintf("%s: status %d (body %s), want 429", what, r.Status, excerpt(r))}
	}
	var p []string
	if r.Echo != nil {
		p = append(p, fmt.Sprintf("%s: 429, yet the request reached backend %q", what, r.Echo.Name))
	}
	window := int64(time.Minute / time.Second)
	ra, err := strconv.ParseInt(r.Header.Get("Retry-After"), 10, 64)
	if err != nil || ra < 1 || ra > window+1 {
		p = append(p, fmt.Sprintf("%s: Retry-After %q, want whole seconds in [1, %d]", what, r.Header.Get("Retry-After"), window+1))
	}
	p = append(p, limitFieldProblems(what, r, tier, 0)...)
	// The RateLimit field's t and Retry-After name the same moment.
	if _, params, ok := sfItem(r.Header.Get("RateLimit")); ok && err == nil {
		if tt, err := strconv.ParseInt(params["t"], 10, 64); err == nil && (tt-ra > 1 || ra-tt > 1) {
			p = append(p, fmt.Sprintf("%s: RateLimit t=%d but Retry-After %d", what, tt, ra))
		}
	}
	return p
}

// limitFieldProblems checks the rate-limit fields of a response on a route
// of tier: X-RateLimit-Limit, -Remaining and -Reset, RateLimit-Policy
// ("name";q=limit;w=60) and RateLimit ("name";r=remaining;t=seconds).
func limitFieldProblems(what string, r *Response, tier Tier, remaining int) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, what+": "+fmt.Sprintf(format, args...)) }
	window := int64(time.Minute / time.Second)
	fields := []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy", "RateLimit"}
	present := 0
	for _, f := range fields {
		if r.Header.Get(f) != "" {
			present++
		}
	}
	if present == 0 {
		bad("none of the rate-limit fields (%s): the target answered without a limiter decision "+
			"(gatelab: its limiter did not decide within the route's rate_limit_deadline_ms and the route fails open)", strings.Join(fields, ", "))
		return p
	}
	if got := r.Header.Get("X-RateLimit-Limit"); got != strconv.Itoa(tier.Limit) {
		bad("X-RateLimit-Limit %q, want %d (tier %s)", got, tier.Limit, tier.Name)
	}
	if got := r.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(remaining) {
		bad("X-RateLimit-Remaining %q, want %d", got, remaining)
	}
	// Reset is epoch seconds (the common use) or, for some gateways,
	// seconds from now; either way within a window of now.
	now := time.Now().Unix()
	if reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64); err != nil ||
		!(reset >= 0 && reset <= window+1 || reset >= now-2 && reset <= now+window+2) {
		bad("X-RateLimit-Reset %q, want the end of the window (epoch seconds, or seconds from now)", r.Header.Get("X-RateLimit-Reset"))
	}
	name, params, ok := sfItem(r.Header.Get("RateLimit-Policy"))
	if !ok || params["q"] != strconv.Itoa(tier.Limit) || params["w"] != strconv.FormatInt(window, 10) {
		bad("RateLimit-Policy %q, want a policy with q=%d;w=%d", r.Header.Get("RateLimit-Policy"), tier.Limit, window)
	}
	rname, rparams, rok := sfItem(r.Header.Get("RateLimit"))
	tt, err := strconv.ParseInt(rparams["t"], 10, 64)
	if !rok || rname != name || rparams["r"] != strconv.Itoa(remaining) || err != nil || tt < 0 || tt > window+1 {
		bad("RateLimit %q, want policy %q with r=%d and t in [0, %d]", r.Header.Get("RateLimit"), name, remaining, window+1)
	}
	return p
}

// sfItem parses the first item of a structured-field list such as
// `"tier";q=5;w=60`: its name (a string or token) and its parameters.
func sfItem(v string) (string, map[string]string, bool) {
	item, _, _ := strings.Cut(v, ",")
	parts := strings.Split(strings.TrimSpace(item), ";")
	name := strings.TrimSpace(parts[0])
	if unq, err := strconv.Unquote(name); err == nil {
		name = unq
	}
	params := map[string]string{}
	for _, kv := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		params[k] = val
	}
	return name, params, name != ""
}

// lastListItem is the last element of a comma-separated header's values.
func lastListItem(values []string) string {
	items := strings.Split(values[len(values)-1], ",")
	return strings.TrimSpace(items[len(items)-1])
}
