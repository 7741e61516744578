package config

import (
	"time"

	"github.com/gatelab/gatelab/gateway/policy"
)

// Config is the whole gateway configuration as written in YAML. Field names are
// the YAML keys. Unknown keys are errors (see Load). Defaults are filled by
// ApplyDefaults and documented in Default().
//
// Enumerated settings (tiers' key and algorithm; routes' methods, auth,
// priority and rate_limit_fail_mode; backends' balance; CORS methods) use
// the types of gateway/policy, the one definition of their values, and are
// parsed when the YAML is decoded: a bad spelling is a problem with its
// line, like any other.
type Config struct {
	// Version is the snapshot version this file declares. Optional: 0 means
	// "assign the next version when applied".
	Version int64 `yaml:"version"`

	Listen    Listen    `yaml:"listen"`
	Limits    Limits    `yaml:"limits"`
	Engines   Engines   `yaml:"engines"`
	Gateway   Gateway   `yaml:"gateway"`
	AccessLog AccessLog `yaml:"access_log"`
	Auth      Auth      `yaml:"auth"`
	RateLimit RateLimit `yaml:"rate_limits"`
	Limiter   Limiter   `yaml:"limiter"`
	Backends  []Backend `yaml:"backends"`
	Routes    []Route   `yaml:"routes"`
	Shedding  Shedding  `yaml:"shedding"`
	Admin     Admin     `yaml:"admin"`

	// BaseDir is the directory of the config file; relative paths in the
	// config (auth.jwt.jwks_file, auth.api_keys_file) resolve against it (see
	// Resolve). Set by Load and Parse, never read from YAML. Empty: the
	// process's working directory.
	BaseDir string `yaml:"-"`

	// src remembers where each setting was written (file and line), so
	// Validate can point at it. Nil for a Config built in code.
	src *source
}

// Listen holds the listener addresses.
type Listen struct {
	Traffic string `yaml:"traffic"` // default 127.0.0.1:8080
	Admin   string `yaml:"admin"`   // default 127.0.0.1:9090 (metrics, later the admin API)
}

// Limits are the connection and request limits of the traffic listener.
type Limits struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`   // default 10s (slow loris)
	ReadTimeout       time.Duration `yaml:"read_timeout"`          // default 30s for the body
	WriteTimeout      time.Duration `yaml:"write_timeout"`         // default 0: per-route timeouts bound responses
	IdleTimeout       time.Duration `yaml:"idle_timeout"`          // default 60s
	MaxHeaderBytes    int           `yaml:"max_header_bytes"`      // default 8192; above it 431
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`        // default 10 MiB; per-route override; above it 413
	BufferBodyBytes   int64         `yaml:"buffer_body_bytes"`     // default 64 KiB; larger bodies are streamed
	MaxConnsPerHost   int           `yaml:"max_conns_per_backend"` // default 512 upstream connections per instance
	UpstreamIdle      time.Duration `yaml:"upstream_idle_timeout"` // default 60s
	// MaxConnections caps the client connections open at once on each
	// traffic listener (default 10000, at least 1): each open connection
	// holds memory even when idle.
	MaxConnections int `yaml:"max_connections"`
}

// Engines names the engines to run; command-line flags override it.
type Engines struct {
	Server  string `yaml:"server"`  // nethttp | fasthttp (default nethttp)
	Router  string `yaml:"router"`  // trie | regex | mux (default trie)
	Limiter string `yaml:"limiter"` // local (default)
}

// Gateway holds node identity.
type Gateway struct {
	Instance string `yaml:"instance"` // default: hostname
	// ForwardedProto is the X-Forwarded-Proto value sent upstream when the
	// traffic listener is plain HTTP behind a TLS terminator. Default "http".
	ForwardedProto string `yaml:"forwarded_proto"`
	// ExposeConfigVersion adds X-Gatelab-Config-Version (the snapshot a
	// request was decided on) to every response: for labs and canaries
	// checking propagation; off by default. The access log always has it.
	ExposeConfigVersion bool `yaml:"expose_config_version"`
	// StripInboundHeaders are request headers an edge gateway drops before
	// forwarding, besides those it always drops (identity, credentials,
	// forwarding, hop-by-hop): headers some backends trust for routing or
	// client identity, which only the edge should set. Absent (nil): the
	// default list, DefaultStripInboundHeaders. An explicit empty list:
	// none. Names are case-insensitive; each must be a valid header name,
	// listed once.
	StripInboundHeaders []string `yaml:"strip_inbound_headers"`
}

// AccessLog configures the asynchronous JSON access log.
type AccessLog struct {
	// Output: "stdout", "stderr", a file path, or "off". Default "stdout".
	Output string `yaml:"output"`
	// Buffer is the number of entries queued before new ones are dropped
	// (and counted). Default 8192.
	Buffer int `yaml:"buffer"`
	// SuccessSample is the fraction (0..1) of non-error responses logged.
	// Errors (status >= 400) are always logged. Default 1.
	SuccessSample *float64 `yaml:"success_sample"`
}

// Auth configures credential verification.
type Auth struct {
	JWT     JWT      `yaml:"jwt"`
	APIKeys []APIKey `yaml:"api_keys"`
	// APIKeysFile is an optional YAML file holding a list of APIKey entries,
	// merged with APIKeys. Relative paths are relative to the config file.
	APIKeysFile string `yaml:"api_keys_file"`
}

// JWT configures bearer-token verification.
type JWT struct {
	JWKSFile        string         `yaml:"jwks_file"`        // relative to the config file
	JWKSURL         string         `yaml:"jwks_url"`         // fetched, refreshed every RefreshInterval and on unknown kid
	RefreshInterval time.Duration  `yaml:"refresh_interval"` // default 30m
	Issuers         []string       `yaml:"issuers"`          // accepted iss values; required when jwt routes exist
	Audiences       []string       `yaml:"audiences"`        // token aud must contain one of them; required
	ClockSkew       *time.Duration `yaml:"clock_skew"`       // default 30s
	// ScopesClaim names the claim holding scopes: a space-separated string
	// ("scope", OAuth 2) or a string array ("scopes"). Default "scope".
	ScopesClaim string `yaml:"scopes_claim"`
	// Algorithms accepted. Default [RS256, ES256, EdDSA]. HS* and none are never accepted.
	Algorithms []string `yaml:"algorithms"`
	Cache      JWTCache `yaml:"cache"`
}

// JWTCache is the optional verified-token cache.
type JWTCache struct {
	Enabled    bool `yaml:"enabled"`
	MaxEntries int  `yaml:"max_entries"` // default 65536
}

// APIKey is one partner key. The raw key is never stored: only its SHA-256.
type APIKey struct {
	ID        string    `yaml:"id"`         // a label for logs and metrics; never the key
	SHA256    string    `yaml:"sha256"`     // hex of SHA-256(raw key)
	PartnerID string    `yaml:"partner_id"` // sent upstream as X-Partner-ID
	Tier      string    `yaml:"tier"`       // rate-limit tier used for this key (overrides the route's)
	Scopes    []string  `yaml:"scopes"`
	ExpiresAt time.Time `yaml:"expires_at"` // zero: never
	Revoked   bool      `yaml:"revoked"`
}

// RateLimit holds the tiers.
type RateLimit struct {
	Tiers []Tier `yaml:"tiers"`
}

// Tier is one rate-limit policy.
type Tier struct {
	Name      string                `yaml:"name"`
	Limit     int64                 `yaml:"limit"`
	Window    time.Duration         `yaml:"window"`
	Key       policy.LimitKeyKind   `yaml:"key"`       // user_id | api_key | client_ip | global (required)
	Algorithm policy.LimitAlgorithm `yaml:"algorithm"` // sliding_window (default) | gcra
}

// Backend is one upstream service.
type Backend struct {
	Name        string      `yaml:"name"`
	Instances   []Instance  `yaml:"instances"`
	HealthCheck HealthCheck `yaml:"health_check"`
	// Balance picks an instance among the healthy ones: round_robin
	// (weighted, the default) or least_outstanding (fewest requests in
	// flight relative to weight).
	Balance policy.Balance `yaml:"balance"`
	// MaxInFlight is the backend's bulkhead: requests in flight to it at
	// once, over all its instances. More get 503 at once instead of queueing
	// behind a slow backend. Default 1024.
	MaxInFlight    int            `yaml:"max_in_flight"`
	CircuitBreaker CircuitBreaker `yaml:"circuit_breaker"`
}

// Instance is one address of a backend.
type Instance struct {
	URL    string `yaml:"url"`    // http://host:port
	Weight int    `yaml:"weight"` // default 1
}

// HealthCheck configures active probing of a backend's instances.
type HealthCheck struct {
	Disabled bool          `yaml:"disabled"` // no active probes (passive observation still ejects)
	Path     string        `yaml:"path"`     // default /healthz
	Interval time.Duration `yaml:"interval"` // default 10s
	Timeout  time.Duration `yaml:"timeout"`  // default 2s, capped at the interval
	// UnhealthyAfter failed probes in a row take an instance out of rotation
	// (default 3); HealthyAfter good ones in a row bring it back (default 2).
	UnhealthyAfter int `yaml:"unhealthy_after"`
	HealthyAfter   int `yaml:"healthy_after"`
	// PassiveFailures failed real requests in a row (connection error,
	// timeout or 5xx) take an instance out until probes bring it back
	// (default 5). With active probes disabled it comes back after EjectFor
	// (default 10s).
	PassiveFailures int           `yaml:"passive_failures"`
	EjectFor        time.Duration `yaml:"eject_for"`
	// FlapHolddown damps flapping: an instance that went out 3 times within
	// a minute comes back only after it has been healthy this long (default
	// 30s).
	FlapHolddown time.Duration `yaml:"flap_holddown"`
}

// CircuitBreaker is a backend's breaker. Defaults are the design chapter's:
// open when more than half of at least 20 requests in the last 30 s failed;
// after 30 s let one probe through; close after 2 probe successes in a row;
// then ramp traffic 10% -> 25% -> 50% (40 s each) -> 100%, two minutes in
// all, so a recovering backend is not hit by the whole retry storm.
type CircuitBreaker struct {
	Disabled       bool          `yaml:"disabled"`
	Window         time.Duration `yaml:"window"`          // default 30s
	MinRequests    int           `yaml:"min_requests"`    // default 20
	FailureRatio   float64       `yaml:"failure_ratio"`   // default 0.5 (opens above it)
	OpenFor        time.Duration `yaml:"open_for"`        // default 30s
	ProbeSuccesses int           `yaml:"probe_successes"` // default 2
	RampSteps      []int         `yaml:"ramp_steps"`      // percent, default [10, 25, 50, 100]
	RampStep       time.Duration `yaml:"ramp_step"`       // time at each step below 100%, default 40s
}

// Shedding is per-node load shedding by route priority. The pressure signal
// is the number of requests in flight on this node (decided and not yet
// answered) as a fraction of MaxInFlight. P0 routes are never shed; P1, P2
// and P3 are shed (503 with Retry-After) above their thresholds.
type Shedding struct {
	Disabled    bool    `yaml:"disabled"`
	MaxInFlight int     `yaml:"max_in_flight"` // default 4096
	P1          float64 `yaml:"p1"`            // default 0.9
	P2          float64 `yaml:"p2"`            // default 0.75
	P3          float64 `yaml:"p3"`            // default 0.6
}

// Admin configures the admin API on the admin listener.
type Admin struct {
	// Tokens may call the admin API (Authorization: Bearer <token>). Only
	// the SHA-256 of each token is stored; the ID names the caller in the
	// audit log. No tokens: the config endpoints answer 403.
	Tokens []AdminToken `yaml:"tokens"`
	// AuditLog receives one JSON line per config change attempt: stderr
	// (default), stdout, off, or a file path.
	AuditLog string `yaml:"audit_log"`
}

// AdminToken is one admin API caller.
type AdminToken struct {
	ID     string `yaml:"id"`
	SHA256 string `yaml:"sha256"` // hex of SHA-256(token)
}

// Route is one entry of the route table.
type Route struct {
	ID                string          `yaml:"id"`
	Pattern           string          `yaml:"pattern"`
	Methods           policy.Methods  `yaml:"methods"` // empty: all known methods
	Backend           string          `yaml:"backend"` // a backend name, or "self" for the gateway's own health answer
	StripPrefix       string          `yaml:"strip_prefix"`
	Auth              policy.Auth     `yaml:"auth"` // jwt | api_key | none (default jwt)
	RequiredScopes    []string        `yaml:"required_scopes"`
	RateLimitTier     string          `yaml:"rate_limit_tier"`      // empty: not limited
	RateLimitFailMode policy.FailMode `yaml:"rate_limit_fail_mode"` // open (default) | closed
	// RateLimitDeadlineMS bounds the limiter's decision (default 5): a
	// decision that takes longer is "no decision" and the fail mode answers.
	RateLimitDeadlineMS int             `yaml:"rate_limit_deadline_ms"`
	TimeoutMS           int             `yaml:"timeout_ms"`     // default 10000
	MaxBodyBytes        int64           `yaml:"max_body_bytes"` // default limits.max_body_bytes
	Priority            policy.Priority `yaml:"priority"`       // P0..P3 (default P2)
	CORS                *CORS           `yaml:"cors"`
	Deprecated          bool            `yaml:"deprecated"`
	Sunset              string          `yaml:"sunset"` // YYYY-MM-DD; sent as the Sunset header when deprecated
}

// CORS is a route's cross-origin policy.
type CORS struct {
	AllowedOrigins []string       `yaml:"allowed_origins"`
	AllowedMethods policy.Methods `yaml:"allowed_methods"` // default: the route's methods
	AllowedHeaders []string       `yaml:"allowed_headers"`
	MaxAgeSeconds  int            `yaml:"max_age_seconds"`
	Credentials    bool           `yaml:"allow_credentials"`
}
