package dashboards

import (
	"fmt"
	"io/fs"

	"go.yaml.in/yaml/v3"
)

// Rule is one rule of alerts.yml: a recording rule (Record set) or an
// alert (Alert set).
type Rule struct {
	Group  string
	Record string // the recorded series' name
	Alert  string // the alert's name
	Expr   string
	For    string            // the alert's pending period ("" = fires at once)
	Labels map[string]string // e.g. severity
}

// Name is Record or Alert.
func (r Rule) Name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// Measured returns what the rule measures, as queries that return series on
// a running fleet whatever its health:
//   - a recording rule: its record name (the series Prometheus recorded);
//   - an alert: the operands of its top-level comparisons that are not plain
//     numbers (alerts.yml's convention: comparisons with thresholds joined
//     by and/or/unless). "a > 0.015" gives [a]; "a > 1 and b > 2" gives
//     [a b]; "x + 1 < y" gives [x + 1, y].
//
// An alert with no comparison gives nil: the convention is broken and the
// tests say so.
func (r Rule) Measured() []string {
	if r.Record != "" {
		return []string{r.Record}
	}
	var out []string
	for _, op := range comparisonOperands(r.Expr) {
		if !numeric.MatchString(op) {
			out = append(out, op)
		}
	}
	return out
}

// ruleFile is the Prometheus rule file format (the part read here).
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string            `yaml:"record"`
			Alert  string            `yaml:"alert"`
			Expr   string            `yaml:"expr"`
			For    string            `yaml:"for"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// Rules returns every rule of alerts.yml in file order.
func Rules() ([]Rule, error) {
	b, err := fs.ReadFile(files, AlertsFile)
	if err != nil {
		return nil, err
	}
	return parseRules(b)
}

func parseRules(b []byte) ([]Rule, error) {
	var f ruleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", AlertsFile, err)
	}
	var out []Rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, Rule{Group: g.Name, Record: r.Record, Alert: r.Alert, Expr: r.Expr, For: r.For, Labels: r.Labels})
		}
	}
	return out, nil
}
