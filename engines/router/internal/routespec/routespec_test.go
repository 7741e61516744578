package routespec

import (
	"strings"
	"testing"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// patterns covers every rule of the grammar, accepted and refused.
var patterns = []string{
	"", "api", "/", "/*", "/a", "/a/*", "/a/b/c", "/files/v1.2/*", "/a/..b",
	"/a%20b", "/caf%C3%A9/*", "/a%3a", "/a%3A/*", "/%25",
	"/a%", "/a%2", "/a%zz", "/%61dmin", "/a%2Fb", "/a%2f/*", "/a%5C", "/a%7e", "/a%00", "/a%7F",
	"/a b", "/a\t", "/a\x00", "/café", "/a?b", "/a#b", "/a\\b", "/users/{id}",
	"/a//b", "/a//*", "//*", "/a/", "/a/*/b", "/a*", "/**", "/a/./b", "/a/.", "/a/..", "/../*",
}

// The config accepts exactly the patterns the routers accept: both use
// policy.ParsePattern (before, the config refused every '%' and the routers
// took canonical escapes).
func TestConfigAndRoutersAgreeOnPatterns(t *testing.T) {
	for _, p := range patterns {
		c := &config.Config{
			Backends: []config.Backend{{Name: "b", Instances: []config.Instance{{URL: "http://127.0.0.1:1"}}}},
			Routes:   []config.Route{{ID: "r", Pattern: p, Backend: "b", Auth: config.AuthNone}},
		}
		c.ApplyDefaults()
		configOK := true
		if err := c.Validate(); err != nil {
			for _, prob := range err.(config.Problems) {
				if strings.HasSuffix(prob.Path, ".pattern") {
					configOK = false
				} else {
					t.Errorf("%q: unexpected problem %v", p, prob)
				}
			}
		}
		_, err := Parse([]pipeline.RouteSpec{{Index: 0, Pattern: p, Methods: pipeline.AllMethods}})
		if routerOK := err == nil; routerOK != configOK {
			t.Errorf("%q: the config accepts it: %v; the routers: %v (%v)", p, configOK, routerOK, err)
		}
	}
}
