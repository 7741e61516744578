package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/dashboards"
	"github.com/gatelab/gatelab/harness/fleet"
	"github.com/gatelab/gatelab/internal/testproc"
)

// With -prometheus the lab runs a real Prometheus that scrapes every
// gatelab node while its trial runs, labelled with the scenario, target and
// repetition, and keeps the data in the run's folder: a second Prometheus
// started on that folder after the run finds the gateway's own series.
func TestPrometheusScrapesTheLab(t *testing.T) {
	if _, err := exec.LookPath("prometheus"); err != nil {
		if os.Getenv("GATELAB_REQUIRE_PROMETHEUS") == "1" {
			t.Fatalf("prometheus not installed and GATELAB_REQUIRE_PROMETHEUS=1: %v", err)
		}
		t.Skipf("SKIP: prometheus not installed (%v); GATELAB_REQUIRE_PROMETHEUS=1 makes this a failure", err)
	}
	s := parse(t, "name: scraped\n"+directOnly+`
load: {warmup: 500ms, stages: [{duration: 4s, rate: 100}]}
`)
	var log strings.Builder
	o := Options{Bin: testproc.Binary(t), Out: t.TempDir(), Profile: "quick", Scenarios: []Planned{{S: s, Reps: 2}},
		Engines: testEngines, Require: RequireFromEnv(), Progress: &log, Prometheus: testproc.FreeAddr(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	t.Logf("bench output:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "prometheus http://"+o.Prometheus+" scrapes every gatelab node") {
		t.Errorf("no banner saying where Prometheus is")
	}
	dir := filepath.Join(o.Out, res.RunID, PrometheusDir)
	// Every trial's target was removed again: the file is empty at the end.
	if b, err := os.ReadFile(filepath.Join(dir, "targets.json")); err != nil || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("targets.json after the run: %q %v, want []", b, err)
	}

	// A fresh Prometheus on the run's data.
	listen := testproc.FreeAddr(t)
	path, _ := exec.LookPath("prometheus")
	p, err := fleet.Start(ctx, fleet.Spec{Name: "prometheus-after", Path: path, Dir: dir,
		Args:  dashboards.PrometheusArgs(filepath.Join(dir, "prometheus.yml"), filepath.Join(dir, "data"), listen),
		Ready: dashboards.PrometheusReady, ReadyTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(10 * time.Second)
	query := func(q string) map[string]float64 {
		t.Helper()
		u := dashboards.URL(listen) + "/api/v1/query?query=" + url.QueryEscape(q)
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Status string
			Error  string
			Data   struct {
				Result []struct {
					Metric map[string]string
					Value  [2]any
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
			t.Fatalf("%s: %v %s", q, err, body.Error)
		}
		out := map[string]float64{}
		for _, r := range body.Data.Result {
			var v float64
			json.Unmarshal([]byte(r.Value[1].(string)), &v)
			out[r.Metric["lab_target"]+"/"+r.Metric["lab_rep"]] = v
		}
		return out
	}
	// Both repetitions of the gatelab target were scraped and up; the
	// direct baseline has no admin listener and is not a scrape target.
	up := query(`max by (lab_target, lab_rep) (max_over_time(up{job="gatelab", lab_scenario="scraped"}[1h]))`)
	for _, k := range []string{"gatelab-nethttp-trie-local/1", "gatelab-nethttp-trie-local/2"} {
		if up[k] != 1 {
			t.Errorf("up for %s: %v (all: %v), want 1", k, up[k], up)
		}
	}
	if len(up) != 2 {
		t.Errorf("scraped %v, want the gatelab target's two repetitions only", up)
	}
	// The gateway's own counters are there, with the load's requests.
	reqs := query(`max by (lab_target, lab_rep) (max_over_time(gatelab_requests_total{lab_scenario="scraped", route="users", code="200"}[1h]))`)
	for _, k := range []string{"gatelab-nethttp-trie-local/1", "gatelab-nethttp-trie-local/2"} {
		if reqs[k] < 50 {
			t.Errorf("gatelab_requests_total for %s: %v (all %v), want the load's requests (100/s)", k, reqs[k], reqs)
		}
	}
}
