package pipeline

import (
	"context"
	"slices"
	"testing"

	"github.com/gatelab/gatelab/gateway/observe/metricstest"
)

// metricSeries returns the samples of family name from g's registry.
func metricSeries(t *testing.T, g *Gateway, name string) map[string]float64 {
	return metricstest.Series(t, g.Metrics().Registry(), name)
}

// TestServeMetricLabels: a forwarded request counts under the upstream's
// status code ("other" outside 100..599) and the route's backend; a reload
// that moves the route to another backend labels the next requests with the
// new backend and stops exporting the old backend's upstream series.
func TestServeMetricLabels(t *testing.T) {
	f := newFixture(t)
	tok := f.tok("u1")
	get := func(status int) {
		t.Helper()
		ex := &fakeExchange{req: Request{Method: MethodGet, MethodText: "GET", RawPath: "/api/v2/users/1", ClientIP: "192.0.2.1",
			Authorization: "Bearer " + tok}, status: status}
		f.g.Serve(context.Background(), ex)
		if ex.fwds != 1 {
			t.Fatalf("status %d: not forwarded: %+v", status, ex.answers)
		}
	}
	get(418)
	get(999)
	req := metricSeries(t, f.g, "gatelab_requests_total")
	for _, want := range []string{
		`code="418",method="GET",route="users",status_class="4xx"`,
		`code="other",method="GET",route="users",status_class="5xx"`,
	} {
		if req[want] != 1 {
			t.Errorf("requests{%s} = %v, want 1 (all: %v)", want, req[want], req)
		}
	}
	if got := metricSeries(t, f.g, "gatelab_upstream_connect_seconds"); len(got) != 1 || got[`backend="svc",route="users"`] != 2 {
		t.Errorf("connect series %v, want {backend=svc,route=users} 2", got)
	}

	// Reload: route users moves to a new backend svc2.
	cfg := *f.g.Snapshot().Config
	cfg.Backends = slices.Clone(cfg.Backends)
	nb := cfg.Backends[0]
	nb.Name = "svc2"
	cfg.Backends = append(cfg.Backends, nb)
	cfg.Routes = slices.Clone(cfg.Routes)
	for i := range cfg.Routes {
		if cfg.Routes[i].ID == "users" {
			cfg.Routes[i].Backend = "svc2"
		}
	}
	if err := f.g.Apply(&cfg, 0); err != nil {
		t.Fatal(err)
	}
	get(200)
	if got := metricSeries(t, f.g, "gatelab_upstream_connect_seconds"); len(got) != 1 || got[`backend="svc2",route="users"`] != 1 {
		t.Errorf("connect series after the reload %v, want only {backend=svc2,route=users} 1", got)
	}
	if got := metricSeries(t, f.g, "gatelab_requests_total"); got[`code="418",method="GET",route="users",status_class="4xx"`] != 1 {
		t.Errorf("the route's request counters were reset by the reload: %v", got)
	}
	// Breaker transitions and health changes of every backend exist at 0.
	br := metricSeries(t, f.g, "gatelab_circuit_breaker_transitions_total")
	for _, b := range []string{"svc", "svc2"} {
		for _, st := range []string{"closed", "open", "half_open", "ramping"} {
			if _, ok := br[`backend="`+b+`",state="`+st+`"`]; !ok {
				t.Errorf("no breaker transition series for %s %s: %v", b, st, br)
			}
		}
	}
	hc := metricSeries(t, f.g, "gatelab_backend_health_changes_total")
	if _, ok := hc[`backend="svc2",to="out"`]; !ok {
		t.Errorf("no health change series for svc2: %v", hc)
	}
}
