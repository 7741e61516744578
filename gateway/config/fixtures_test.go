package config

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/policy"
)

const fixtureDir = "../../fixtures/"

// TestFixtureGatewayYAML checks the config `make serve` and the tests use.
func TestFixtureGatewayYAML(t *testing.T) {
	if _, err := os.Stat(fixtureDir + "keys/jwks.json"); err != nil {
		t.Skipf("fixtures/keys/jwks.json is missing (generate it with: go run ./fixtures/keys/gen): %v", err)
	}
	c, err := Load(fixtureDir + "gateway.yaml")
	if err != nil {
		t.Fatalf("fixtures/gateway.yaml is invalid:\n%v", err)
	}
	if len(c.Routes) != 7 || len(c.Backends) != 6 || len(c.RateLimit.Tiers) != 5 {
		t.Errorf("got %d routes, %d backends, %d tiers", len(c.Routes), len(c.Backends), len(c.RateLimit.Tiers))
	}
	if c.Limits.MaxConnections != DefaultMaxConnections || !reflect.DeepEqual(c.Gateway.StripInboundHeaders, DefaultStripInboundHeaders) {
		t.Errorf("the fixture writes out the defaults: max_connections %d, strip_inbound_headers %v", c.Limits.MaxConnections, c.Gateway.StripInboundHeaders)
	}
	routes := map[string]Route{}
	for _, r := range c.Routes {
		routes[r.ID] = r
	}
	if r := routes["payments-v2"]; r.RateLimitFailMode != FailClosed || r.TimeoutMS != 30000 || r.Priority != policy.P0 {
		t.Errorf("payments-v2 = %+v", r)
	}
	if r := routes["users-v1"]; !r.Deprecated || r.Sunset != "2025-06-01" {
		t.Errorf("users-v1 = %+v", r)
	}
	if r := routes["admin"]; len(r.Methods) != 0 || len(r.RequiredScopes) != 1 {
		t.Errorf("admin = %+v", r)
	}

	// The documented test keys (fixtures/README.md) match the stored hashes.
	keys := map[string]APIKey{}
	for _, k := range c.Auth.APIKeys {
		keys[k.SHA256] = k
	}
	now := time.Now()
	if k, ok := keys[hashOf("glk_test_partner42")]; !ok || k.PartnerID != "partner_42" || k.Tier != "third_party" ||
		k.Revoked || !k.ExpiresAt.After(now.AddDate(50, 0, 0)) || len(k.Scopes) != 1 || k.Scopes[0] != "read:products" {
		t.Errorf("glk_test_partner42: %+v (found %v)", k, ok)
	}
	if k, ok := keys[hashOf("glk_test_revoked")]; !ok || !k.Revoked {
		t.Errorf("glk_test_revoked: %+v (found %v)", k, ok)
	}
	if k, ok := keys[hashOf("glk_test_expired")]; !ok || k.Revoked || !k.ExpiresAt.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("glk_test_expired: %+v (found %v)", k, ok)
	}
}
