package peers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatelab/gatelab/internal/upstream"
)

// stripper stands in for a proxy: it forwards to h with prefix removed and
// X-Forwarded-For set (or not).
func stripper(h http.Handler, prefix string, xff bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, prefix)
		r2.URL.RawPath = ""
		r2.RequestURI = r2.URL.RequestURI()
		if xff {
			r2.Header.Set("X-Forwarded-For", "127.0.0.1")
		}
		h.ServeHTTP(w, r2)
	})
}

func TestParityFake(t *testing.T) {
	echo := upstream.New("users")
	other := upstream.New("orders")
	serve := func(h http.Handler) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	}
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	targets := map[string]string{
		"ref":        serve(stripper(echo, "/api/v2", true)),
		"same":       serve(stripper(echo, "/api/v2", true)),
		"wrongstrip": serve(stripper(echo, "/api", true)),
		"noxff":      serve(stripper(echo, "/api/v2", false)),
		"otherup":    serve(stripper(other, "/api/v2", true)),
		"teapot":     serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })),
		"down":       downURL,
		"dropshdr": serve(stripper(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("X-Probe")
			echo.ServeHTTP(w, r)
		}), "/api/v2", true)),
	}
	probe := Probe{Path: "/api/v2/users/me?x=1", Header: http.Header{"X-Probe": {"p1"}}}
	res := Parity(context.Background(), probe, targets, "ref")

	want := map[string][]string{
		"ref":        nil,
		"same":       nil,
		"wrongstrip": {`upstream path: "/v2/users/me", ref has "/users/me"`},
		"noxff":      {"X-Forwarded-For present: false, ref has true"},
		"otherup":    {`upstream name: "orders", ref has "users"`},
		"teapot":     {"status: 418, ref has 200", "reached an upstream: false, ref has true"},
		"down":       {"no answer"},
		"dropshdr":   {`upstream header X-Probe: none, ref has [p1]`},
	}
	if len(res) != len(targets) {
		t.Fatalf("%d results for %d targets", len(res), len(targets))
	}
	for i, r := range res {
		if i > 0 && res[i-1].Target >= r.Target {
			t.Errorf("results not in name order: %s before %s", res[i-1].Target, r.Target)
		}
		w, ok := want[r.Target]
		if !ok {
			t.Errorf("unexpected target %q", r.Target)
			continue
		}
		if r.OK != (len(w) == 0) {
			t.Errorf("%s: OK=%v, diffs %q", r.Target, r.OK, r.Diffs)
		}
		if len(r.Diffs) != len(w) {
			t.Errorf("%s: diffs %q, want %d like %q", r.Target, r.Diffs, len(w), w)
			continue
		}
		for j := range w {
			if !strings.Contains(r.Diffs[j], w[j]) {
				t.Errorf("%s: diff %q, want it to contain %q", r.Target, r.Diffs[j], w[j])
			}
		}
	}
	if r := res[indexOf(res, "ref")]; r.Status != 200 || r.Upstream["path"] != "/users/me" || r.Upstream["query"] != "x=1" {
		t.Errorf("reference result: %+v", r)
	}

	// Without a usable reference nothing is OK but the reference's answer.
	// A header named Uncompared is sent but its arrival not compared.
	uncompared := Probe{Path: probe.Path, Header: http.Header{"X-Probe": {"p1"}}, Uncompared: []string{"x-probe"}}
	res = Parity(context.Background(), uncompared, map[string]string{"ref": targets["ref"], "dropshdr": targets["dropshdr"]}, "ref")
	if r := res[indexOf(res, "dropshdr")]; !r.OK {
		t.Errorf("an uncompared header was compared: %+v", r)
	}

	res = Parity(context.Background(), probe, map[string]string{"a": targets["same"], "down": downURL}, "down")
	if res[0].OK || !strings.Contains(strings.Join(res[0].Diffs, ";"), `reference "down" gave no answer`) {
		t.Errorf("with a dead reference: %+v", res[0])
	}
	res = Parity(context.Background(), probe, map[string]string{"a": targets["same"]}, "missing")
	if res[0].OK || !strings.Contains(strings.Join(res[0].Diffs, ";"), "not among the targets") {
		t.Errorf("with a missing reference: %+v", res[0])
	}
}

func indexOf(rs []ParityResult, target string) int {
	for i, r := range rs {
		if r.Target == target {
			return i
		}
	}
	return -1
}
