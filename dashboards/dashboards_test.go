package dashboards

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatelab/gatelab/internal/testproc"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// Every checked-in dashboard passes Validate, and the two have distinct
// uids and titles.
func TestDashboardsValid(t *testing.T) {
	uids, titles := map[string]string{}, map[string]string{}
	for _, name := range DashboardFiles {
		b, err := Dashboard(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(b); err != nil {
			t.Errorf("%s:\n%v", name, err)
		}
		m, err := readModel(name)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := uids[m.UID]; dup {
			t.Errorf("%s: uid %q already used by %s", name, m.UID, prev)
		}
		if prev, dup := titles[m.Title]; dup {
			t.Errorf("%s: title %q already used by %s", name, m.Title, prev)
		}
		uids[m.UID], titles[m.Title] = name, name
	}
}

// Validate catches each kind of broken dashboard, on in-memory copies of
// the fleet dashboard, and names the problem.
func TestValidateCatchesBroken(t *testing.T) {
	good, err := Dashboard(DashboardFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	panel := func(d map[string]any, i int) map[string]any { return d["panels"].([]any)[i].(map[string]any) }
	firstTarget := func(d map[string]any, i int) map[string]any {
		return panel(d, i)["targets"].([]any)[0].(map[string]any)
	}
	for _, c := range []struct {
		name   string
		mutate func(d map[string]any)
		want   string
	}{
		{"no title", func(d map[string]any) { delete(d, "title") }, "title: missing or empty"},
		{"no uid", func(d map[string]any) { d["uid"] = " " }, "uid: missing or empty"},
		{"old schema", func(d map[string]any) { d["schemaVersion"] = 16.0 }, "schemaVersion"},
		{"duplicate panel id", func(d map[string]any) { panel(d, 1)["id"] = panel(d, 0)["id"] }, "already used by"},
		{"no gridPos", func(d map[string]any) { delete(panel(d, 2), "gridPos") }, "gridPos: missing"},
		{"gridPos off the grid", func(d map[string]any) { panel(d, 6)["gridPos"].(map[string]any)["x"] = 20.0 }, "beyond the 24-column grid"},
		{"overlapping panels", func(d map[string]any) { panel(d, 1)["gridPos"] = panel(d, 0)["gridPos"] }, "overlaps"},
		{"no targets", func(d map[string]any) { panel(d, 3)["targets"] = []any{} }, "no targets"},
		{"empty expr", func(d map[string]any) { firstTarget(d, 3)["expr"] = "" }, "empty expr"},
		{"fixed data source", func(d map[string]any) {
			panel(d, 3)["datasource"] = map[string]any{"type": "prometheus", "uid": "PBFA97CFB590B2093"}
		}, `datasource "PBFA97CFB590B2093"`},
		{"target without data source", func(d map[string]any) { delete(firstTarget(d, 3), "datasource") }, `targets[0]: datasource ""`},
		{"no unit", func(d map[string]any) {
			delete(panel(d, 3)["fieldConfig"].(map[string]any)["defaults"].(map[string]any), "unit")
		}, "unit not set"},
		{"undefined variable", func(d map[string]any) { firstTarget(d, 3)["expr"] = `sum(rate(x{job=~"$cluster"}[$__rate_interval]))` }, "$cluster is used but not defined"},
		{"no datasource variable", func(d map[string]any) {
			vars := d["templating"].(map[string]any)["list"].([]any)
			d["templating"].(map[string]any)["list"] = vars[1:]
		}, `no variable "datasource"`},
		{"unknown panel type", func(d map[string]any) { panel(d, 3)["type"] = "graph" }, `type "graph"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(good, &d); err != nil {
				t.Fatal(err)
			}
			c.mutate(d)
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			err = Validate(b)
			if err == nil {
				t.Fatalf("no problem reported")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("problems do not mention %q:\n%v", c.want, err)
			}
		})
	}
	if err := Validate([]byte(`{"title": "x",`)); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("truncated JSON: %v", err)
	}
	// Several problems are all reported, not only the first.
	if err := Validate([]byte(`{"panels": []}`)); err == nil || strings.Count(err.Error(), "\n") < 3 {
		t.Errorf("empty dashboard: want every problem, got %v", err)
	}
}

// Every panel query becomes concrete PromQL: no Grafana variable is left.
func TestQueriesConcrete(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 20 {
		t.Fatalf("%d queries, want the panels of both dashboards", len(qs))
	}
	perDashboard := map[string]int{}
	for _, q := range qs {
		perDashboard[q.Dashboard]++
		c, err := Concrete(q.Expr)
		if err != nil {
			t.Errorf("%s / %s: %v", q.Dashboard, q.Panel, err)
			continue
		}
		if strings.Contains(c, "$") || strings.Contains(c, "[[") {
			t.Errorf("%s / %s: variables left in %q", q.Dashboard, q.Panel, c)
		}
	}
	if perDashboard["gatelab-fleet"] == 0 || perDashboard["gatelab-limiter"] == 0 {
		t.Errorf("queries per dashboard: %v", perDashboard)
	}
	vars, err := Variables()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		if _, err := Concrete(v.Query); err != nil {
			t.Errorf("variable %s of %s: %v", v.Name, v.Dashboard, err)
		}
	}
}

func TestSubstitute(t *testing.T) {
	values := map[string]string{"instance": ".*", "route": "users-v2", "__rate_interval": "1m"}
	for _, c := range []struct{ in, want, err string }{
		{`rate(x{instance=~"$instance"}[$__rate_interval])`, `rate(x{instance=~".*"}[1m])`, ""},
		{`x{route=~"${route}", instance=~"${instance:regex}"}`, `x{route=~"users-v2", instance=~".*"}`, ""},
		{`x{route="[[route]]"}`, `x{route="users-v2"}`, ""},
		{`sum(x)`, `sum(x)`, ""},
		{`x{a=~"$nope"}[$__range]`, "", "no value for $nope, $__range"},
	} {
		got, err := Substitute(c.in, values)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Substitute(%q) = %q, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Substitute(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if got := VarRefs(`x{a=~"$a", b="${b:csv}"}[$__rate_interval] $a`); !reflect.DeepEqual(got, []string{"__rate_interval", "a", "b"}) {
		t.Errorf("VarRefs = %v", got)
	}
	if got := LegendLabels("p99 {{route}} {{ instance }} {{route}}"); !reflect.DeepEqual(got, []string{"instance", "route"}) {
		t.Errorf("LegendLabels = %v", got)
	}
}

// Measured takes the thresholds off alert expressions and keeps what they
// watch.
func TestMeasured(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up{job="gatelab"} == 0`, []string{`up{job="gatelab"}`}},
		{"a:ratio_rate1h > (14.4 * (1 - 0.9999))\nand\na:ratio_rate5m > (14.4 * (1 - 0.9999))", []string{"a:ratio_rate1h", "a:ratio_rate5m"}},
		{`x + 1 < y`, []string{"x + 1", "y"}},
		{`max by (instance) (s{a!="b", c=~"d|e"}) >= 1e-3`, []string{`max by (instance) (s{a!="b", c=~"d|e"})`}},
		{`sum(rate(x{r="a>b"}[5m])) > bool 0`, []string{`sum(rate(x{r="a>b"}[5m]))`}},
		{`gatelab_errors_total > 0 or orders > 1`, []string{"gatelab_errors_total", "orders"}},
		{`absent(up{job="gatelab"})`, nil},
	} {
		r := Rule{Alert: "A", Expr: c.expr}
		if got := r.Measured(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Measured(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
	if got := (Rule{Record: "r:x", Expr: "sum(x)"}).Measured(); !reflect.DeepEqual(got, []string{"r:x"}) {
		t.Errorf("recording rule: %q", got)
	}
}

// alerts.yml follows its convention: every alert compares something
// measured with a threshold and carries a severity; recorded names are
// unique.
func TestRulesConvention(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	records, alerts := map[string]bool{}, map[string]bool{}
	for _, r := range rules {
		switch {
		case r.Record != "":
			if records[r.Record] {
				t.Errorf("record %s defined twice", r.Record)
			}
			records[r.Record] = true
		case r.Alert != "":
			if alerts[r.Alert] {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			alerts[r.Alert] = true
			if len(r.Measured()) == 0 {
				t.Errorf("alert %s: no measured part in %q (want comparisons with thresholds)", r.Alert, r.Expr)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("alert %s: severity %q", r.Alert, s)
			}
		}
	}
	for _, want := range []string{"GatelabOverheadP99OverBudget", "GatelabAvailabilityBelowTarget", "GatelabErrorBudgetBurnFast",
		"GatelabErrorBudgetBurnSlow", "GatelabCircuitBreakerOpen", "GatelabConfigReloadFailures", "GatelabRateLimitNoDecision", "GatelabInstanceDown"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

func TestRenderPrometheusConfig(t *testing.T) {
	b, err := RenderPrometheusConfig(Setup{Targets: []string{"127.0.0.1:9090", "10.0.0.2:9190"},
		ScrapeInterval: time.Second, RuleFile: "/etc/prometheus/gatelab-alerts.yml"})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global struct {
			Scrape string `yaml:"scrape_interval"`
			Eval   string `yaml:"evaluation_interval"`
		} `yaml:"global"`
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			Job    string `yaml:"job_name"`
			Path   string `yaml:"metrics_path"`
			Static []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if cfg.Global.Scrape != "1s" || cfg.Global.Eval != "1s" {
		t.Errorf("intervals %+v", cfg.Global)
	}
	if !reflect.DeepEqual(cfg.RuleFiles, []string{"/etc/prometheus/gatelab-alerts.yml"}) {
		t.Errorf("rule_files %v", cfg.RuleFiles)
	}
	if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].Job != JobName || cfg.ScrapeConfigs[0].Path != "/metrics" ||
		len(cfg.ScrapeConfigs[0].Static) != 1 || !reflect.DeepEqual(cfg.ScrapeConfigs[0].Static[0].Targets, []string{"127.0.0.1:9090", "10.0.0.2:9190"}) {
		t.Errorf("scrape_configs %+v", cfg.ScrapeConfigs)
	}
	if !strings.Contains(string(b), "# Prometheus configuration for a gatelab fleet") {
		t.Errorf("the file's comments were lost:\n%s", b)
	}
	for _, bad := range [][]string{nil, {"127.0.0.1"}, {":9090"}} {
		if _, err := RenderPrometheusConfig(Setup{Targets: bad}); err == nil {
			t.Errorf("targets %q: no error", bad)
		}
	}
	for d, want := range map[time.Duration]string{time.Second: "1s", 1500 * time.Millisecond: "1500ms", 2 * time.Minute: "2m", 90 * time.Second: "90s"} {
		if got := promDuration(d); got != want {
			t.Errorf("promDuration(%v) = %s, want %s", d, got, want)
		}
	}
}

// WriteDir writes a directory whose provisioning files point at the given
// Prometheus and at the written dashboards.
func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	w, err := WriteDir(dir, Setup{Targets: []string{"127.0.0.1:9090"}}, "http://127.0.0.1:19091")
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := os.ReadFile(w.Datasources)
	if !strings.Contains(string(ds), "url: http://127.0.0.1:19091\n") {
		t.Errorf("datasources.yaml:\n%s", ds)
	}
	prov, _ := os.ReadFile(w.Dashboards)
	if !strings.Contains(string(prov), "path: "+w.Grafana+"\n") {
		t.Errorf("dashboards.yaml:\n%s", prov)
	}
	for _, name := range DashboardFiles {
		b, err := os.ReadFile(filepath.Join(w.Grafana, filepath.Base(name)))
		if err != nil || Validate(b) != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	cfg, _ := os.ReadFile(w.Config)
	if !strings.Contains(string(cfg), w.Rules) {
		t.Errorf("prometheus.yml does not load %s:\n%s", w.Rules, cfg)
	}
}

// needTool returns the path of a Prometheus tool, skipping the test when it
// is not installed unless GATELAB_REQUIRE_PROMETHEUS=1.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("GATELAB_REQUIRE_PROMETHEUS") == "1" {
		t.Fatalf("%s not found (%v) and GATELAB_REQUIRE_PROMETHEUS=1", name, err)
	}
	t.Skipf("SKIP: %s not installed (%v); install the prometheus package, GATELAB_REQUIRE_PROMETHEUS=1 makes this a failure", name, err)
	return ""
}

// promtool accepts the rules, a rendered config and the rules' unit tests.
func TestPromtool(t *testing.T) {
	promtool := needTool(t, "promtool")
	dir := t.TempDir()
	w, err := WriteDir(dir, Setup{Targets: []string{"127.0.0.1:9090", "127.0.0.1:9190"}, ScrapeInterval: time.Second}, "http://127.0.0.1:9091")
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(promtool, args...).CombinedOutput()
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Errorf("promtool %s: %v", strings.Join(args, " "), err)
		}
	}
	run("check", "rules", AlertsFile)
	run("check", "config", w.Config)
	run("test", "rules", AlertsTestFile)
}

// A target file replaces the static targets with file-based discovery
// (what the lab uses while its nodes come and go); promtool accepts the
// config and the target file WriteTargetFile writes.
func TestTargetFile(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "targets.json")
	b, err := RenderPrometheusConfig(Setup{TargetFile: tf})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			Job    string           `yaml:"job_name"`
			Static []map[string]any `yaml:"static_configs"`
			FileSD []struct {
				Files   []string `yaml:"files"`
				Refresh string   `yaml:"refresh_interval"`
			} `yaml:"file_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].Job != JobName || len(cfg.ScrapeConfigs[0].Static) != 0 ||
		len(cfg.ScrapeConfigs[0].FileSD) != 1 || !reflect.DeepEqual(cfg.ScrapeConfigs[0].FileSD[0].Files, []string{tf}) {
		t.Fatalf("scrape_configs %+v\n%s", cfg.ScrapeConfigs, b)
	}
	if _, err := RenderPrometheusConfig(Setup{TargetFile: tf, Targets: []string{"127.0.0.1:9090"}}); err == nil {
		t.Error("static targets and a target file: no error")
	}
	groups := []TargetGroup{{Targets: []string{"127.0.0.1:41001"}, Labels: map[string]string{"lab_target": "gatelab-fasthttp-trie-local"}}}
	if err := WriteTargetFile(tf, groups); err != nil {
		t.Fatal(err)
	}
	var back []TargetGroup
	raw, _ := os.ReadFile(tf)
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back, groups) {
		t.Errorf("target file %s: %v", raw, err)
	}
	if err := WriteTargetFile(tf, nil); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(tf); strings.TrimSpace(string(raw)) != "[]" {
		t.Errorf("no groups: %s, want []", raw)
	}
	promtool := needTool(t, "promtool")
	cp := filepath.Join(dir, "prometheus.yml")
	rules := filepath.Join(dir, "rules.yml")
	b, _ = RenderPrometheusConfig(Setup{TargetFile: tf, RuleFile: rules})
	if err := os.WriteFile(rules, []byte("groups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", cp).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s\n%s", err, out, b)
	}
}
