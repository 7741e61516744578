package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/policy"
)

// Values of the enumerated settings used most when building configs in code,
// re-exported from gateway/policy (which defines every enumerated value).
const (
	AuthJWT    = policy.AuthJWT    // route.auth: a bearer JWT is required
	AuthAPIKey = policy.AuthAPIKey // route.auth: a partner API key is required
	AuthNone   = policy.AuthNone   // route.auth: anonymous

	FailOpen   = policy.FailOpen   // route.rate_limit_fail_mode: admit when the limiter cannot decide
	FailClosed = policy.FailClosed // route.rate_limit_fail_mode: reject (503) when the limiter cannot decide

	// BackendSelf is the route backend answered by the gateway itself (its
	// health endpoint). No backend may be named "self".
	BackendSelf = "self"
)

// Defaults of per-entry settings (routes, tiers, backends), which Default()
// cannot show because it has no entries. ApplyDefaults fills them.
const (
	DefaultRouteAuth           = AuthJWT
	DefaultRouteFailMode       = FailOpen
	DefaultRouteTimeoutMS      = 10000 // 10s
	DefaultRateLimitDeadlineMS = 5     // the design chapter's "> 5ms: fail open"
	DefaultRoutePriority       = policy.P2
	DefaultTierAlgorithm       = policy.SlidingWindow // the zero value
	DefaultInstanceWeight      = 1
	DefaultHealthCheckPath     = "/healthz"
	DefaultHealthCheckPeriod   = 10 * time.Second
	DefaultHealthCheckTimeout  = 2 * time.Second
	DefaultUnhealthyAfter      = 3
	DefaultHealthyAfter        = 2
	DefaultPassiveFailures     = 5
	DefaultEjectFor            = 10 * time.Second
	DefaultFlapHolddown        = 30 * time.Second
	DefaultBalance             = policy.RoundRobin
	DefaultBackendMaxInFlight  = 1024
	DefaultBreakerWindow       = 30 * time.Second
	DefaultBreakerMinRequests  = 20
	DefaultBreakerFailureRatio = 0.5
	DefaultBreakerOpenFor      = 30 * time.Second
	DefaultBreakerProbes       = 2
	DefaultBreakerRampStep     = 40 * time.Second
)

// DefaultMaxConnections is limits.max_connections' default: client
// connections open at once per traffic listener.
const DefaultMaxConnections = 10000

// DefaultStripInboundHeaders is gateway.strip_inbound_headers' default:
// request headers that backends or frameworks may trust for the request's
// URL, method or client address, and that only an edge gateway should set.
// ApplyDefaults copies it; do not modify it.
var DefaultStripInboundHeaders = []string{
	// URL and host rewrites honoured by some frameworks and proxies.
	"X-Original-URL", "X-Rewrite-URL", "X-Original-Host", "X-Host",
	// Client address claims.
	"X-Real-IP", "True-Client-IP", "X-Client-IP", "X-Cluster-Client-IP",
	"Client-IP", "CF-Connecting-IP", "Fastly-Client-IP",
	// Method overrides.
	"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
	// Forwarding details beyond the X-Forwarded-For/-Proto/-Host the
	// gateway always sets itself.
	"X-Forwarded-Server", "X-Forwarded-Port", "X-Forwarded-Prefix",
	"X-Forwarded-Scheme", "X-Forwarded-Ssl", "Front-End-Https",
}

// DefaultBreakerRamp is the chapter's ramp after a breaker closes, in
// percent of traffic.
func DefaultBreakerRamp() []int { return []int{10, 25, 50, 100} }

// Default returns the configuration used for every setting a file leaves
// out. It has no routes, backends, tiers or keys; their entries' defaults are
// the Default* constants:
//
//	listen.traffic                 127.0.0.1:8080
//	listen.admin                   127.0.0.1:9090
//	limits.read_header_timeout     10s
//	limits.read_timeout            30s
//	limits.write_timeout           0 (per-route timeouts bound responses)
//	limits.idle_timeout            60s
//	limits.max_header_bytes        8192
//	limits.max_body_bytes          10 MiB
//	limits.buffer_body_bytes       64 KiB
//	limits.max_conns_per_backend   512
//	limits.upstream_idle_timeout   60s
//	limits.max_connections         10000 per traffic listener
//	engines                        server nethttp, router trie, limiter local
//	gateway.instance               the host name ("gatelab" if unknown)
//	gateway.forwarded_proto        http
//	gateway.strip_inbound_headers  DefaultStripInboundHeaders (an explicit
//	                               empty list strips none)
//	access_log                     output stdout, buffer 8192, success_sample 1
//	auth.jwt.refresh_interval      30m
//	auth.jwt.clock_skew            30s
//	auth.jwt.scopes_claim          scope
//	auth.jwt.algorithms            [RS256, ES256, EdDSA]
//	auth.jwt.cache.max_entries     65536 (the cache itself is off unless enabled)
//	rate_limits.tiers[].algorithm  sliding_window
//	backends[].instances[].weight  1
//	backends[].health_check        path /healthz, interval 10s, timeout 2s,
//	                               unhealthy_after 3, healthy_after 2,
//	                               passive_failures 5, eject_for 10s,
//	                               flap_holddown 30s
//	backends[].balance             round_robin
//	backends[].max_in_flight       1024
//	backends[].circuit_breaker     window 30s, min_requests 20,
//	                               failure_ratio 0.5, open_for 30s,
//	                               probe_successes 2, ramp_steps
//	                               [10,25,50,100], ramp_step 40s
//	routes[].auth                  jwt
//	routes[].rate_limit_fail_mode  open
//	routes[].timeout_ms            10000
//	routes[].max_body_bytes        limits.max_body_bytes
//	routes[].priority              P2
//	shedding                       max_in_flight 4096, p1 0.9, p2 0.75, p3 0.6
//	admin.audit_log                stderr
//
// A zero value in a file means "use the default"; there is no way to ask for
// a zero timeout or size where the default is not zero. Negative values are
// left alone by ApplyDefaults and rejected by Validate.
func Default() Config {
	sample := 1.0
	skew := 30 * time.Second
	return Config{
		Listen: Listen{
			Traffic: "127.0.0.1:8080",
			Admin:   "127.0.0.1:9090",
		},
		Limits: Limits{
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    8192,
			MaxBodyBytes:      10 << 20,
			BufferBodyBytes:   64 << 10,
			MaxConnsPerHost:   512,
			UpstreamIdle:      60 * time.Second,
			MaxConnections:    DefaultMaxConnections,
		},
		Engines: Engines{Server: "nethttp", Router: "trie", Limiter: "local"},
		Gateway: Gateway{
			Instance:            hostname(),
			ForwardedProto:      "http",
			StripInboundHeaders: slices.Clone(DefaultStripInboundHeaders),
		},
		AccessLog: AccessLog{
			Output:        "stdout",
			Buffer:        8192,
			SuccessSample: &sample,
		},
		Auth: Auth{
			JWT: JWT{
				RefreshInterval: 30 * time.Minute,
				ClockSkew:       &skew,
				ScopesClaim:     "scope",
				Algorithms:      []string{"RS256", "ES256", "EdDSA"},
				Cache:           JWTCache{MaxEntries: 65536},
			},
		},
		Shedding: Shedding{MaxInFlight: 4096, P1: 0.9, P2: 0.75, P3: 0.6},
		Admin:    Admin{AuditLog: "stderr"},
	}
}

func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "gatelab"
}

// ApplyDefaults fills every unset (zero) setting with its default (see
// Default and the Default* constants). It only fills zero values, so calling
// it twice changes nothing. It also lower-cases API key hashes so consumers
// can compare them with hex.EncodeToString output. Load and Parse call it
// before Validate; code that builds a Config should call it too.
func (c *Config) ApplyDefaults() {
	d := Default()

	setStr(&c.Listen.Traffic, d.Listen.Traffic)
	setStr(&c.Listen.Admin, d.Listen.Admin)

	l, dl := &c.Limits, d.Limits
	setNum(&l.ReadHeaderTimeout, dl.ReadHeaderTimeout)
	setNum(&l.ReadTimeout, dl.ReadTimeout)
	setNum(&l.IdleTimeout, dl.IdleTimeout)
	setNum(&l.MaxHeaderBytes, dl.MaxHeaderBytes)
	setNum(&l.MaxBodyBytes, dl.MaxBodyBytes)
	setNum(&l.BufferBodyBytes, dl.BufferBodyBytes)
	setNum(&l.MaxConnsPerHost, dl.MaxConnsPerHost)
	setNum(&l.UpstreamIdle, dl.UpstreamIdle)
	setNum(&l.MaxConnections, dl.MaxConnections)

	setStr(&c.Engines.Server, d.Engines.Server)
	setStr(&c.Engines.Router, d.Engines.Router)
	setStr(&c.Engines.Limiter, d.Engines.Limiter)

	setStr(&c.Gateway.Instance, d.Gateway.Instance)
	setStr(&c.Gateway.ForwardedProto, d.Gateway.ForwardedProto)
	if c.Gateway.StripInboundHeaders == nil { // nil: absent; empty: none
		c.Gateway.StripInboundHeaders = d.Gateway.StripInboundHeaders
	}

	setStr(&c.AccessLog.Output, d.AccessLog.Output)
	setNum(&c.AccessLog.Buffer, d.AccessLog.Buffer)
	if c.AccessLog.SuccessSample == nil {
		c.AccessLog.SuccessSample = d.AccessLog.SuccessSample
	}

	j, dj := &c.Auth.JWT, d.Auth.JWT
	setNum(&j.RefreshInterval, dj.RefreshInterval)
	if j.ClockSkew == nil {
		j.ClockSkew = dj.ClockSkew
	}
	setStr(&j.ScopesClaim, dj.ScopesClaim)
	if len(j.Algorithms) == 0 {
		j.Algorithms = dj.Algorithms
	}
	setNum(&j.Cache.MaxEntries, dj.Cache.MaxEntries)
	for i := range c.Auth.APIKeys {
		c.Auth.APIKeys[i].SHA256 = strings.ToLower(c.Auth.APIKeys[i].SHA256)
	}

	// Tiers' algorithm needs no filling: its zero value is the default.

	for i := range c.Backends {
		b := &c.Backends[i]
		for k := range b.Instances {
			setNum(&b.Instances[k].Weight, DefaultInstanceWeight)
		}
		h := &b.HealthCheck
		setStr(&h.Path, DefaultHealthCheckPath)
		setNum(&h.Interval, DefaultHealthCheckPeriod)
		setNum(&h.Timeout, min(DefaultHealthCheckTimeout, h.Interval))
		setNum(&h.UnhealthyAfter, DefaultUnhealthyAfter)
		setNum(&h.HealthyAfter, DefaultHealthyAfter)
		setNum(&h.PassiveFailures, DefaultPassiveFailures)
		setNum(&h.EjectFor, DefaultEjectFor)
		setNum(&h.FlapHolddown, DefaultFlapHolddown)
		setEnum(&b.Balance, DefaultBalance)
		setNum(&b.MaxInFlight, DefaultBackendMaxInFlight)
		cb := &b.CircuitBreaker
		setNum(&cb.Window, DefaultBreakerWindow)
		setNum(&cb.MinRequests, DefaultBreakerMinRequests)
		setNum(&cb.FailureRatio, DefaultBreakerFailureRatio)
		setNum(&cb.OpenFor, DefaultBreakerOpenFor)
		setNum(&cb.ProbeSuccesses, DefaultBreakerProbes)
		setNum(&cb.RampStep, DefaultBreakerRampStep)
		if len(cb.RampSteps) == 0 {
			cb.RampSteps = DefaultBreakerRamp()
		}
	}

	sh, dsh := &c.Shedding, d.Shedding
	setNum(&sh.MaxInFlight, dsh.MaxInFlight)
	setNum(&sh.P1, dsh.P1)
	setNum(&sh.P2, dsh.P2)
	setNum(&sh.P3, dsh.P3)
	setStr(&c.Admin.AuditLog, d.Admin.AuditLog)
	for i := range c.Admin.Tokens {
		c.Admin.Tokens[i].SHA256 = strings.ToLower(c.Admin.Tokens[i].SHA256)
	}

	for i := range c.Routes {
		r := &c.Routes[i]
		setEnum(&r.Auth, DefaultRouteAuth)
		setEnum(&r.RateLimitFailMode, DefaultRouteFailMode)
		setNum(&r.TimeoutMS, DefaultRouteTimeoutMS)
		setNum(&r.RateLimitDeadlineMS, DefaultRateLimitDeadlineMS)
		setNum(&r.MaxBodyBytes, c.Limits.MaxBodyBytes)
		setEnum(&r.Priority, DefaultRoutePriority)
	}
}

func setStr(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setNum[T int | int64 | float64 | time.Duration](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

// setEnum fills an unset (zero) policy enum.
func setEnum[T ~uint8](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

// Resolve returns path as the gateway should open it: unchanged when it is
// absolute or empty, else joined to BaseDir (the config file's directory).
func (c *Config) Resolve(path string) string {
	if path == "" || filepath.IsAbs(path) || c.BaseDir == "" {
		return path
	}
	return filepath.Join(c.BaseDir, path)
}

// Timeout is the route's timeout_ms as a Duration.
func (r *Route) Timeout() time.Duration {
	return time.Duration(r.TimeoutMS) * time.Millisecond
}
