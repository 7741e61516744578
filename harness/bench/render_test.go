package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/harness/scenario"
)

// Every built-in scenario renders a gatelab config that the gateway's own
// validation accepts, with every route (copies included) and the churn
// variant too.
func TestRenderedConfigsAreValid(t *testing.T) {
	abs, err := filepath.Abs(filepath.Join("..", "..", "fixtures", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fx, err := config.Load(abs)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join("..", "..", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		s := loadBuiltIn(t, strings.TrimSuffix(e.Name(), ".yaml"))
		ups := map[string][]string{}
		for _, u := range s.Upstreams {
			ups[u.Name] = []string{"http://127.0.0.1:1"}
		}
		for _, extra := range [][]string{nil, {`{id: churn-1, pattern: /churn/1/*, backend: self, auth: none}`}} {
			text := gatelabConfig(fx, s, ups, filepath.Join(t.TempDir(), "access.log"), extra, 7, nil)
			cfg, err := config.Parse([]byte(text), s.Name+".yaml", t.TempDir())
			if err != nil {
				t.Errorf("%s: rendered config refused:\n%v\n%s", s.Name, err, text)
				continue
			}
			want := len(extra)
			for _, r := range s.Routes {
				want += max(r.Copies, 1)
			}
			if len(cfg.Routes) != want || cfg.Version != 7 {
				t.Errorf("%s: %d routes (want %d), version %d", s.Name, len(cfg.Routes), want, cfg.Version)
			}
			// The scenario's tiers keep their key and algorithm (user_id and
			// sliding_window when left out).
			for _, st := range s.Tiers {
				found := false
				for _, ct := range cfg.RateLimit.Tiers {
					if ct.Name != st.Name {
						continue
					}
					found = true
					if ct.Key.String() != orDefault(st.Key, "user_id") || ct.Algorithm.String() != orDefault(st.Algorithm, "sliding_window") {
						t.Errorf("%s: tier %s rendered as key %s, algorithm %s (scenario: %q, %q)", s.Name, st.Name, ct.Key, ct.Algorithm, st.Key, st.Algorithm)
					}
				}
				if !found {
					t.Errorf("%s: tier %s not rendered", s.Name, st.Name)
				}
			}
		}
	}
}

// The peers route a prefix's bare base path as gatelab's "/x/*" does
// (/api/v2/users and everything below /api/v2/users/), copies included; a
// catch-all "/" has no base path.
func TestPeerRoutesRouteTheBasePath(t *testing.T) {
	s := &scenario.Scenario{Routes: []scenario.Route{
		{ID: "users", Prefix: "/api/v2/users/", StripPrefix: "/api/v2", Upstream: "u"},
		{ID: "many", Prefix: "/r/", Upstream: "u", Copies: 2},
		{ID: "all", Prefix: "/", Upstream: "u"},
	}}
	got := peerRoutes(s, map[string][]string{"u": {"http://127.0.0.1:1"}})
	want := map[string]bool{"users": true, "many-0": true, "many-1": true, "all": false}
	if len(got) != len(want) {
		t.Fatalf("%d routes, want %d: %+v", len(got), len(want), got)
	}
	for _, r := range got {
		if b, ok := want[r.ID]; !ok || r.Base != b {
			t.Errorf("route %s (prefix %s): Base %v, want %v", r.ID, r.Prefix, r.Base, b)
		}
		if len(r.Upstreams) != 1 || r.Upstreams[0] != "127.0.0.1:1" {
			t.Errorf("route %s: upstreams %v", r.ID, r.Upstreams)
		}
	}
}
