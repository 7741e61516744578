package pipeline

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/auth"
	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/observe"
	"github.com/gatelab/gatelab/gateway/policy"
	"github.com/gatelab/gatelab/gateway/resilience"
)

// AuthKind is how a route authenticates callers (policy.Auth).
type AuthKind = policy.Auth

const (
	AuthJWT    = policy.AuthJWT
	AuthAPIKey = policy.AuthAPIKey
	AuthNone   = policy.AuthNone
)

// Snapshot is one immutable, validated configuration compiled for the hot
// path: the router is built, per-route metric children are resolved, header
// values are pre-rendered. A request captures the snapshot once at its start
// and finishes on it even if a reload swaps in a newer one.
type Snapshot struct {
	Version  int64
	Config   *config.Config
	Routes   []Route
	Router   Router
	Backends map[string]*Backend
	Tiers    map[string]*Tier
	JWT      *auth.JWTVerifier // nil when no route uses jwt
	APIKeys  *auth.KeyStore
	// forwardedProto is the X-Forwarded-Proto value.
	ForwardedProto string
	// versionHeader is the X-Gatelab-Config-Version value ("" when
	// gateway.expose_config_version is off).
	versionHeader string
	// strip is gateway.strip_inbound_headers, lower-case with '_' as '-'.
	strip map[string]struct{}
	// stripMax is the longest name in strip.
	stripMax int
}

// stripsHeader reports whether name is one of gateway.strip_inbound_headers
// (case-insensitive, '_' treated as '-' as in DropInbound).
func (s *Snapshot) stripsHeader(name string) bool {
	if len(name) > s.stripMax {
		return false
	}
	var buf [config.MaxStripHeaderLen]byte
	b := buf[:0]
	for i := 0; i < len(name); i++ {
		b = append(b, foldByte(name[i]))
	}
	_, ok := s.strip[string(b)]
	return ok
}

// Route is a compiled route. Everything a request needs is precomputed.
type Route struct {
	ID             string
	Index          int
	Pattern        string
	Methods        MethodSet
	Auth           AuthKind
	RequiredScopes []string
	Tier           *Tier
	FailClosed     bool
	LimitDeadline  time.Duration // how long the limiter may take
	Timeout        time.Duration
	MaxBodyBytes   int64
	StripPrefix    string
	Backend        *Backend        // nil when Self
	Self           bool            // answered by the gateway itself (health)
	Priority       policy.Priority // P0 is never shed
	// ShedAt is the node in-flight count above which requests to this
	// route are shed (503); 0 never (P0, or shedding disabled).
	ShedAt int64
	CORS   *CORSPolicy
	// Deprecation headers, pre-rendered; empty when not deprecated.
	Deprecation string
	Sunset      string
	Metrics     *observe.RouteMetrics
}

// Tier is a compiled rate-limit tier.
type Tier struct {
	Policy
	Key LimitKeyKind
	// keyPrefix is "<tier>:<kind>:" prepended to the identity to form the
	// limiter key.
	keyPrefix string
	// limitText and policyHeader are pre-rendered header values.
	limitText    string
	policyHeader string
	Metrics      *observe.TierMetrics
}

// CORSPolicy is a route's compiled CORS policy.
type CORSPolicy struct {
	AnyOrigin        bool
	Origins          map[string]struct{}
	AllowMethods     string
	AllowHeaders     string
	MaxAge           string
	AllowCredentials bool
}

// Backend is a named upstream. Its resilience state (instances' health,
// balancer, circuit breaker, bulkhead) lives in R and carries over reloads:
// a new snapshot's backend of the same name continues where the old one was.
type Backend struct {
	Name string
	R    *resilience.Backend
}

// Instance is one address of a backend (Scheme, Host, URL, Weight), as the
// engines forward to it.
type Instance = resilience.Instance

// BuildOptions are the dependencies a snapshot is compiled with.
type BuildOptions struct {
	RouterFactory RouterFactory
	Metrics       *observe.Metrics
	Now           func() time.Time
	// Previous is the snapshot being replaced, if any: backends keep their
	// health, breaker, in-flight counts and round-robin position.
	Previous *Snapshot
	// Hooks report health and breaker transitions (metrics).
	Hooks resilience.Hooks
}

// Build compiles a validated config into a Snapshot. It returns an error if a
// dependency cannot be set up (keys unreadable, router rejects the table); the
// caller keeps serving the previous snapshot in that case.
func Build(cfg *config.Config, version int64, opts BuildOptions) (*Snapshot, error) {
	if opts.RouterFactory == nil {
		return nil, errors.New("build snapshot: no router factory")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Snapshot{
		Version:        version,
		Config:         cfg,
		Backends:       make(map[string]*Backend, len(cfg.Backends)),
		ForwardedProto: cfg.Gateway.ForwardedProto,
	}
	if s.ForwardedProto == "" {
		s.ForwardedProto = "http"
	}
	if cfg.Gateway.ExposeConfigVersion {
		s.versionHeader = strconv.FormatInt(version, 10)
	}
	s.strip = map[string]struct{}{}
	strip := cfg.Gateway.StripInboundHeaders
	if strip == nil {
		strip = config.DefaultStripInboundHeaders
	}
	for _, h := range strip {
		k := strings.ToLower(strings.ReplaceAll(h, "_", "-"))
		if len(k) > config.MaxStripHeaderLen {
			return nil, fmt.Errorf("gateway.strip_inbound_headers: %q is longer than %d bytes", h, config.MaxStripHeaderLen)
		}
		s.strip[k] = struct{}{}
		s.stripMax = max(s.stripMax, len(k))
	}
	for _, bc := range cfg.Backends {
		var prev *resilience.Backend
		if opts.Previous != nil {
			if ob := opts.Previous.Backends[bc.Name]; ob != nil {
				prev = ob.R
			}
		}
		rb, err := resilience.NewBackend(bc.Name, resilience.SettingsFrom(bc), resilience.InstancesFrom(bc), prev, now, opts.Hooks)
		if err != nil {
			return nil, fmt.Errorf("build snapshot: %w", err)
		}
		s.Backends[bc.Name] = &Backend{Name: bc.Name, R: rb}
	}

	tiers := make(map[string]*Tier, len(cfg.RateLimit.Tiers))
	s.Tiers = tiers
	for _, tc := range cfg.RateLimit.Tiers {
		t, err := compileTier(tc)
		if err != nil {
			return nil, fmt.Errorf("build snapshot: %w", err)
		}
		if opts.Metrics != nil {
			t.Metrics = opts.Metrics.ForTier(tc.Name)
		}
		tiers[tc.Name] = t
	}

	needJWT := false
	for _, rc := range cfg.Routes {
		if rc.Auth == 0 || rc.Auth == config.AuthJWT {
			needJWT = true
		}
	}
	if needJWT {
		v, err := auth.NewJWTVerifier(cfg.Auth.JWT, cfg.BaseDir, auth.Options{Now: now})
		if err != nil {
			return nil, fmt.Errorf("build snapshot: jwt: %w", err)
		}
		s.JWT = v
	}
	ks, err := auth.NewKeyStore(cfg.Auth.APIKeys, now)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("build snapshot: api keys: %w", err)
	}
	s.APIKeys = ks
	for _, k := range cfg.Auth.APIKeys {
		if k.Tier != "" {
			if _, ok := tiers[k.Tier]; !ok {
				s.close()
				return nil, fmt.Errorf("build snapshot: api key %s: unknown tier %q", k.ID, k.Tier)
			}
		}
	}

	specs := make([]RouteSpec, len(cfg.Routes))
	s.Routes = make([]Route, len(cfg.Routes))
	for i, rc := range cfg.Routes {
		r, err := compileRoute(i, rc, cfg, s, tiers)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("build snapshot: route %s: %w", rc.ID, err)
		}
		if opts.Metrics != nil {
			backend := "" // answered by the gateway itself
			if r.Backend != nil {
				backend = r.Backend.Name
			}
			r.Metrics = opts.Metrics.ForRoute(rc.ID, backend)
		}
		s.Routes[i] = r
		specs[i] = RouteSpec{Index: i, Pattern: rc.Pattern, Methods: r.Methods}
	}
	router, err := opts.RouterFactory(specs)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("build snapshot: router: %w", err)
	}
	s.Router = router
	return s, nil
}

// start begins the snapshot's background work: active health probes.
func (s *Snapshot) start(client *http.Client) {
	for _, b := range s.Backends {
		b.R.Start(client)
	}
}

// close releases background resources (health probes, JWKS refresh) of a
// snapshot that is no longer served or failed to build.
func (s *Snapshot) close() {
	for _, b := range s.Backends {
		b.R.Stop()
	}
	if s.JWT != nil {
		s.JWT.Close()
	}
}

func compileTier(tc config.Tier) (*Tier, error) {
	if !tc.Algorithm.Valid() {
		return nil, fmt.Errorf("tier %s: invalid algorithm %d", tc.Name, tc.Algorithm)
	}
	if !tc.Key.Valid() {
		return nil, fmt.Errorf("tier %s: invalid key %d", tc.Name, tc.Key)
	}
	t := &Tier{Policy: Policy{Name: tc.Name, Limit: tc.Limit, Window: tc.Window, Algorithm: tc.Algorithm}, Key: tc.Key}
	t.keyPrefix = tc.Name + ":" + tc.Key.String() + ":"
	t.limitText = strconv.FormatInt(tc.Limit, 10)
	t.policyHeader = `"` + tc.Name + `";q=` + t.limitText + ";w=" + strconv.FormatInt(int64(tc.Window/time.Second), 10)
	return t, nil
}

func compileRoute(i int, rc config.Route, cfg *config.Config, s *Snapshot, tiers map[string]*Tier) (Route, error) {
	r := Route{
		ID:             rc.ID,
		Index:          i,
		Pattern:        rc.Pattern,
		RequiredScopes: rc.RequiredScopes,
		FailClosed:     rc.RateLimitFailMode == policy.FailClosed,
		Timeout:        time.Duration(rc.TimeoutMS) * time.Millisecond,
		LimitDeadline:  time.Duration(rc.RateLimitDeadlineMS) * time.Millisecond,
		MaxBodyBytes:   rc.MaxBodyBytes,
		StripPrefix:    rc.StripPrefix,
	}
	if r.Timeout <= 0 {
		r.Timeout = 10 * time.Second
	}
	if r.LimitDeadline <= 0 {
		r.LimitDeadline = 5 * time.Millisecond
	}
	if r.MaxBodyBytes <= 0 {
		r.MaxBodyBytes = cfg.Limits.MaxBodyBytes
	}
	r.Methods = rc.Methods.Set()
	if len(rc.Methods) == 0 {
		r.Methods = AllMethods
	}
	for _, m := range rc.Methods {
		if !m.Valid() {
			return r, fmt.Errorf("invalid method %d", m)
		}
	}
	r.Auth = rc.Auth
	if r.Auth == 0 { // a config without defaults applied
		r.Auth = config.DefaultRouteAuth
	}
	if !r.Auth.Valid() {
		return r, fmt.Errorf("invalid auth %d", rc.Auth)
	}
	if rc.RateLimitTier != "" {
		t, ok := tiers[rc.RateLimitTier]
		if !ok {
			return r, fmt.Errorf("unknown tier %q", rc.RateLimitTier)
		}
		r.Tier = t
	}
	if rc.Backend == config.BackendSelf {
		r.Self = true
	} else {
		b, ok := s.Backends[rc.Backend]
		if !ok {
			return r, fmt.Errorf("unknown backend %q", rc.Backend)
		}
		r.Backend = b
	}
	r.Priority = rc.Priority
	if r.Priority == 0 { // a config without defaults applied
		r.Priority = config.DefaultRoutePriority
	}
	if !r.Priority.Valid() {
		return r, fmt.Errorf("invalid priority %d", rc.Priority)
	}
	if sh := cfg.Shedding; !sh.Disabled && r.Priority != policy.P0 {
		ratio := [...]float64{0, sh.P1, sh.P2, sh.P3}[r.Priority.Level()]
		r.ShedAt = max(1, int64(ratio*float64(sh.MaxInFlight)))
	}
	if rc.Deprecated {
		r.Deprecation = "true"
		if rc.Sunset != "" {
			t, err := time.Parse("2006-01-02", rc.Sunset)
			if err != nil {
				return r, fmt.Errorf("sunset: %w", err)
			}
			r.Sunset = t.UTC().Format(time.RFC1123)
			r.Sunset = strings.Replace(r.Sunset, "UTC", "GMT", 1)
		}
	}
	if rc.CORS != nil {
		c := &CORSPolicy{Origins: map[string]struct{}{}, AllowCredentials: rc.CORS.Credentials}
		for _, o := range rc.CORS.AllowedOrigins {
			if o == "*" {
				c.AnyOrigin = true
				continue
			}
			c.Origins[o] = struct{}{}
		}
		if len(rc.CORS.AllowedMethods) == 0 {
			c.AllowMethods = r.Methods.Allow()
		} else {
			c.AllowMethods = rc.CORS.AllowedMethods.String()
		}
		hdrs := rc.CORS.AllowedHeaders
		if len(hdrs) == 0 {
			hdrs = []string{"Authorization", "Content-Type", "X-API-Key", "X-Request-ID", "Idempotency-Key"}
		}
		c.AllowHeaders = strings.Join(hdrs, ", ")
		if rc.CORS.MaxAgeSeconds > 0 {
			c.MaxAge = strconv.Itoa(rc.CORS.MaxAgeSeconds)
		}
		r.CORS = c
	}
	return r, nil
}
