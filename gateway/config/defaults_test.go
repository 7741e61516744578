package config

import (
	"reflect"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/policy"
)

func TestApplyDefaultsFillsEverything(t *testing.T) {
	c := Config{
		RateLimit: RateLimit{Tiers: []Tier{{Name: "t"}}},
		Backends:  []Backend{{Name: "b", Instances: []Instance{{URL: "http://h:1"}}}},
		Routes:    []Route{{ID: "r"}},
		Auth:      Auth{APIKeys: []APIKey{{SHA256: "ABCDEF"}}},
	}
	c.ApplyDefaults()

	d := Default()
	if c.Listen != d.Listen || c.Limits != d.Limits || c.Engines != d.Engines || !reflect.DeepEqual(c.Gateway, d.Gateway) {
		t.Errorf("top-level defaults: %+v %+v %+v %+v", c.Listen, c.Limits, c.Engines, c.Gateway)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen.traffic", c.Listen.Traffic, "127.0.0.1:8080"},
		{"listen.admin", c.Listen.Admin, "127.0.0.1:9090"},
		{"read_header_timeout", c.Limits.ReadHeaderTimeout, 10 * time.Second},
		{"read_timeout", c.Limits.ReadTimeout, 30 * time.Second},
		{"write_timeout", c.Limits.WriteTimeout, time.Duration(0)},
		{"idle_timeout", c.Limits.IdleTimeout, 60 * time.Second},
		{"max_header_bytes", c.Limits.MaxHeaderBytes, 8192},
		{"max_body_bytes", c.Limits.MaxBodyBytes, int64(10 << 20)},
		{"buffer_body_bytes", c.Limits.BufferBodyBytes, int64(64 << 10)},
		{"max_conns_per_backend", c.Limits.MaxConnsPerHost, 512},
		{"upstream_idle_timeout", c.Limits.UpstreamIdle, 60 * time.Second},
		{"max_connections", c.Limits.MaxConnections, 10000},
		{"strip_inbound_headers", c.Gateway.StripInboundHeaders, DefaultStripInboundHeaders},
		{"engines", c.Engines, Engines{"nethttp", "trie", "local"}},
		{"forwarded_proto", c.Gateway.ForwardedProto, "http"},
		{"instance", c.Gateway.Instance != "", true},
		{"access_log.output", c.AccessLog.Output, "stdout"},
		{"access_log.buffer", c.AccessLog.Buffer, 8192},
		{"access_log.success_sample", *c.AccessLog.SuccessSample, 1.0},
		{"jwt.refresh_interval", c.Auth.JWT.RefreshInterval, 30 * time.Minute},
		{"jwt.clock_skew", *c.Auth.JWT.ClockSkew, 30 * time.Second},
		{"jwt.scopes_claim", c.Auth.JWT.ScopesClaim, "scope"},
		{"jwt.algorithms", c.Auth.JWT.Algorithms, []string{"RS256", "ES256", "EdDSA"}},
		{"jwt.cache.enabled", c.Auth.JWT.Cache.Enabled, false},
		{"jwt.cache.max_entries", c.Auth.JWT.Cache.MaxEntries, 65536},
		{"api key hash lower-cased", c.Auth.APIKeys[0].SHA256, "abcdef"},
		{"tier.algorithm", c.RateLimit.Tiers[0].Algorithm, policy.SlidingWindow},
		{"instance.weight", c.Backends[0].Instances[0].Weight, 1},
		{"health_check.path", c.Backends[0].HealthCheck.Path, "/healthz"},
		{"backend.balance", c.Backends[0].Balance, policy.RoundRobin},
		{"health_check.interval", c.Backends[0].HealthCheck.Interval, 10 * time.Second},
		{"route.auth", c.Routes[0].Auth, policy.AuthJWT},
		{"route.fail_mode", c.Routes[0].RateLimitFailMode, policy.FailOpen},
		{"route.timeout_ms", c.Routes[0].TimeoutMS, 10000},
		{"route.timeout", c.Routes[0].Timeout(), 10 * time.Second},
		{"route.max_body_bytes", c.Routes[0].MaxBodyBytes, int64(10 << 20)},
		{"route.priority", c.Routes[0].Priority, policy.P2},
		{"route.methods stays empty (all)", len(c.Routes[0].Methods), 0},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestApplyDefaultsKeepsExplicitValues(t *testing.T) {
	skew := time.Duration(0)
	sample := 0.0
	c := Config{
		Limits:    Limits{MaxBodyBytes: 1 << 20, ReadTimeout: -1},
		AccessLog: AccessLog{SuccessSample: &sample},
		Auth:      Auth{JWT: JWT{ClockSkew: &skew, Algorithms: []string{"ES256"}}},
		Routes:    []Route{{Auth: AuthNone, TimeoutMS: -5, Priority: policy.P0}, {MaxBodyBytes: 42}, {}},
	}
	c.ApplyDefaults()
	if *c.Auth.JWT.ClockSkew != 0 || *c.AccessLog.SuccessSample != 0 {
		t.Error("explicit zero skew / sample replaced: pointers mean 'set'")
	}
	if c.Limits.ReadTimeout != -1 || c.Routes[0].TimeoutMS != -5 {
		t.Error("negative values must be left for Validate to reject")
	}
	if c.Routes[0].Auth != AuthNone || c.Routes[0].Priority != policy.P0 || len(c.Auth.JWT.Algorithms) != 1 {
		t.Error("explicit values replaced")
	}
	if c.Routes[1].MaxBodyBytes != 42 || c.Routes[2].MaxBodyBytes != 1<<20 {
		t.Errorf("route max_body_bytes must default to limits.max_body_bytes: %d %d", c.Routes[1].MaxBodyBytes, c.Routes[2].MaxBodyBytes)
	}

	again := c
	again.Routes = append([]Route(nil), c.Routes...)
	again.ApplyDefaults()
	if !reflect.DeepEqual(again.Routes, c.Routes) || again.Limits != c.Limits {
		t.Error("ApplyDefaults is not idempotent")
	}
}

func TestDefaultReturnsFreshValues(t *testing.T) {
	a, b := Default(), Default()
	a.Auth.JWT.Algorithms[0] = "changed"
	*a.AccessLog.SuccessSample = 0.5
	if b.Auth.JWT.Algorithms[0] != "RS256" || *b.AccessLog.SuccessSample != 1 {
		t.Fatal("Default() shares memory between calls")
	}
}

// An absent strip_inbound_headers is the default list; an explicit empty
// one strips nothing; a list replaces the default. Defaults are copies.
func TestStripInboundHeadersDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"absent", "", DefaultStripInboundHeaders},
		{"null", "gateway:\n  strip_inbound_headers:\n", DefaultStripInboundHeaders},
		{"explicit empty", "gateway:\n  strip_inbound_headers: []\n", []string{}},
		{"own list", "gateway:\n  strip_inbound_headers: [X-Debug]\n", []string{"X-Debug"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(minimalYAML+tc.yaml), "gw.yaml", "")
			if err != nil {
				t.Fatal(err)
			}
			got := c.Gateway.StripInboundHeaders
			if got == nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	if len(DefaultStripInboundHeaders) != 20 {
		t.Errorf("the default list has %d names, want the 20 documented", len(DefaultStripInboundHeaders))
	}
	c := Config{}
	c.ApplyDefaults()
	c.Gateway.StripInboundHeaders[0] = "changed"
	if DefaultStripInboundHeaders[0] != "X-Original-URL" || Default().Gateway.StripInboundHeaders[0] != "X-Original-URL" {
		t.Fatal("ApplyDefaults shares the default list")
	}
}
