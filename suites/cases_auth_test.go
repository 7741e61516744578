package suites_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/upstream"
	"github.com/gatelab/gatelab/suites"
)

// noGateway is an echo upstream posing as a gateway that declares every
// feature: every request "reaches the backend" exactly as sent.
type noGateway struct{ url string }

func (n *noGateway) Name() string { return "no-gateway" }
func (n *noGateway) Implementation() suites.Implementation {
	return suites.Implementation{Name: "no-gateway", Version: "test", Mode: map[string]string{}}
}
func (n *noGateway) URL() string { return n.url }
func (n *noGateway) Features() []suites.Feature {
	return append(suites.AllFeatures(), suites.CORS, suites.FailMode)
}
func (n *noGateway) Reconfigure(context.Context, []suites.Route) error {
	return suites.ErrUnsupported
}

// TestAuthRateLimitExtendedCasesFailWithoutAGateway: against no gateway at
// all every auth, rate-limit, reload, fail-mode and CORS case fails with a
// reason. A case that passed here would check nothing a gateway does.
func TestAuthRateLimitExtendedCasesFailWithoutAGateway(t *testing.T) {
	srv := httptest.NewServer(upstream.New(suites.BackendAlpha).Handler())
	defer srv.Close()
	var cases []suites.Case
	for _, c := range suites.All() {
		for _, p := range []string{"auth/", "ratelimit/", "reload/", "cors/"} {
			if strings.HasPrefix(c.ID, p) {
				cases = append(cases, c)
			}
		}
	}
	if len(cases) < 25 {
		t.Fatalf("only %d auth, rate-limit and extended cases", len(cases))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := suites.Run(ctx, &noGateway{url: srv.URL}, cases, suites.Options{Root: repoRoot(t)})
	for _, r := range rep.Cases {
		if r.Outcome != suites.Failed || r.Reason == "" {
			t.Errorf("%s: %s (%q) against no gateway at all; want failed with a reason", r.ID, r.Outcome, r.Reason)
			continue
		}
		t.Logf("%s: %.160s", r.ID, r.Reason)
	}
}

// TestAuthExtendedRoutes checks the routes this group adds: under /conf/a-
// with IDs a-..., a feature to carry them, and CORS policies naming one
// explicit origin.
func TestAuthExtendedRoutes(t *testing.T) {
	ids := map[string]int{}
	for _, r := range suites.Routes {
		ids[r.ID]++
		mine := strings.HasPrefix(r.ID, "a-")
		if mine != strings.HasPrefix(r.Pattern, "/conf/a-") {
			t.Errorf("route %s %s: this group's routes (and only they) live under /conf/a-... with IDs a-...", r.ID, r.Pattern)
		}
		if mine && r.Needs == "" {
			t.Errorf("route %s: no Needs feature", r.ID)
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("route ID %s is used %d times", id, n)
		}
	}
	for _, r := range suites.Routes {
		if c := r.CORS; c != nil && (len(c.AllowedOrigins) == 0 || slices.Contains(c.AllowedOrigins, "*")) {
			t.Errorf("route %s: the CORS cases need one explicit origin, got %q", r.ID, c.AllowedOrigins)
		}
	}
}
