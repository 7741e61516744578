package control

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/gatelab/gatelab/gateway/observe"
	"github.com/gatelab/gatelab/internal/etcdtest"
)

// withMetrics gives e's Manager real node metrics (set before any use).
func withMetrics(e *env) *observe.Metrics {
	met := observe.NewMetrics()
	e.m.opts.Metrics = met
	return met
}

// Metrics are read from the registry with Gather: prometheus/testutil would
// need github.com/kylelemons/godebug, which this module does not require
// (see gateway/observe's test helpers).

// family returns the metric family name from met's registry, nil if it
// has no series.
func family(t *testing.T, met *observe.Metrics, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := met.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil // a vector with no series yet
}

// withLabel returns the series of mf whose label name is value.
func withLabel(mf *dto.MetricFamily, name, value string) *dto.Metric {
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == name && l.GetValue() == value {
				return m
			}
		}
	}
	return nil
}

// wantFailures checks gatelab_config_reloads_total. The Manager counts
// refusals only: successes are the Target's (pipeline.Gateway.Apply).
func wantFailures(t *testing.T, met *observe.Metrics, n int, after string) {
	t.Helper()
	mf := family(t, met, "gatelab_config_reloads_total")
	fail, ok := withLabel(mf, "result", "failure"), withLabel(mf, "result", "success")
	if fail.GetCounter().GetValue() != float64(n) || ok.GetCounter().GetValue() != 0 {
		t.Errorf("after %s: gatelab_config_reloads_total failure %g success %g, want %d and 0",
			after, fail.GetCounter().GetValue(), ok.GetCounter().GetValue(), n)
	}
}

// propagations returns how many propagation delays were observed for
// source, and their sum in seconds.
func propagations(t *testing.T, met *observe.Metrics, source string) (uint64, float64) {
	t.Helper()
	m := withLabel(family(t, met, "gatelab_config_propagation_seconds"), "source", source)
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func wantPropagations(t *testing.T, met *observe.Metrics, source string, n uint64) {
	t.Helper()
	if got, sum := propagations(t, met, source); got != n || sum < 0 {
		t.Errorf("gatelab_config_propagation_seconds{source=%q}: %d observations (sum %g), want %d", source, got, sum, n)
	}
}

// TestAdminRefusalsAreCounted: every config the admin API refuses counts
// as a failed reload; an apply through it observes its propagation; a dry
// run counts nothing.
func TestAdminRefusalsAreCounted(t *testing.T) {
	e := newEnv(t)
	met := withMetrics(e)
	a := newAdmin(t, e.m)
	e.mustSubmit(t, baseSpec(0).yaml(), Submission{Source: SourceStartup})
	wantFailures(t, met, 0, "the startup config")
	wantPropagations(t, met, SourceStartup, 0) // no acceptance time: not observed

	v2 := baseSpec(0)
	v2.Tiers[0].Limit = 250
	if r := a.do("PUT", "/config?expected_version=1", opsToken, v2.yaml()); r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.raw)
	}
	wantPropagations(t, met, SourceAdmin, 1)
	wantFailures(t, met, 0, "an applied PUT")

	steps := []struct {
		what   string
		query  string
		body   []byte
		status int
	}{
		{"a version conflict (CAS)", "?expected_version=1", baseSpec(0).yaml(), 409},
		{"a stale declared version", "?expected_version=2", baseSpec(2).yaml(), 409},
		{"an invalid config", "?expected_version=2", []byte(invalidYAML), 422},
		{"an empty config", "?expected_version=2", nil, 422},
	}
	for i, s := range steps {
		if r := a.do("PUT", "/config"+s.query, opsToken, s.body); r.status != s.status {
			t.Fatalf("PUT with %s: %d %s", s.what, r.status, r.raw)
		}
		wantFailures(t, met, i+1, s.what)
	}
	// A dry run is not a reload attempt.
	if r := a.do("POST", "/config/validate", opsToken, []byte(invalidYAML)); r.status != 422 {
		t.Fatalf("validate: %d", r.status)
	}
	wantFailures(t, met, len(steps), "POST /config/validate")
	// Nor is a failure inside Target.Apply the Manager's to count.
	e.target.setFail(errors.New("cannot build"))
	if r := a.do("PUT", "/config?expected_version=2", opsToken, baseSpec(0).yaml()); r.status != 422 {
		t.Fatalf("PUT failing in Apply: %d %s", r.status, r.raw)
	}
	wantFailures(t, met, len(steps), "a failure in Target.Apply")
	wantPropagations(t, met, SourceAdmin, 1)
}

// TestFileRefusalsAreCounted: a bad save of the watched file counts as a
// failed reload; a good one observes its propagation from the save.
func TestFileRefusalsAreCounted(t *testing.T) {
	e := newEnv(t)
	met := withMetrics(e)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, baseSpec(0).yaml(), 0o644); err != nil {
		t.Fatal(err)
	}
	startWatchFile(t, e, path)
	e.waitApplied(t, 1)
	e.audit.next(t)
	wantPropagations(t, met, SourceFile, 0) // the startup read: no save to measure from

	v2 := baseSpec(0)
	v2.Tiers[0].Limit = 250
	writeByRename(t, path, v2.yaml())
	if evs := e.waitApplied(t, 2); evs[len(evs)-1].Propagation < 0 {
		t.Errorf("a saved file's apply has no propagation: %+v", evs)
	}
	wantPropagations(t, met, SourceFile, 1)

	writeByRename(t, path, []byte(invalidYAML))
	e.audit.nextWith(t, "rejected", "file")
	wantFailures(t, met, 1, "a bad file save")
	wantPropagations(t, met, SourceFile, 1)
}

// TestEtcdRefusalsAreCounted: an invalid config or meta record in etcd,
// and an admin PUT refused on a node that publishes to etcd, count as
// failed reloads; an apply from etcd observes its propagation.
func TestEtcdRefusalsAreCounted(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	e := newEnv(t)
	met := withMetrics(e)
	e.m.SetPublish(func(raw []byte, expected int64, actor string) (int64, error) {
		return Publish(ctxT(t), cli, prefix, raw, expected, actor)
	})
	a := newAdmin(t, e.m)
	startWatchEtcd(t, e, cli)
	mustPublish(t, cli, baseSpec(0).yaml(), 0)
	e.waitApplied(t, 1)
	e.audit.next(t)
	wantPropagations(t, met, SourceEtcd, 1)

	mustPublish(t, cli, []byte(invalidYAML), 1)
	e.audit.nextWith(t, "rejected", "etcd")
	wantFailures(t, met, 1, "an invalid config in etcd")

	// Admin PUTs refused before they reach etcd.
	if r := a.do("PUT", "/config?expected_version=1", opsToken, []byte(invalidYAML)); r.status != 422 {
		t.Fatalf("PUT invalid: %d %s", r.status, r.raw)
	}
	if entry := e.audit.next(t); entry["result"] != "rejected" || entry["source"] != "admin" || entry["actor"] != "ops" {
		t.Errorf("audit of a refused publish: %v", entry)
	}
	wantFailures(t, met, 2, "an invalid PUT on an etcd node")
	if r := a.do("PUT", "/config?expected_version=7", opsToken, baseSpec(0).yaml()); r.status != 409 {
		t.Fatalf("PUT on a wrong version: %d %s", r.status, r.raw)
	}
	if entry := e.audit.next(t); entry["result"] != "conflict" || entry["source"] != "admin" {
		t.Errorf("audit of a conflicting publish: %v", entry)
	}
	wantFailures(t, met, 3, "a conflicting PUT on an etcd node")

	if _, err := cli.Put(ctxT(t), prefix+"/meta", "{version: 3"); err != nil {
		t.Fatal(err)
	}
	e.audit.nextWith(t, "rejected", "etcd")
	wantFailures(t, met, 4, "an invalid meta record in etcd")
	// Publishing needs a readable meta record: the PUT cannot reach etcd.
	if r := a.do("PUT", "/config?expected_version=2", opsToken, baseSpec(0).yaml()); r.status != 503 {
		t.Fatalf("PUT over a damaged meta record: %d %s", r.status, r.raw)
	}
	if entry := e.audit.next(t); entry["result"] != "rejected" || entry["source"] != "admin" {
		t.Errorf("audit of an unpublishable PUT: %v", entry)
	}
	wantFailures(t, met, 5, "a PUT that could not be published")
	wantPropagations(t, met, SourceEtcd, 1)
}

// The secrets of secretYAML: a password and a query token.
var urlSecrets = []string{"s3cret", "abc"}

// secretYAML is valid but for its URLs and one unknown backend: an
// instance URL and a jwks_url with credentials in their userinfo and
// query. Each appears, redacted, in a problem.
func secretYAML() []byte {
	s := baseSpec(0)
	s.Routes = append(s.Routes, route{"jwt", "/jwt/*", "nowhere", ""})
	y := string(s.yaml())
	y = strings.Replace(y, "url: http://127.0.0.1:9100", "url: http://user:s3cret@host/?token=abc", 1)
	y = strings.Replace(y, "auth:\n", "auth:\n  jwt:\n    jwks_url: ftp://idp:s3cret@issuer.test/keys?api_key=abc\n    issuers: [https://issuer.test]\n    audiences: [gatelab]\n", 1)
	return []byte(y)
}

func checkNoURLSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range urlSecrets {
		if strings.Contains(text, s) {
			t.Errorf("%s holds %q:\n%s", where, s, text)
		}
	}
}

// TestNoURLSecretEchoed: config URLs with credentials, in a config refused
// for them and for something else, never show their secrets: not in
// Validate's error, POST /config/validate, PUT /config, the audit log or
// the log. A Target.Apply error quoting a URL is redacted too.
func TestNoURLSecretEchoed(t *testing.T) {
	e := newEnv(t)
	a := newAdmin(t, e.m)
	e.mustSubmit(t, baseSpec(0).yaml(), Submission{Source: SourceStartup})
	e.audit.next(t)

	err := e.m.Validate(secretYAML())
	ps, ok := isProblems(err)
	if !ok || len(ps) != 3 {
		t.Fatalf("Validate: want 3 problems (instance url, jwks_url, backend), got %v", err)
	}
	checkNoURLSecret(t, "Validate's error", err.Error())
	r := a.do("POST", "/config/validate", opsToken, secretYAML())
	for _, want := range []string{"http://user:xxxxx@host/?token=xxxxx", "ftp://idp:xxxxx@issuer.test/keys?api_key=xxxxx", `unknown backend \"nowhere\"`} {
		if r.status != 422 || !strings.Contains(r.raw, want) {
			t.Errorf("POST /config/validate: %d, want %s in %s", r.status, want, r.raw)
		}
	}
	checkNoURLSecret(t, "POST /config/validate", r.raw)
	r = a.do("PUT", "/config?expected_version=1", opsToken, secretYAML())
	if r.status != 422 || !strings.Contains(r.raw, "xxxxx") {
		t.Errorf("PUT /config: %d %s", r.status, r.raw)
	}
	checkNoURLSecret(t, "PUT /config", r.raw)
	if entry := e.audit.next(t); entry["result"] != "rejected" {
		t.Errorf("audit %v", entry)
	}

	// A Target that quotes a URL in its error.
	e.target.setFail(errors.New(`backend svc: instance "http://user:s3cret@host:1/?token=abc": refused`))
	r = a.do("PUT", "/config?expected_version=1", opsToken, baseSpec(0).yaml())
	if r.status != 422 || !strings.Contains(r.raw, "http://user:xxxxx@host:1/?token=xxxxx") {
		t.Errorf("PUT failing in Apply: %d %s", r.status, r.raw)
	}
	checkNoURLSecret(t, "PUT /config failing in Apply", r.raw)
	_, err = e.m.Submit(baseSpec(0).yaml(), Submission{Source: SourceFile, Name: "gateway.yaml"})
	if err == nil || errors.Unwrap(err) == nil {
		t.Fatalf("Submit: %v, want the Apply error, unwrappable", err)
	}
	checkNoURLSecret(t, "Submit's error", err.Error())

	checkNoURLSecret(t, "the audit log", e.audit.String())
	checkNoURLSecret(t, "the log", e.logs.String())
}
