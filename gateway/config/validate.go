package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/net/http/httpguts"

	"github.com/gatelab/gatelab/gateway/policy"
)

// Validate checks c (normally after ApplyDefaults) and returns every problem
// found as Problems, or nil. It never modifies c. It reads the files the
// config names (auth.jwt.jwks_file, auth.api_keys_file) to check they are
// readable; it does not merge api_keys_file entries (Load and Parse do).
//
// Zero means "default" for numbers (ApplyDefaults replaces it), so after
// defaults a zero or negative timeout, limit, window or size is an error.
// Engine names are only checked for form here (lower case, non-empty): the
// engines registry knows which exist.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.top()
	v.tiers()
	v.backends()
	v.routes()
	v.auth()
	v.limiter()
	v.shedding()
	v.admin()
	if c.src != nil {
		v.probs.sortByPosition(c.src.file)
	}
	return v.probs.err()
}

type validator struct {
	c     *Config
	probs Problems

	tierByName    map[string]*Tier
	backendByName map[string]bool
}

// add records a problem with the setting at path, an index path like
// "routes[3].backend"; the problem's Path names the entry too (EntryPath).
func (v *validator) add(path, format string, args ...any) {
	pos := v.c.src.locate(path)
	v.probs = append(v.probs, Problem{File: pos.file, Line: pos.line, Path: labelPath(path, v.entryName), Msg: fmt.Sprintf(format, args...), at: path})
}

// entryName is the name (id) of entry i of a list in namedLists, "" if it
// has none.
func (v *validator) entryName(list string, i int) string {
	c := v.c
	inline := len(c.Auth.APIKeys)
	if c.src != nil {
		inline = c.src.inlineKeys
	}
	switch {
	case list == "routes" && i < len(c.Routes):
		return c.Routes[i].ID
	case list == "backends" && i < len(c.Backends):
		return c.Backends[i].Name
	case list == "rate_limits.tiers" && i < len(c.RateLimit.Tiers):
		return c.RateLimit.Tiers[i].Name
	case list == "auth.api_keys" && i < min(inline, len(c.Auth.APIKeys)):
		return c.Auth.APIKeys[i].ID
	case list == "auth.api_keys_file" && inline+i < len(c.Auth.APIKeys):
		return c.Auth.APIKeys[inline+i].ID
	case list == "admin.tokens" && i < len(c.Admin.Tokens):
		return c.Admin.Tokens[i].ID
	}
	return ""
}

// --- listen, limits, engines, gateway, access log --------------------------

func (v *validator) top() {
	c := v.c
	if c.Version < 0 {
		v.add("version", "must not be negative (0 means: assign the next version)")
	}
	v.listenAddr("listen.traffic", c.Listen.Traffic)
	v.listenAddr("listen.admin", c.Listen.Admin)

	l := c.Limits
	for _, d := range []struct {
		path string
		val  int64
	}{
		{"limits.read_header_timeout", int64(l.ReadHeaderTimeout)},
		{"limits.read_timeout", int64(l.ReadTimeout)},
		{"limits.write_timeout", int64(l.WriteTimeout)},
		{"limits.idle_timeout", int64(l.IdleTimeout)},
		{"limits.max_header_bytes", int64(l.MaxHeaderBytes)},
		{"limits.max_body_bytes", l.MaxBodyBytes},
		{"limits.buffer_body_bytes", l.BufferBodyBytes},
		{"limits.max_conns_per_backend", int64(l.MaxConnsPerHost)},
		{"limits.upstream_idle_timeout", int64(l.UpstreamIdle)},
	} {
		if d.val < 0 {
			v.add(d.path, "must not be negative")
		}
	}

	for _, e := range []struct{ path, name string }{
		{"engines.server", c.Engines.Server},
		{"engines.router", c.Engines.Router},
		{"engines.limiter", c.Engines.Limiter},
	} {
		if e.name == "" || e.name != strings.ToLower(e.name) || strings.TrimSpace(e.name) != e.name {
			v.add(e.path, "engine name %q must be a non-empty lower-case name", e.name)
		}
	}

	if l.MaxConnections < 1 {
		v.add("limits.max_connections", "must be at least 1 (or left out for the default %d)", DefaultMaxConnections)
	}

	if p := c.Gateway.ForwardedProto; p != "http" && p != "https" {
		v.add("gateway.forwarded_proto", "%q: want http or https", p)
	}
	v.stripHeaders()

	a := c.AccessLog
	if a.Output == "" {
		v.add("access_log.output", "must be stdout, stderr, off or a file path")
	}
	if a.Buffer <= 0 {
		v.add("access_log.buffer", "must be > 0")
	}
	if a.SuccessSample != nil && (*a.SuccessSample < 0 || *a.SuccessSample > 1) {
		v.add("access_log.success_sample", "%v: must be between 0 and 1", *a.SuccessSample)
	}
}

// MaxStripHeaderLen bounds the names in gateway.strip_inbound_headers, so
// the pipeline can compare them in a fixed buffer without allocating.
const MaxStripHeaderLen = 64

// stripHeaders checks gateway.strip_inbound_headers: header names, each
// once. Names are compared as the engines compare them: case-insensitively,
// and with '_' equal to '-' (some servers and CGI-style backends merge the
// two, so "X_Real_IP" reaches them as X-Real-IP).
func (v *validator) stripHeaders() {
	first := map[string]int{}
	for i, h := range v.c.Gateway.StripInboundHeaders {
		p := fmt.Sprintf("gateway.strip_inbound_headers[%d]", i)
		if !httpguts.ValidHeaderFieldName(h) {
			v.add(p, "%q is not a header name (letters, digits and !#$%%&'*+-.^_`|~, nothing else)", h)
			continue
		}
		if len(h) > MaxStripHeaderLen {
			v.add(p, "%q is longer than %d characters", h, MaxStripHeaderLen)
			continue
		}
		k := strings.ToLower(strings.ReplaceAll(h, "_", "-"))
		if j, dup := first[k]; dup {
			v.add(p, "%q is listed twice (also gateway.strip_inbound_headers[%d]; names ignore case, and '_' counts as '-')", h, j)
			continue
		}
		first[k] = i
	}
}

// limiter checks the limiter: section through the engines registry's hook
// (SetLimiterCheck): each engine decodes and checks its own section.
func (v *validator) limiter() {
	check := limiterCheck.Load()
	if check == nil {
		return
	}
	for _, p := range (*check)(v.c.Engines.Limiter, v.c.Limiter) {
		v.add(p.Path, "%s", p.Msg)
	}
}

func (v *validator) listenAddr(path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(path, "%q is not host:port: %v", addr, addrErr(err))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(path, "%q: port must be a number from 0 to 65535", addr)
	}
}

func addrErr(err error) string {
	if ae, ok := err.(*net.AddrError); ok {
		return ae.Err
	}
	return err.Error()
}

// --- rate-limit tiers -----------------------------------------------------

func (v *validator) tiers() {
	v.tierByName = map[string]*Tier{}
	first := map[string]int{}
	for i := range v.c.RateLimit.Tiers {
		t := &v.c.RateLimit.Tiers[i]
		p := fmt.Sprintf("rate_limits.tiers[%d]", i)
		if t.Name == "" {
			v.add(p+".name", "is required")
		} else if j, dup := first[t.Name]; dup {
			v.add(p+".name", "duplicate tier name %q (also rate_limits.tiers[%d])", t.Name, j)
		} else {
			first[t.Name] = i
			v.tierByName[t.Name] = t
		}
		if t.Limit <= 0 {
			v.add(p+".limit", "must be > 0 requests per window")
		}
		if t.Window <= 0 {
			v.add(p+".window", "must be a duration > 0, like 60s")
		}
		checkEnum(v, p+".key", t.Key, policy.LimitKeyKinds(), true)
		checkEnum(v, p+".algorithm", t.Algorithm, policy.LimitAlgorithms(), false)
	}
}

// --- backends --------------------------------------------------------------

func (v *validator) backends() {
	v.backendByName = map[string]bool{}
	first := map[string]int{}
	for i, b := range v.c.Backends {
		p := fmt.Sprintf("backends[%d]", i)
		switch j, dup := first[b.Name]; {
		case b.Name == "":
			v.add(p+".name", "is required")
		case b.Name == BackendSelf:
			v.add(p+".name", "%q is reserved for the gateway's own answers", BackendSelf)
		case dup:
			v.add(p+".name", "duplicate backend name %q (also backends[%d])", b.Name, j)
		default:
			first[b.Name] = i
			v.backendByName[b.Name] = true
		}
		if len(b.Instances) == 0 {
			v.add(p+".instances", "at least one instance is required")
		}
		for k, in := range b.Instances {
			ip := fmt.Sprintf("%s.instances[%d]", p, k)
			if msg := checkInstanceURL(in.URL); msg != "" {
				v.add(ip+".url", "%q: %s", RedactURL(in.URL), msg)
			}
			if in.Weight < 0 {
				v.add(ip+".weight", "must not be negative")
			}
		}
		if !strings.HasPrefix(b.HealthCheck.Path, "/") {
			v.add(p+".health_check.path", "%q must start with '/'", b.HealthCheck.Path)
		}
		v.health(p+".health_check", &b.HealthCheck)
		checkEnum(v, p+".balance", b.Balance, policy.Balances(), false)
		if b.MaxInFlight < 1 {
			v.add(p+".max_in_flight", "must be at least 1")
		}
		v.breaker(p+".circuit_breaker", &b.CircuitBreaker)
	}
}

func (v *validator) health(p string, h *HealthCheck) {
	for _, d := range []struct {
		name string
		val  time.Duration
	}{{"interval", h.Interval}, {"timeout", h.Timeout}, {"eject_for", h.EjectFor}, {"flap_holddown", h.FlapHolddown}} {
		if d.val <= 0 {
			v.add(p+"."+d.name, "must be positive")
		}
	}
	if h.Timeout > h.Interval && h.Interval > 0 {
		v.add(p+".timeout", "%s is longer than the interval %s", h.Timeout, h.Interval)
	}
	for _, n := range []struct {
		name string
		val  int
	}{{"unhealthy_after", h.UnhealthyAfter}, {"healthy_after", h.HealthyAfter}, {"passive_failures", h.PassiveFailures}} {
		if n.val < 1 {
			v.add(p+"."+n.name, "must be at least 1")
		}
	}
}

func (v *validator) breaker(p string, cb *CircuitBreaker) {
	for _, d := range []struct {
		name string
		val  time.Duration
	}{{"window", cb.Window}, {"open_for", cb.OpenFor}, {"ramp_step", cb.RampStep}} {
		if d.val <= 0 {
			v.add(p+"."+d.name, "must be positive")
		}
	}
	if cb.MinRequests < 1 {
		v.add(p+".min_requests", "must be at least 1")
	}
	if cb.ProbeSuccesses < 1 {
		v.add(p+".probe_successes", "must be at least 1")
	}
	if cb.FailureRatio <= 0 || cb.FailureRatio >= 1 {
		v.add(p+".failure_ratio", "%g: want a fraction between 0 and 1", cb.FailureRatio)
	}
	last := 0
	for i, pct := range cb.RampSteps {
		if pct <= last || pct > 100 {
			v.add(fmt.Sprintf("%s.ramp_steps[%d]", p, i), "%d: steps must rise, each between 1 and 100", pct)
		}
		last = pct
	}
	if last != 100 && len(cb.RampSteps) > 0 {
		v.add(p+".ramp_steps", "must end at 100")
	}
}

// --- shedding and admin ----------------------------------------------------

func (v *validator) shedding() {
	s := &v.c.Shedding
	if s.MaxInFlight < 1 {
		v.add("shedding.max_in_flight", "must be at least 1")
	}
	prev := 1.0
	for _, t := range []struct {
		name string
		val  float64
	}{{"p1", s.P1}, {"p2", s.P2}, {"p3", s.P3}} {
		if t.val <= 0 || t.val > 1 {
			v.add("shedding."+t.name, "%g: want a fraction in (0, 1]", t.val)
		} else if t.val > prev {
			v.add("shedding."+t.name, "%g is above the threshold of a higher priority (%g): lower priorities must shed first", t.val, prev)
		}
		prev = t.val
	}
}

func (v *validator) admin() {
	ids := map[string]int{}
	hashes := map[string]int{}
	for i, t := range v.c.Admin.Tokens {
		p := fmt.Sprintf("admin.tokens[%d]", i)
		switch j, dup := ids[t.ID]; {
		case t.ID == "":
			v.add(p+".id", "is required (names the caller in the audit log)")
		case dup:
			v.add(p+".id", "duplicate admin token id %q (also admin.tokens[%d])", t.ID, j)
		default:
			ids[t.ID] = i
		}
		h := strings.ToLower(t.SHA256)
		if _, err := hex.DecodeString(h); err != nil || len(h) != 64 {
			v.add(p+".sha256", "want 64 hex digits (the SHA-256 of the token), got %d characters", len(t.SHA256))
		} else if j, dup := hashes[h]; dup {
			v.add(p+".sha256", "the same token hash as admin.tokens[%d]", j)
		} else {
			hashes[h] = i
		}
	}
	if v.c.Admin.AuditLog == "" {
		v.add("admin.audit_log", "is required (stderr, stdout, off or a file path)")
	}
}

func checkInstanceURL(s string) string {
	const want = "want http://host:port or https://host:port"
	u, err := url.Parse(s)
	if err != nil {
		return want
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return want
	}
	if u.Hostname() == "" || u.Port() == "" {
		return want + " (host and port are required)"
	}
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return "port must be from 1 to 65535"
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return want + " (no path, query or credentials)"
	}
	return ""
}

// --- routes -----------------------------------------------------------------

func (v *validator) routes() {
	type seenPattern struct {
		index   int
		methods policy.MethodSet
	}
	ids := map[string]int{}
	patterns := map[string][]seenPattern{}

	for i := range v.c.Routes {
		r := &v.c.Routes[i]
		p := fmt.Sprintf("routes[%d]", i)

		// id
		switch j, dup := ids[r.ID]; {
		case r.ID == "":
			v.add(p+".id", "is required")
		case !validID(r.ID):
			v.add(p+".id", "%q: use only letters, digits, '-', '_' and '.' (ids label metrics and logs)", r.ID)
		case dup:
			v.add(p+".id", "duplicate route id %q (also routes[%d])", r.ID, j)
		default:
			ids[r.ID] = i
		}

		// methods
		var set policy.MethodSet
		for k, m := range r.Methods {
			mp := fmt.Sprintf("%s.methods[%d]", p, k)
			switch {
			case !m.Valid():
				v.add(mp, "invalid method %d: want one of %s", uint8(m), policy.KnownMethods)
			case set.Has(m):
				v.add(mp, "method %s is listed twice", m)
			}
			set = set.With(m)
		}
		if len(r.Methods) == 0 {
			set = policy.AllMethods
		}

		// pattern, and its uniqueness per method
		if _, err := policy.ParsePattern(r.Pattern); err != nil {
			v.add(p+".pattern", "%q: %v", r.Pattern, err)
		} else {
			for _, s := range patterns[r.Pattern] {
				if both := s.methods & set; both != 0 {
					v.add(p+".pattern", "%q for %s is already routed by routes[%d] (%s)", r.Pattern, both.Allow(), s.index, v.c.Routes[s.index].ID)
					break
				}
			}
			patterns[r.Pattern] = append(patterns[r.Pattern], seenPattern{i, set})

			if r.StripPrefix != "" && !policy.IsSegmentPrefix(r.StripPrefix, r.Pattern) {
				v.add(p+".strip_prefix", "%q is not a whole-segment prefix of the pattern %q", r.StripPrefix, r.Pattern)
			}
		}

		// backend
		if r.Backend == "" {
			v.add(p+".backend", "is required (a backend name, or %q)", BackendSelf)
		} else if r.Backend != BackendSelf && !v.backendByName[r.Backend] {
			v.add(p+".backend", "unknown backend %q", r.Backend)
		}

		// auth and scopes
		checkEnum(v, p+".auth", r.Auth, policy.Auths(), false)
		if r.Auth == AuthNone && len(r.RequiredScopes) > 0 {
			v.add(p+".required_scopes", "needs an authenticated route: auth none has no scopes to check")
		}

		// rate limiting
		if r.RateLimitTier != "" {
			t, ok := v.tierByName[r.RateLimitTier]
			switch {
			case !ok:
				v.add(p+".rate_limit_tier", "unknown tier %q", r.RateLimitTier)
			case t.Key == policy.KeyUserID && r.Auth == AuthNone:
				v.add(p+".rate_limit_tier", "tier %q counts per user_id, but auth none routes have no user id", t.Name)
			case t.Key == policy.KeyAPIKey && r.Auth != AuthAPIKey:
				v.add(p+".rate_limit_tier", "tier %q counts per api_key, but this route (auth %s) has no API key", t.Name, r.Auth)
			}
		}
		checkEnum(v, p+".rate_limit_fail_mode", r.RateLimitFailMode, policy.FailModes(), false)

		if r.RateLimitDeadlineMS < 0 {
			v.add(p+".rate_limit_deadline_ms", "must be > 0 (or left out for the default %dms)", DefaultRateLimitDeadlineMS)
		}

		// sizes, timeouts, priority
		if r.TimeoutMS < 0 {
			v.add(p+".timeout_ms", "must be > 0 (or left out for the default %dms)", DefaultRouteTimeoutMS)
		} else if r.TimeoutMS == 0 {
			v.add(p+".timeout_ms", "must be > 0 (ApplyDefaults was not called)")
		}
		if r.MaxBodyBytes < 0 {
			v.add(p+".max_body_bytes", "must not be negative")
		}
		checkEnum(v, p+".priority", r.Priority, policy.Priorities(), false)

		// deprecation
		if r.Sunset != "" {
			if _, err := time.Parse("2006-01-02", r.Sunset); err != nil {
				v.add(p+".sunset", "%q: want a date YYYY-MM-DD", r.Sunset)
			}
			if !r.Deprecated {
				v.add(p+".sunset", "is only sent for deprecated routes: set deprecated: true")
			}
		}

		if r.CORS != nil {
			v.cors(p+".cors", r.CORS)
		}
	}
}

// checkEnum reports an enumerated setting that holds none of its values.
// Decoding refuses a bad spelling (with its line), so only a Config built
// in code gets here with one: zero (left out: required, or a default that
// ApplyDefaults did not fill) or a number outside the type's values.
func checkEnum[T interface {
	~uint8
	Valid() bool
}](v *validator, path string, x T, want string, required bool) {
	switch {
	case x.Valid():
	case x == 0 && required:
		v.add(path, "is required: %s", want)
	case x == 0:
		v.add(path, "is not set: %s (ApplyDefaults fills it)", want)
	default:
		v.add(path, "invalid value %d: %s", uint8(x), want)
	}
}

func validID(s string) bool {
	for _, r := range s {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func (v *validator) cors(p string, c *CORS) {
	wildcard := false
	if len(c.AllowedOrigins) == 0 {
		v.add(p+".allowed_origins", "at least one origin (or \"*\") is required")
	}
	for k, o := range c.AllowedOrigins {
		if o == "*" {
			wildcard = true
			continue
		}
		if msg := checkOrigin(o); msg != "" {
			v.add(fmt.Sprintf("%s.allowed_origins[%d]", p, k), "%q: %s", RedactURL(o), msg)
		}
	}
	if wildcard && c.Credentials {
		v.add(p+".allow_credentials", "browsers refuse credentials with origin \"*\": list the origins")
	}
	for k, m := range c.AllowedMethods {
		if !m.Valid() {
			v.add(fmt.Sprintf("%s.allowed_methods[%d]", p, k), "invalid method %d: want one of %s", uint8(m), policy.KnownMethods)
		}
	}
	if c.MaxAgeSeconds < 0 {
		v.add(p+".max_age_seconds", "must not be negative")
	}
}

// checkOrigin accepts scheme://host[:port] exactly as browsers send Origin.
func checkOrigin(o string) string {
	const want = "want \"*\" or scheme://host[:port], like https://app.example.com"
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return want
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "/") || strings.ContainsAny(o, "?#") {
		return want + " (no path, not even a trailing '/')"
	}
	if strings.ToLower(o) != o {
		return "must be lower case, as browsers send it"
	}
	return ""
}

// --- auth -------------------------------------------------------------------

// knownAlgorithms are the JWS algorithms a config may list. Symmetric (HS*)
// and "none" are never accepted.
var knownAlgorithms = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

func (v *validator) auth() {
	c := v.c
	j := c.Auth.JWT

	jwtRoutes := 0
	for _, r := range c.Routes {
		if r.Auth == AuthJWT {
			jwtRoutes++
		}
	}
	if jwtRoutes > 0 {
		if len(j.Issuers) == 0 {
			v.add("auth.jwt.issuers", "required: %d route(s) use auth jwt", jwtRoutes)
		}
		if len(j.Audiences) == 0 {
			v.add("auth.jwt.audiences", "required: %d route(s) use auth jwt", jwtRoutes)
		}
		if j.JWKSFile == "" && j.JWKSURL == "" {
			v.add("auth.jwt", "jwks_file or jwks_url is required: %d route(s) use auth jwt", jwtRoutes)
		}
	}
	for k, s := range j.Issuers {
		if s == "" {
			v.add(fmt.Sprintf("auth.jwt.issuers[%d]", k), "must not be empty")
		}
	}
	for k, s := range j.Audiences {
		if s == "" {
			v.add(fmt.Sprintf("auth.jwt.audiences[%d]", k), "must not be empty")
		}
	}
	if j.JWKSFile != "" && j.JWKSURL != "" {
		v.add("auth.jwt.jwks_url", "set jwks_file or jwks_url, not both")
	}
	if j.JWKSFile != "" {
		v.readable("auth.jwt.jwks_file", j.JWKSFile)
	}
	if j.JWKSURL != "" {
		if u, err := url.Parse(j.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("auth.jwt.jwks_url", "%q: want an http:// or https:// URL", RedactURL(j.JWKSURL))
		}
	}
	if j.RefreshInterval <= 0 {
		v.add("auth.jwt.refresh_interval", "must be a duration > 0")
	}
	if j.ClockSkew != nil && *j.ClockSkew < 0 {
		v.add("auth.jwt.clock_skew", "must not be negative")
	}
	if j.ScopesClaim == "" {
		v.add("auth.jwt.scopes_claim", "must name a claim, like scope or scopes")
	}
	for k, a := range j.Algorithms {
		switch {
		case knownAlgorithms[a]:
		case strings.HasPrefix(strings.ToUpper(a), "HS") || strings.EqualFold(a, "none"):
			v.add(fmt.Sprintf("auth.jwt.algorithms[%d]", k), "%q is never accepted: only asymmetric algorithms are allowed", a)
		default:
			v.add(fmt.Sprintf("auth.jwt.algorithms[%d]", k), "unknown algorithm %q (e.g. RS256, ES256, EdDSA)", a)
		}
	}
	if j.Cache.MaxEntries < 0 {
		v.add("auth.jwt.cache.max_entries", "must not be negative")
	}

	if c.Auth.APIKeysFile != "" {
		v.readable("auth.api_keys_file", c.Auth.APIKeysFile)
	}
	hashes := map[string]int{}
	ids := map[string]int{}
	for i, k := range c.Auth.APIKeys {
		p := v.apiKeyPath(i)
		switch j, dup := ids[k.ID]; {
		case k.ID == "":
			v.add(p+".id", "is required (a label for logs; never the key itself)")
		case dup:
			v.add(p+".id", "duplicate API key id %q (also %s)", k.ID, v.apiKeyPath(j))
		default:
			ids[k.ID] = i
		}
		h := strings.ToLower(k.SHA256)
		if _, err := hex.DecodeString(h); err != nil || len(h) != 64 {
			v.add(p+".sha256", "want 64 hex digits (the SHA-256 of the key), got %d characters", len(k.SHA256))
		} else if j, dup := hashes[h]; dup {
			v.add(p+".sha256", "the same key hash as %s", v.apiKeyPath(j))
		} else {
			hashes[h] = i
		}
		if k.PartnerID == "" {
			v.add(p+".partner_id", "is required (sent upstream as X-Partner-ID)")
		}
		if k.Tier != "" && v.tierByName[k.Tier] == nil {
			v.add(p+".tier", "unknown tier %q", k.Tier)
		}
	}
}

// apiKeyPath names the i-th entry of Auth.APIKeys where it was written:
// auth.api_keys[n] inline, or auth.api_keys_file[n] when it came from the file.
func (v *validator) apiKeyPath(i int) string {
	if s := v.c.src; s != nil && i >= s.inlineKeys {
		return fmt.Sprintf("auth.api_keys_file[%d]", i-s.inlineKeys)
	}
	return fmt.Sprintf("auth.api_keys[%d]", i)
}

// readable reports a file the config names that cannot be read.
func (v *validator) readable(path, name string) {
	full := v.c.Resolve(name)
	f, err := os.Open(full)
	if err != nil {
		v.add(path, "cannot read %s: %s", full, errText(err))
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		v.add(path, "%s is a directory, not a file", full)
		return
	}
	if _, err := f.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
		v.add(path, "%s is empty", full)
	} else if err != nil {
		v.add(path, "cannot read %s: %s", full, errText(err))
	}
}
