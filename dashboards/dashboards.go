package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
)

//go:embed grafana/*.json grafana/provisioning/*.yaml prometheus/*.yml
var files embed.FS

// Files returns the embedded data files under their repository paths
// relative to this package (grafana/..., prometheus/...).
func Files() fs.FS { return files }

// DashboardFiles are the dashboards' paths in Files.
var DashboardFiles = []string{"grafana/gatelab-fleet.json", "grafana/gatelab-limiter.json"}

// Paths of the other files in Files.
const (
	PrometheusConfigFile = "prometheus/prometheus.yml"
	AlertsFile           = "prometheus/alerts.yml"
	AlertsTestFile       = "prometheus/alerts_test.yml"
	DatasourcesFile      = "grafana/provisioning/datasources.yaml"
	ProvisioningFile     = "grafana/provisioning/dashboards.yaml"
)

// Query is one target of a dashboard panel.
type Query struct {
	Dashboard string // the dashboard's uid
	Panel     string // the panel's title
	PanelID   int
	RefID     string // the target's refId (A, B, ...)
	Expr      string // PromQL as written, with Grafana variables
	Legend    string // legendFormat; its {{label}}s name labels every series should carry
}

// Variable is a query variable of a dashboard (the values offered in a
// drop-down come from Prometheus).
type Variable struct {
	Dashboard string
	Name      string
	Query     string // e.g. label_values(gatelab_engine_info{job="gatelab"}, instance)
}

// The parts of Grafana's dashboard JSON model this package reads. Fields not
// listed are ignored here (Validate reads the raw JSON).
type model struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int      `json:"id"`
	Title   string   `json:"title"`
	Type    string   `json:"type"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // a collapsed row's panels
}

type target struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
}

type variable struct {
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Query    json.RawMessage `json:"query"`
	AllValue string          `json:"allValue"`
}

// queryText returns a query variable's query: a plain string, or the
// "query" field of the object form newer Grafana versions write.
func (v variable) queryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &o) == nil {
		return o.Query
	}
	return ""
}

// allPanels flattens rows: the panels of collapsed rows follow their row.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func readModel(name string) (model, error) {
	var m model
	b, err := fs.ReadFile(files, name)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// Dashboard returns the JSON of the dashboard file name (one of
// DashboardFiles, or its base name).
func Dashboard(name string) ([]byte, error) {
	if path.Dir(name) == "." {
		name = "grafana/" + name
	}
	return fs.ReadFile(files, name)
}

// Queries returns every panel target of every dashboard, in file and panel
// order.
func Queries() ([]Query, error) {
	var out []Query
	for _, name := range DashboardFiles {
		m, err := readModel(name)
		if err != nil {
			return nil, err
		}
		for _, p := range allPanels(m.Panels) {
			for _, t := range p.Targets {
				out = append(out, Query{Dashboard: m.UID, Panel: p.Title, PanelID: p.ID,
					RefID: t.RefID, Expr: t.Expr, Legend: t.LegendFormat})
			}
		}
	}
	return out, nil
}

// Variables returns every query variable of every dashboard.
func Variables() ([]Variable, error) {
	var out []Variable
	for _, name := range DashboardFiles {
		m, err := readModel(name)
		if err != nil {
			return nil, err
		}
		for _, v := range m.Templating.List {
			if v.Type == "query" {
				out = append(out, Variable{Dashboard: m.UID, Name: v.Name, Query: v.queryText()})
			}
		}
	}
	return out, nil
}

// LegendLabels returns the label names a legendFormat refers to
// ({{instance}} {{route}} -> instance, route), sorted, without duplicates.
func LegendLabels(legend string) []string {
	seen := map[string]bool{}
	for _, m := range legendRef.FindAllStringSubmatch(legend, -1) {
		seen[m[1]] = true
	}
	out := make([]string, 0, len(seen))
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}
