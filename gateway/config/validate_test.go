package config

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/policy"
)

func hashOf(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// validConfig is a Config built in code that passes Validate and exercises
// every kind of entry: jwt, api_key and none routes, every tier key, the
// same pattern with disjoint methods, the catch-all, CORS, deprecation.
func validConfig(t *testing.T) *Config {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "jwks.json"), `{"keys":[]}`)
	writeFile(t, filepath.Join(dir, "keys.yaml"), "[]\n")
	c := &Config{
		BaseDir: dir,
		Auth: Auth{
			JWT: JWT{JWKSFile: "jwks.json", Issuers: []string{"https://issuer.test"}, Audiences: []string{"gatelab"}},
			APIKeys: []APIKey{
				{ID: "k1", SHA256: hashOf("key1"), PartnerID: "p1", Tier: "partner"},
				{ID: "k2", SHA256: strings.ToUpper(hashOf("key2")), PartnerID: "p2"},
			},
			APIKeysFile: "keys.yaml",
		},
		RateLimit: RateLimit{Tiers: []Tier{
			{Name: "users", Limit: 100, Window: time.Minute, Key: policy.KeyUserID},
			{Name: "partner", Limit: 50, Window: time.Minute, Key: policy.KeyAPIKey},
			{Name: "anon", Limit: 30, Window: time.Minute, Key: policy.KeyClientIP},
			{Name: "all", Limit: 1000, Window: time.Second, Key: policy.KeyGlobal, Algorithm: policy.GCRA},
		}},
		Backends: []Backend{
			{Name: "users", Instances: []Instance{{URL: "http://127.0.0.1:9101"}}},
			{Name: "products", Instances: []Instance{{URL: "https://products.internal:8443/", Weight: 3}, {URL: "http://[::1]:9106"}}},
		},
		Routes: []Route{
			{ID: "users", Pattern: "/api/v2/users/*", Methods: policy.Methods{policy.MethodGet, policy.MethodPost}, Backend: "users",
				StripPrefix: "/api/v2", RateLimitTier: "users", RequiredScopes: []string{"users:read"}},
			{ID: "users-delete", Pattern: "/api/v2/users/*", Methods: policy.Methods{policy.MethodDelete}, Backend: "users", StripPrefix: "/api/v2/users"},
			{ID: "products", Pattern: "/api/v2/products/*", Methods: policy.Methods{policy.MethodGet}, Backend: "products",
				Auth: AuthAPIKey, RateLimitTier: "partner", RequiredScopes: []string{"read:products"},
				CORS: &CORS{AllowedOrigins: []string{"https://app.example.com", "http://localhost:3000"}, AllowedMethods: policy.Methods{policy.MethodGet}, Credentials: true}},
			{ID: "health", Pattern: "/api/v2/health", Methods: policy.Methods{policy.MethodGet}, Backend: BackendSelf, Auth: AuthNone, RateLimitTier: "anon", CORS: &CORS{AllowedOrigins: []string{"*"}}},
			{ID: "users.v1", Pattern: "/api/v1/users/*", Backend: "users", StripPrefix: "/api/v1", Deprecated: true, Sunset: "2025-06-01", Priority: policy.P3},
			{ID: "root", Pattern: "/", Backend: "users", Auth: AuthNone, RateLimitFailMode: FailClosed, Priority: policy.P0},
			{ID: "catch_all", Pattern: "/*", Backend: "users", Auth: AuthNone, RateLimitTier: "all"},
		},
	}
	c.ApplyDefaults()
	return c
}

func TestValidConfigHasNoProblems(t *testing.T) {
	c := validConfig(t)
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default(): %v", err)
	}
}

func TestValidateDoesNotMutate(t *testing.T) {
	c := validConfig(t)
	c.Routes[0].Auth = policy.Auth(9)
	before := *c
	before.Routes = append([]Route(nil), c.Routes...)
	before.Auth.APIKeys = append([]APIKey(nil), c.Auth.APIKeys...)
	_ = c.Validate()
	if !reflect.DeepEqual(before.Routes, c.Routes) || !reflect.DeepEqual(before.Auth.APIKeys, c.Auth.APIKeys) {
		t.Fatal("Validate modified the config")
	}
}

// TestValidateRules checks every validation rule: each case breaks one thing
// in validConfig and expects exactly the listed problems (path + message
// fragment), so removing a check fails its case. Cases with no want must
// stay valid (they pin what a rule must not reject).
func TestValidateRules(t *testing.T) {
	type want struct{ path, msg string }
	cases := []struct {
		name   string
		mutate func(c *Config)
		want   []want
	}{
		// top level
		{"negative version", func(c *Config) { c.Version = -1 }, []want{{"version", "negative"}}},
		{"listen not host:port", func(c *Config) { c.Listen.Traffic = "8080" }, []want{{"listen.traffic", "not host:port"}}},
		{"listen bad port", func(c *Config) { c.Listen.Admin = "127.0.0.1:http" }, []want{{"listen.admin", "port must be a number"}}},
		{"listen port out of range", func(c *Config) { c.Listen.Admin = "127.0.0.1:70000" }, []want{{"listen.admin", "port must be a number"}}},
		{"listen any host ok", func(c *Config) { c.Listen.Traffic = ":0" }, nil},
		{"negative limit", func(c *Config) { c.Limits.MaxBodyBytes = -1 }, []want{{"limits.max_body_bytes", "negative"}}},
		{"negative limit duration", func(c *Config) { c.Limits.WriteTimeout = -time.Second }, []want{{"limits.write_timeout", "negative"}}},
		{"empty engine", func(c *Config) { c.Engines.Router = "" }, []want{{"engines.router", "lower-case"}}},
		{"upper-case engine", func(c *Config) { c.Engines.Server = "NetHTTP" }, []want{{"engines.server", "lower-case"}}},
		{"unknown engine name is not checked here", func(c *Config) { c.Engines.Limiter = "nosuch" }, nil},
		{"forwarded proto", func(c *Config) { c.Gateway.ForwardedProto = "ftp" }, []want{{"gateway.forwarded_proto", "http or https"}}},
		{"max connections negative", func(c *Config) { c.Limits.MaxConnections = -1 }, []want{{"limits.max_connections", "at least 1"}}},
		{"max connections zero without defaults", func(c *Config) { c.Limits.MaxConnections = 0 }, []want{{"limits.max_connections", "at least 1"}}},
		{"max connections one ok", func(c *Config) { c.Limits.MaxConnections = 1 }, nil},
		{"strip headers empty list ok", func(c *Config) { c.Gateway.StripInboundHeaders = []string{} }, nil},
		{"strip headers own list ok", func(c *Config) {
			c.Gateway.StripInboundHeaders = []string{"X-Debug", "x_internal_user", "X-A!#$%&'*+.^`|~1"}
		}, nil},
		{"strip header not a token", func(c *Config) { c.Gateway.StripInboundHeaders = []string{"X-Ok", "X Real IP", "", "X-Ä", "X:Y"} }, []want{
			{"gateway.strip_inbound_headers[1]", "not a header name"}, {"gateway.strip_inbound_headers[2]", "not a header name"},
			{"gateway.strip_inbound_headers[3]", "not a header name"}, {"gateway.strip_inbound_headers[4]", "not a header name"}}},
		{"strip header too long", func(c *Config) {
			c.Gateway.StripInboundHeaders = []string{"X-" + strings.Repeat("a", 62), "X-" + strings.Repeat("a", 63)}
		}, []want{
			{"gateway.strip_inbound_headers[1]", "longer than 64"}}},
		{"strip header twice", func(c *Config) {
			c.Gateway.StripInboundHeaders = []string{"X-Real-IP", "x-real-ip", "X_REAL_IP", "X-Real-IPs"}
		}, []want{
			{"gateway.strip_inbound_headers[1]", "listed twice (also gateway.strip_inbound_headers[0]"}, {"gateway.strip_inbound_headers[2]", "listed twice"}}},
		{"access log output", func(c *Config) { c.AccessLog.Output = "" }, []want{{"access_log.output", "stdout"}}},
		{"access log buffer", func(c *Config) { c.AccessLog.Buffer = -5 }, []want{{"access_log.buffer", "> 0"}}},
		{"access log sample", func(c *Config) { s := 1.5; c.AccessLog.SuccessSample = &s }, []want{{"access_log.success_sample", "between 0 and 1"}}},

		// tiers
		{"duplicate tier", func(c *Config) { c.RateLimit.Tiers = append(c.RateLimit.Tiers, c.RateLimit.Tiers[0]) }, []want{{"rate_limits.tiers[4] (name \"users\").name", "duplicate tier name \"users\" (also rate_limits.tiers[0])"}}},
		{"tier without name", func(c *Config) {
			c.RateLimit.Tiers = append(c.RateLimit.Tiers, Tier{Limit: 1, Window: time.Second, Key: policy.KeyGlobal, Algorithm: policy.GCRA})
		}, []want{{"rate_limits.tiers[4].name", "required"}}},
		{"tier limit zero", func(c *Config) { c.RateLimit.Tiers[0].Limit = 0 }, []want{{"rate_limits.tiers[0] (name \"users\").limit", "> 0"}}},
		{"tier limit negative", func(c *Config) { c.RateLimit.Tiers[0].Limit = -3 }, []want{{"rate_limits.tiers[0] (name \"users\").limit", "> 0"}}},
		{"tier window zero", func(c *Config) { c.RateLimit.Tiers[1].Window = 0 }, []want{{"rate_limits.tiers[1] (name \"partner\").window", "> 0"}}},
		{"tier key missing", func(c *Config) { c.RateLimit.Tiers[1].Key = 0 }, []want{{"rate_limits.tiers[1] (name \"partner\").key", "is required: want user_id, api_key, client_ip or global"}}},
		{"tier key invalid", func(c *Config) { c.RateLimit.Tiers[1].Key = 9 }, []want{{"rate_limits.tiers[1] (name \"partner\").key", "invalid value 9: want user_id, api_key, client_ip or global"}}},
		{"tier algorithm", func(c *Config) { c.RateLimit.Tiers[1].Algorithm = 7 }, []want{{"rate_limits.tiers[1] (name \"partner\").algorithm", "invalid value 7: want sliding_window or gcra"}}},
		{"user_id tier on auth none route", func(c *Config) { c.Routes[3].RateLimitTier = "users" }, []want{{"routes[3] (id \"health\").rate_limit_tier", "no user id"}}},
		{"user_id tier on api_key route ok", func(c *Config) { c.Routes[2].RateLimitTier = "users" }, nil},
		{"api_key tier on jwt route", func(c *Config) { c.Routes[0].RateLimitTier = "partner" }, []want{{"routes[0] (id \"users\").rate_limit_tier", "no API key"}}},

		// backends
		{"duplicate backend", func(c *Config) { c.Backends[1].Name = "users" }, []want{{"backends[1] (name \"users\").name", "duplicate backend"}, {"routes[2] (id \"products\").backend", "unknown backend"}}},
		{"backend without name", func(c *Config) {
			b := Backend{Instances: []Instance{{URL: "http://h:1"}}}
			c.Backends = append(c.Backends, b)
			c.ApplyDefaults()
		}, []want{{"backends[2].name", "required"}}},
		{"breaker and balance", func(c *Config) {
			c.Backends[0].Balance = 5
			c.Backends[0].CircuitBreaker.FailureRatio = 1.5
			c.Backends[0].CircuitBreaker.RampSteps = []int{50, 25}
		}, []want{{"backends[0] (name \"users\").balance", "want round_robin or least_outstanding"}, {"backends[0] (name \"users\").circuit_breaker.failure_ratio", "between 0 and 1"}, {"backends[0] (name \"users\").circuit_breaker.ramp_steps[1]", "must rise"}, {"backends[0] (name \"users\").circuit_breaker.ramp_steps", "end at 100"}}},
		{"health timeout over interval", func(c *Config) {
			c.Backends[0].HealthCheck.Timeout = time.Minute
		}, []want{{"backends[0] (name \"users\").health_check.timeout", "longer than the interval"}}},
		{"shedding order", func(c *Config) { c.Shedding.P3 = 0.95 }, []want{{"shedding.p3", "lower priorities must shed first"}}},
		{"admin tokens", func(c *Config) {
			c.Admin.Tokens = []AdminToken{{ID: "ops", SHA256: "abc"}, {ID: "ops", SHA256: strings.Repeat("a", 64)}}
		}, []want{{"admin.tokens[0] (id \"ops\").sha256", "64 hex digits"}, {"admin.tokens[1] (id \"ops\").id", "duplicate admin token id"}}},
		{"backend named self", func(c *Config) {
			c.Backends = append(c.Backends, c.Backends[0])
			c.Backends[2].Name = "self"
		}, []want{{"backends[2] (name \"self\").name", "reserved"}}},
		{"backend without instances", func(c *Config) { c.Backends[0].Instances = nil }, []want{{"backends[0] (name \"users\").instances", "at least one"}}},
		{"instance without port", func(c *Config) { c.Backends[0].Instances[0].URL = "http://127.0.0.1" }, []want{{"backends[0] (name \"users\").instances[0].url", "port"}}},
		{"instance without scheme", func(c *Config) { c.Backends[0].Instances[0].URL = "127.0.0.1:9101" }, []want{{"backends[0] (name \"users\").instances[0].url", "http://host:port"}}},
		{"instance other scheme", func(c *Config) { c.Backends[0].Instances[0].URL = "grpc://127.0.0.1:9101" }, []want{{"backends[0] (name \"users\").instances[0].url", "http://host:port"}}},
		{"instance with path", func(c *Config) { c.Backends[0].Instances[0].URL = "http://127.0.0.1:9101/v1" }, []want{{"backends[0] (name \"users\").instances[0].url", "no path"}}},
		{"instance port zero", func(c *Config) { c.Backends[0].Instances[0].URL = "http://127.0.0.1:0" }, []want{{"backends[0] (name \"users\").instances[0].url", "1 to 65535"}}},
		{"negative weight", func(c *Config) { c.Backends[1].Instances[1].Weight = -1 }, []want{{"backends[1] (name \"products\").instances[1].weight", "negative"}}},
		{"negative health interval", func(c *Config) { c.Backends[0].HealthCheck.Interval = -time.Second }, []want{{"backends[0] (name \"users\").health_check.interval", "positive"}}},
		{"health path", func(c *Config) { c.Backends[0].HealthCheck.Path = "healthz" }, []want{{"backends[0] (name \"users\").health_check.path", "start with '/'"}}},

		// routes: ids
		{"duplicate route id", func(c *Config) { c.Routes[3].ID = "users" }, []want{{"routes[3] (id \"users\").id", "duplicate route id \"users\" (also routes[0])"}}},
		{"route without id", func(c *Config) { c.Routes[3].ID = "" }, []want{{"routes[3].id", "required"}}},
		{"route id characters", func(c *Config) { c.Routes[3].ID = "health check" }, []want{{"routes[3] (id \"health check\").id", "letters, digits"}}},

		// routes: patterns
		{"same pattern overlapping methods", func(c *Config) { c.Routes[1].Methods = policy.Methods{policy.MethodDelete, policy.MethodPost} }, []want{{"routes[1] (id \"users-delete\").pattern", "for POST is already routed by routes[0] (users)"}}},
		{"same pattern, all methods vs some", func(c *Config) { c.Routes[1].Methods = nil }, []want{{"routes[1] (id \"users-delete\").pattern", "for GET, POST is already routed by routes[0]"}}},
		{"same exact pattern twice", func(c *Config) {
			c.Routes[5].Pattern = "/api/v2/health"
			c.Routes[5].Methods = policy.Methods{policy.MethodHead, policy.MethodGet}
		}, []want{{"routes[5] (id \"root\").pattern", "already routed by routes[3]"}}},
		{"same pattern disjoint methods ok", func(c *Config) {
			c.Routes[1].Methods = policy.Methods{policy.MethodPut, policy.MethodPatch, policy.MethodDelete, policy.MethodHead, policy.MethodOptions}
		}, nil},
		{"exact and prefix of the same path ok", func(c *Config) { c.Routes[5].Pattern = "/api/v2/users" }, nil},
		{"pattern empty", func(c *Config) { c.Routes[5].Pattern = "" }, []want{{"routes[5] (id \"root\").pattern", "required"}}},
		{"pattern relative", func(c *Config) { c.Routes[5].Pattern = "api/x" }, []want{{"routes[5] (id \"root\").pattern", "start with '/'"}}},
		{"pattern star inside", func(c *Config) { c.Routes[5].Pattern = "/api/*/x" }, []want{{"routes[5] (id \"root\").pattern", "only allowed as a final"}}},
		{"pattern star glued", func(c *Config) { c.Routes[5].Pattern = "/api*" }, []want{{"routes[5] (id \"root\").pattern", "only allowed as a final"}}},
		{"pattern star alone", func(c *Config) { c.Routes[5].Pattern = "/api/**" }, []want{{"routes[5] (id \"root\").pattern", "only allowed as a final"}}},
		{"pattern empty segment", func(c *Config) { c.Routes[5].Pattern = "/api//x" }, []want{{"routes[5] (id \"root\").pattern", "empty segment"}}},
		{"pattern empty segment before star", func(c *Config) { c.Routes[5].Pattern = "/api//*" }, []want{{"routes[5] (id \"root\").pattern", "empty segment"}}},
		{"pattern dot segment", func(c *Config) { c.Routes[5].Pattern = "/api/./x" }, []want{{"routes[5] (id \"root\").pattern", "\"..\" segments"}}},
		{"pattern dot-dot segment", func(c *Config) { c.Routes[5].Pattern = "/api/../*" }, []want{{"routes[5] (id \"root\").pattern", "\"..\" segments"}}},
		{"pattern dots inside a segment ok", func(c *Config) { c.Routes[5].Pattern = "/files/v1.2/*" }, nil},
		// Percent escapes: exactly those the gateway keeps in request paths
		// (policy.CanonicalPath), so every router accepts the pattern.
		{"pattern percent escape ok", func(c *Config) { c.Routes[5].Pattern = "/a%20b/caf%C3%A9" }, nil},
		{"pattern percent malformed", func(c *Config) { c.Routes[5].Pattern = "/a%2" }, []want{{"routes[5] (id \"root\").pattern", "'%' must start an escape"}}},
		{"pattern percent not hex", func(c *Config) { c.Routes[5].Pattern = "/a%zz/*" }, []want{{"routes[5] (id \"root\").pattern", "'%' must start an escape"}}},
		{"pattern escaped unreserved", func(c *Config) { c.Routes[5].Pattern = "/%61dmin" }, []want{{"routes[5] (id \"root\").pattern", "must not contain %61"}}},
		{"pattern escaped slash", func(c *Config) { c.Routes[5].Pattern = "/a%2Fb" }, []want{{"routes[5] (id \"root\").pattern", "must not contain %2F"}}},
		{"pattern query", func(c *Config) { c.Routes[5].Pattern = "/a?b=1" }, []want{{"routes[5] (id \"root\").pattern", "'?'"}}},
		{"pattern fragment", func(c *Config) { c.Routes[5].Pattern = "/a#b" }, []want{{"routes[5] (id \"root\").pattern", "'#'"}}},
		{"pattern backslash", func(c *Config) { c.Routes[5].Pattern = "/a\\b" }, []want{{"routes[5] (id \"root\").pattern", "'\\'"}}},
		{"pattern braces", func(c *Config) { c.Routes[5].Pattern = "/users/{id}" }, []want{{"routes[5] (id \"root\").pattern", "'{'"}}},
		{"pattern non-ASCII", func(c *Config) { c.Routes[5].Pattern = "/café" }, []want{{"routes[5] (id \"root\").pattern", "ASCII"}}},
		{"pattern space", func(c *Config) { c.Routes[5].Pattern = "/a b" }, []want{{"routes[5] (id \"root\").pattern", "whitespace"}}},
		{"pattern tab", func(c *Config) { c.Routes[5].Pattern = "/a\t" }, []want{{"routes[5] (id \"root\").pattern", "whitespace"}}},
		// limiter deadline (the engines' sections: engines/engines_test.go)
		{"rate limit deadline negative", func(c *Config) { c.Routes[0].RateLimitDeadlineMS = -1 }, []want{{"routes[0] (id \"users\").rate_limit_deadline_ms", "must be > 0"}}},

		// routes: methods, backend, strip_prefix
		{"unknown method", func(c *Config) { c.Routes[0].Methods = policy.Methods{policy.MethodGet, policy.MethodUnknown} }, []want{{"routes[0] (id \"users\").methods[1]", "invalid method 0: want one of GET, HEAD"}}},
		{"repeated method", func(c *Config) { c.Routes[0].Methods = policy.Methods{policy.MethodGet, policy.MethodGet} }, []want{{"routes[0] (id \"users\").methods[1]", "GET is listed twice"}}},
		{"unknown backend", func(c *Config) { c.Routes[0].Backend = "nosuch" }, []want{{"routes[0] (id \"users\").backend", "unknown backend \"nosuch\""}}},
		{"missing backend", func(c *Config) { c.Routes[0].Backend = "" }, []want{{"routes[0] (id \"users\").backend", "required"}}},
		{"strip prefix mid-segment", func(c *Config) { c.Routes[0].StripPrefix = "/api/v" }, []want{{"routes[0] (id \"users\").strip_prefix", "whole-segment prefix"}}},
		{"strip prefix not a prefix", func(c *Config) { c.Routes[0].StripPrefix = "/api/v1" }, []want{{"routes[0] (id \"users\").strip_prefix", "whole-segment prefix"}}},
		{"strip prefix trailing slash", func(c *Config) { c.Routes[0].StripPrefix = "/api/v2/" }, []want{{"routes[0] (id \"users\").strip_prefix", "whole-segment prefix"}}},
		{"strip prefix with star", func(c *Config) { c.Routes[0].StripPrefix = "/api/v2/users/*" }, []want{{"routes[0] (id \"users\").strip_prefix", "whole-segment prefix"}}},
		{"strip prefix on catch-all", func(c *Config) { c.Routes[6].StripPrefix = "/api" }, []want{{"routes[6] (id \"catch_all\").strip_prefix", "whole-segment prefix"}}},
		{"strip prefix of exact pattern ok", func(c *Config) { c.Routes[3].StripPrefix = "/api/v2/health" }, nil},

		// routes: auth, limits, timeouts, priority
		{"unknown auth", func(c *Config) { c.Routes[0].Auth = 9 }, []want{{"routes[0] (id \"users\").auth", "invalid value 9: want jwt, api_key or none"}}},
		{"auth unset", func(c *Config) { c.Routes[0].Auth = 0 }, []want{{"routes[0] (id \"users\").auth", "is not set: want jwt, api_key or none (ApplyDefaults fills it)"}}},
		{"scopes on auth none", func(c *Config) { c.Routes[3].RequiredScopes = []string{"admin"} }, []want{{"routes[3] (id \"health\").required_scopes", "auth none"}}},
		{"unknown tier", func(c *Config) { c.Routes[0].RateLimitTier = "gold" }, []want{{"routes[0] (id \"users\").rate_limit_tier", "unknown tier \"gold\""}}},
		{"fail mode", func(c *Config) { c.Routes[0].RateLimitFailMode = 9 }, []want{{"routes[0] (id \"users\").rate_limit_fail_mode", "open or closed"}}},
		{"negative timeout", func(c *Config) { c.Routes[0].TimeoutMS = -1 }, []want{{"routes[0] (id \"users\").timeout_ms", "> 0"}}},
		{"zero timeout without defaults", func(c *Config) { c.Routes[0].TimeoutMS = 0 }, []want{{"routes[0] (id \"users\").timeout_ms", "ApplyDefaults"}}},
		{"negative max body", func(c *Config) { c.Routes[0].MaxBodyBytes = -1 }, []want{{"routes[0] (id \"users\").max_body_bytes", "negative"}}},
		{"priority", func(c *Config) { c.Routes[0].Priority = 5 }, []want{{"routes[0] (id \"users\").priority", "invalid value 5: want P0, P1, P2 or P3"}}},
		{"priority unset", func(c *Config) { c.Routes[0].Priority = 0 }, []want{{"routes[0] (id \"users\").priority", "is not set: want P0, P1, P2 or P3"}}},

		// routes: deprecation
		{"sunset format", func(c *Config) { c.Routes[4].Sunset = "06/01/2025" }, []want{{"routes[4] (id \"users.v1\").sunset", "YYYY-MM-DD"}}},
		{"sunset impossible date", func(c *Config) { c.Routes[4].Sunset = "2025-02-30" }, []want{{"routes[4] (id \"users.v1\").sunset", "YYYY-MM-DD"}}},
		{"sunset without deprecated", func(c *Config) { c.Routes[4].Deprecated = false }, []want{{"routes[4] (id \"users.v1\").sunset", "deprecated: true"}}},
		{"deprecated without sunset ok", func(c *Config) { c.Routes[4].Sunset = "" }, nil},

		// routes: CORS
		{"cors origin without scheme", func(c *Config) { c.Routes[2].CORS.AllowedOrigins[0] = "app.example.com" }, []want{{"routes[2] (id \"products\").cors.allowed_origins[0]", "scheme://host[:port]"}}},
		{"cors origin trailing slash", func(c *Config) { c.Routes[2].CORS.AllowedOrigins[0] = "https://app.example.com/" }, []want{{"routes[2] (id \"products\").cors.allowed_origins[0]", "trailing"}}},
		{"cors origin with path", func(c *Config) { c.Routes[2].CORS.AllowedOrigins[0] = "https://app.example.com/x" }, []want{{"routes[2] (id \"products\").cors.allowed_origins[0]", "no path"}}},
		{"cors origin with query", func(c *Config) { c.Routes[2].CORS.AllowedOrigins[0] = "https://app.example.com?x" }, []want{{"routes[2] (id \"products\").cors.allowed_origins[0]", "no path"}}},
		{"cors origin wildcard subdomain", func(c *Config) { c.Routes[2].CORS.AllowedOrigins[0] = "*.example.com" }, []want{{"routes[2] (id \"products\").cors.allowed_origins[0]", "scheme://host[:port]"}}},
		{"cors origin upper case", func(c *Config) { c.Routes[2].CORS.AllowedOrigins[0] = "https://App.example.com" }, []want{{"routes[2] (id \"products\").cors.allowed_origins[0]", "lower case"}}},
		{"cors origin bad port", func(c *Config) { c.Routes[2].CORS.AllowedOrigins[0] = "https://app.example.com:abc" }, []want{{"routes[2] (id \"products\").cors.allowed_origins[0]", "scheme://host[:port]"}}},
		{"cors origin with port ok", func(c *Config) { c.Routes[2].CORS.AllowedOrigins[0] = "https://app.example.com:8443" }, nil},
		{"cors no origins", func(c *Config) { c.Routes[2].CORS.AllowedOrigins = nil }, []want{{"routes[2] (id \"products\").cors.allowed_origins", "at least one"}}},
		{"cors wildcard with credentials", func(c *Config) { c.Routes[3].CORS.Credentials = true }, []want{{"routes[3] (id \"health\").cors.allow_credentials", "\"*\""}}},
		{"cors method", func(c *Config) { c.Routes[2].CORS.AllowedMethods = policy.Methods{policy.MethodUnknown} }, []want{{"routes[2] (id \"products\").cors.allowed_methods[0]", "invalid method 0: want one of GET"}}},
		{"cors max age", func(c *Config) { c.Routes[2].CORS.MaxAgeSeconds = -1 }, []want{{"routes[2] (id \"products\").cors.max_age_seconds", "negative"}}},

		// auth: JWT
		{"jwt routes need issuers", func(c *Config) { c.Auth.JWT.Issuers = nil }, []want{{"auth.jwt.issuers", "required: 3 route(s) use auth jwt"}}},
		{"jwt routes need audiences", func(c *Config) { c.Auth.JWT.Audiences = nil }, []want{{"auth.jwt.audiences", "required"}}},
		{"jwt routes need a JWKS", func(c *Config) { c.Auth.JWT.JWKSFile = "" }, []want{{"auth.jwt", "jwks_file or jwks_url is required"}}},
		{"jwks_url instead of file ok", func(c *Config) { c.Auth.JWT.JWKSFile = ""; c.Auth.JWT.JWKSURL = "https://issuer.test/jwks.json" }, nil},
		{"no jwt routes need no jwt settings", func(c *Config) {
			c.Auth.JWT = Default().Auth.JWT
			c.Routes[0].Auth, c.Routes[1].Auth, c.Routes[4].Auth = AuthAPIKey, AuthNone, AuthAPIKey
			c.Routes[0].RateLimitTier = ""
		}, nil},
		{"empty issuer", func(c *Config) { c.Auth.JWT.Issuers = []string{"https://issuer.test", ""} }, []want{{"auth.jwt.issuers[1]", "empty"}}},
		{"empty audience", func(c *Config) { c.Auth.JWT.Audiences = []string{""} }, []want{{"auth.jwt.audiences[0]", "empty"}}},
		{"jwks file missing", func(c *Config) { c.Auth.JWT.JWKSFile = "nope.json" }, []want{{"auth.jwt.jwks_file", "no such file"}}},
		{"jwks file is a directory", func(c *Config) { c.Auth.JWT.JWKSFile = "." }, []want{{"auth.jwt.jwks_file", "directory"}}},
		{"jwks file empty", func(c *Config) {
			writeFile(t, filepath.Join(c.BaseDir, "empty.json"), "")
			c.Auth.JWT.JWKSFile = "empty.json"
		}, []want{{"auth.jwt.jwks_file", "empty"}}},
		{"jwks file resolves against BaseDir", func(c *Config) { c.BaseDir = t.TempDir() }, []want{{"auth.jwt.jwks_file", "no such file"}, {"auth.api_keys_file", "no such file"}}},
		{"jwks file and url", func(c *Config) { c.Auth.JWT.JWKSURL = "https://issuer.test/jwks.json" }, []want{{"auth.jwt.jwks_url", "not both"}}},
		{"jwks url scheme", func(c *Config) { c.Auth.JWT.JWKSFile = ""; c.Auth.JWT.JWKSURL = "issuer.test/jwks" }, []want{{"auth.jwt.jwks_url", "http:// or https://"}}},
		{"refresh interval", func(c *Config) { c.Auth.JWT.RefreshInterval = -time.Minute }, []want{{"auth.jwt.refresh_interval", "> 0"}}},
		{"negative clock skew", func(c *Config) { d := -time.Second; c.Auth.JWT.ClockSkew = &d }, []want{{"auth.jwt.clock_skew", "negative"}}},
		{"zero clock skew ok", func(c *Config) { d := time.Duration(0); c.Auth.JWT.ClockSkew = &d }, nil},
		{"scopes claim", func(c *Config) { c.Auth.JWT.ScopesClaim = "" }, []want{{"auth.jwt.scopes_claim", "name a claim"}}},
		{"HS256 never accepted", func(c *Config) { c.Auth.JWT.Algorithms = []string{"RS256", "HS256"} }, []want{{"auth.jwt.algorithms[1]", "never accepted"}}},
		{"none never accepted", func(c *Config) { c.Auth.JWT.Algorithms = []string{"none"} }, []want{{"auth.jwt.algorithms[0]", "never accepted"}}},
		{"unknown algorithm", func(c *Config) { c.Auth.JWT.Algorithms = []string{"RS999"} }, []want{{"auth.jwt.algorithms[0]", "unknown algorithm"}}},
		{"cache size", func(c *Config) { c.Auth.JWT.Cache.MaxEntries = -1 }, []want{{"auth.jwt.cache.max_entries", "negative"}}},

		// auth: API keys
		{"api keys file missing", func(c *Config) { c.Auth.APIKeysFile = "missing.yaml" }, []want{{"auth.api_keys_file", "no such file"}}},
		{"key hash too short", func(c *Config) { c.Auth.APIKeys[0].SHA256 = "abc123" }, []want{{"auth.api_keys[0] (id \"k1\").sha256", "64 hex digits"}}},
		{"key hash not hex", func(c *Config) { c.Auth.APIKeys[0].SHA256 = strings.Repeat("zz", 32) }, []want{{"auth.api_keys[0] (id \"k1\").sha256", "64 hex digits"}}},
		{"key hash is the raw key", func(c *Config) { c.Auth.APIKeys[0].SHA256 = "glk_live_0123456789" }, []want{{"auth.api_keys[0] (id \"k1\").sha256", "64 hex digits"}}},
		{"duplicate key hash, any case", func(c *Config) { c.Auth.APIKeys[1].SHA256 = strings.ToUpper(c.Auth.APIKeys[0].SHA256) }, []want{{"auth.api_keys[1] (id \"k2\").sha256", "same key hash as auth.api_keys[0]"}}},
		{"duplicate key id", func(c *Config) { c.Auth.APIKeys[1].ID = "k1" }, []want{{"auth.api_keys[1] (id \"k1\").id", "duplicate API key id"}}},
		{"key without id", func(c *Config) { c.Auth.APIKeys[1].ID = "" }, []want{{"auth.api_keys[1].id", "required"}}},
		{"key unknown tier", func(c *Config) { c.Auth.APIKeys[0].Tier = "gold" }, []want{{"auth.api_keys[0] (id \"k1\").tier", "unknown tier"}}},
		{"key without partner", func(c *Config) { c.Auth.APIKeys[0].PartnerID = "" }, []want{{"auth.api_keys[0] (id \"k1\").partner_id", "required"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(c)
			err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("want no problems, got:\n%v", err)
				}
				return
			}
			probs, ok := err.(Problems)
			if !ok {
				t.Fatalf("want Problems, got %T %v", err, err)
			}
			if len(probs) != len(tc.want) {
				t.Fatalf("want %d problem(s), got %d:\n%v", len(tc.want), len(probs), probs)
			}
			for i, w := range tc.want {
				p := probs[i]
				if p.Path != w.path || !strings.Contains(p.Msg, w.msg) {
					t.Errorf("problem %d: want %s: ...%s..., got %s: %s", i, w.path, w.msg, p.Path, p.Msg)
				}
				if p.File != "" || p.Line != 0 {
					t.Errorf("a Config built in code has no positions, got %q line %d", p.File, p.Line)
				}
			}
		})
	}
}

// TestValidateReadError covers a file that opens but cannot be read: on Linux
// /proc/self/mem opens fine and fails with EIO at offset 0.
func TestValidateReadError(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc/self/mem")
	}
	c := validConfig(t)
	c.Auth.JWT.JWKSFile = "/proc/self/mem"
	probs, _ := c.Validate().(Problems)
	if len(probs) != 1 || probs[0].Path != "auth.jwt.jwks_file" || !strings.Contains(probs[0].Msg, "cannot read /proc/self/mem") {
		t.Fatalf("got %v", probs)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := validConfig(t)
	c.Routes[0].Backend = "nosuch"
	c.Routes[1].Priority = 9
	c.RateLimit.Tiers[0].Limit = 0
	c.Backends[0].Instances[0].URL = "localhost"
	c.Auth.APIKeys[0].PartnerID = ""
	probs, _ := c.Validate().(Problems)
	if len(probs) != 5 {
		t.Fatalf("want all 5 problems, got %d:\n%v", len(probs), probs)
	}
	// Without positions the lines are left out.
	for _, line := range strings.Split(probs.Error(), "\n") {
		if strings.HasPrefix(line, ":") || strings.Contains(line, ":0:") {
			t.Errorf("line number rendered for a code-built config: %q", line)
		}
	}
}
