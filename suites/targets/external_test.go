package targets

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/testproc"
	"github.com/gatelab/gatelab/internal/upstream"
	"github.com/gatelab/gatelab/suites"
)

func TestExternalURLsAndFeatures(t *testing.T) {
	caps := &suites.Capabilities{Implementation: suites.Implementation{Name: "mine", Version: "1"},
		Features: []suites.Feature{suites.RoutingPrefix, suites.CORS}}
	e, err := NewExternal(ExternalOptions{URL: "http://127.0.0.1:8080/", Capabilities: caps})
	if err != nil {
		t.Fatal(err)
	}
	if e.URL() != "http://127.0.0.1:8080" || e.Name() != "mine" || len(e.Features()) != 2 || e.Implementation().Version != "1" {
		t.Errorf("url %q name %q features %v", e.URL(), e.Name(), e.Features())
	}
	// Not gatelab, or no admin URL: no config changes.
	if err := e.Reconfigure(context.Background(), nil); !errors.Is(err, suites.ErrUnsupported) {
		t.Errorf("Reconfigure: %v, want ErrUnsupported", err)
	}
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://h:1", "http://", "http://h:1/?x=1", "http://u:p@h:1"} {
		if _, err := NewExternal(ExternalOptions{URL: u, Capabilities: caps}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	if _, err := NewExternal(ExternalOptions{URL: "http://h:1"}); err == nil {
		t.Error("no capabilities accepted")
	}
}

// An external gatelab with its admin URL: Reconfigure adds a route through
// the admin API and returns once it is served.
func TestExternalGatelabReconfigure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bin, root := testproc.Binary(t), repoRoot(t)
	fx := startFixture(t, ctx)
	// The "user's" gatelab: the reference target, reached only by its URLs.
	g, err := StartGatelab(ctx, GatelabOptions{Bin: bin, Root: root, Fixture: fx, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	caps := &suites.Capabilities{Implementation: suites.Implementation{Name: "gatelab", Version: "x"},
		Features: []suites.Feature{suites.RoutingPrefix, suites.ConfigReload}, Upstreams: fx.Backends}
	e, err := NewExternal(ExternalOptions{URL: g.URL(), Admin: g.AdminURL(), Capabilities: caps, Root: root, Fixture: fx})
	if err != nil {
		t.Fatal(err)
	}
	get := func() (int, string) {
		resp, err := http.Get(e.URL() + "/conf/ext-added/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var echo upstream.Echo
		json.NewDecoder(resp.Body).Decode(&echo)
		return resp.StatusCode, echo.Name
	}
	if code, _ := get(); code != http.StatusNotFound {
		t.Fatalf("before: status %d, want 404", code)
	}
	extra := []suites.Route{{ID: "ext-added", Pattern: "/conf/ext-added/*", Backend: suites.BackendGamma, Auth: suites.NoAuth}}
	if err := e.Reconfigure(ctx, extra); err != nil {
		t.Fatal(err)
	}
	// Served once Reconfigure returns: no waiting here.
	if code, name := get(); code != 200 || name != suites.BackendGamma {
		t.Errorf("after: status %d from %q, want 200 from gamma", code, name)
	}
	if !strings.HasPrefix(e.URL(), "http://127.0.0.1:") {
		t.Errorf("url %q", e.URL())
	}
}
