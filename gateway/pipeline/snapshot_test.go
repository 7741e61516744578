package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/policy"
)

// snapshotConfig is a valid config built in code, without JWT routes (so
// Build needs no keys).
func snapshotConfig() *config.Config {
	c := &config.Config{
		RateLimit: config.RateLimit{Tiers: []config.Tier{
			{Name: "ip", Limit: 10, Window: time.Minute, Key: policy.KeyClientIP, Algorithm: policy.GCRA},
			{Name: "all", Limit: 10, Window: time.Second, Key: policy.KeyGlobal},
		}},
		Backends: []config.Backend{{Name: "svc", Balance: policy.LeastOutstanding, Instances: []config.Instance{{URL: "http://127.0.0.1:1"}}}},
		Routes: []config.Route{
			{ID: "a", Pattern: "/a/*", Backend: "svc", Auth: config.AuthNone, Methods: policy.Methods{policy.MethodPost, policy.MethodGet},
				Priority: policy.P0, RateLimitTier: "ip", RateLimitFailMode: config.FailClosed},
			{ID: "b", Pattern: "/b", Backend: "svc", Auth: config.AuthAPIKey, Priority: policy.P3, RateLimitTier: "all"},
		},
		Shedding: config.Shedding{MaxInFlight: 100, P1: 0.9, P2: 0.5, P3: 0.25},
	}
	return c
}

// The snapshot takes the config's typed values as they are: no string is
// parsed again.
func TestBuildUsesTypedConfigValues(t *testing.T) {
	c := snapshotConfig()
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var specs []RouteSpec
	s, err := Build(c, 1, BuildOptions{RouterFactory: func(rs []RouteSpec) (Router, error) { specs = rs; return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()

	a, b := s.Routes[0], s.Routes[1]
	if a.Auth != AuthNone || a.Priority != policy.P0 || a.ShedAt != 0 || !a.FailClosed || a.Methods.Allow() != "GET, POST" || specs[0].Methods != a.Methods {
		t.Errorf("route a: %+v", a)
	}
	if b.Auth != AuthAPIKey || b.Priority != policy.P3 || b.ShedAt != 25 || b.FailClosed || b.Methods != AllMethods {
		t.Errorf("route b: %+v", b)
	}
	if ip := s.Tiers["ip"]; ip.Key != KeyClientIP || ip.Algorithm != GCRA || ip.keyPrefix != "ip:client_ip:" {
		t.Errorf("tier ip: %+v", ip)
	}
	if all := s.Tiers["all"]; all.Key != KeyGlobal || all.Algorithm != SlidingWindow || all.keyPrefix != "all:global:" {
		t.Errorf("tier all: %+v", all)
	}
	if s.JWT != nil {
		t.Error("a JWT verifier without jwt routes")
	}

	// Without defaults applied, unset values take the defaults.
	c = snapshotConfig()
	c.Routes[1].Priority = 0
	s, err = Build(c, 2, BuildOptions{RouterFactory: func([]RouteSpec) (Router, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if p := s.Routes[1].Priority; p != config.DefaultRoutePriority || s.Routes[1].ShedAt != 50 {
		t.Errorf("unset priority compiled as %v (shed at %d)", p, s.Routes[1].ShedAt)
	}
}

// A value outside its type (only a config built in code and not validated
// can hold one) fails the build with the setting named.
func TestBuildRefusesInvalidEnums(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*config.Config)
		want string
	}{
		{"priority", func(c *config.Config) { c.Routes[0].Priority = 9 }, "route a: invalid priority 9"},
		{"auth", func(c *config.Config) { c.Routes[0].Auth = 9 }, "route a: invalid auth 9"},
		{"method", func(c *config.Config) { c.Routes[0].Methods = policy.Methods{policy.MethodGet, 0} }, "route a: invalid method 0"},
		{"tier key", func(c *config.Config) { c.RateLimit.Tiers[0].Key = 0 }, "tier ip: invalid key 0"},
		{"tier algorithm", func(c *config.Config) { c.RateLimit.Tiers[0].Algorithm = 7 }, "tier ip: invalid algorithm 7"},
	} {
		c := snapshotConfig()
		tc.mod(c)
		s, err := Build(c, 1, BuildOptions{RouterFactory: func([]RouteSpec) (Router, error) { return nil, nil }})
		if err == nil {
			s.close()
			t.Errorf("%s: built", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
