package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// DatasourceRef is the data source every panel, target and query variable
// names: the dashboard's datasource variable, so the dashboards work with
// any Prometheus data source.
const DatasourceRef = "${datasource}"

// MinSchemaVersion is the oldest dashboard schema version accepted
// (Grafana 10 writes 38 and 39).
const MinSchemaVersion = 36

// gridWidth is the width of Grafana's dashboard grid.
const gridWidth = 24

// panelTypes are the panel types the dashboards use (rows hold panels).
var panelTypes = map[string]bool{"timeseries": true, "stat": true, "table": true, "row": true}

// Validate checks one dashboard JSON model and returns every problem found,
// joined (nil if none):
//   - it parses; title and uid are set; schemaVersion >= MinSchemaVersion;
//   - a "datasource" variable of type datasource for Prometheus exists, and
//     query variables take their data source from it;
//   - every panel has a unique id, a title, a known type and a gridPos
//     inside the 24-column grid, not overlapping another panel;
//   - every panel but a row names DatasourceRef, sets a unit
//     (fieldConfig.defaults.unit), and has at least one target, each with
//     a unique refId, a non-empty expr and DatasourceRef;
//   - every variable used in an expr or a variable query is defined in the
//     templating list or is a Grafana built-in (BuiltinValues).
func Validate(data []byte) error {
	var d map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	var probs []error
	problem := func(format string, args ...any) { probs = append(probs, fmt.Errorf(format, args...)) }

	for _, k := range []string{"title", "uid"} {
		if s, _ := d[k].(string); strings.TrimSpace(s) == "" {
			problem("%s: missing or empty", k)
		}
	}
	if v, ok := d["schemaVersion"].(float64); !ok || v < MinSchemaVersion {
		problem("schemaVersion: %v, want a number >= %d", d["schemaVersion"], MinSchemaVersion)
	}

	// Variables.
	defined := map[string]bool{}
	for k := range BuiltinValues {
		defined[k] = true
	}
	templating, _ := d["templating"].(map[string]any)
	vars, _ := templating["list"].([]any)
	hasDatasource := false
	var varQueries []string
	for i, raw := range vars {
		v, _ := raw.(map[string]any)
		name, _ := v["name"].(string)
		where := fmt.Sprintf("templating.list[%d] (%s)", i, name)
		if name == "" {
			problem("templating.list[%d]: no name", i)
			continue
		}
		if defined[name] {
			problem("%s: defined twice", where)
		}
		defined[name] = true
		switch v["type"] {
		case "datasource":
			if name == "datasource" && v["query"] == "prometheus" {
				hasDatasource = true
			}
		case "query":
			if uid := datasourceUID(v["datasource"]); uid != DatasourceRef {
				problem("%s: datasource %q, want %q", where, uid, DatasourceRef)
			}
			q := variable{Query: mustJSON(v["query"])}.queryText()
			if q == "" {
				problem("%s: empty query", where)
			}
			varQueries = append(varQueries, q)
		}
	}
	if !hasDatasource {
		problem(`templating: no variable "datasource" of type datasource with query "prometheus"`)
	}

	// Panels.
	panels, ok := d["panels"].([]any)
	if !ok || len(panels) == 0 {
		problem("panels: missing or empty")
	}
	ids := map[int]string{}
	var boxes []box
	var exprs []string
	var walk func(list []any, at string)
	walk = func(list []any, at string) {
		for i, raw := range list {
			p, _ := raw.(map[string]any)
			title, _ := p["title"].(string)
			where := fmt.Sprintf("%s[%d] (%q)", at, i, title)
			if strings.TrimSpace(title) == "" {
				problem("%s: no title", where)
			}
			typ, _ := p["type"].(string)
			if !panelTypes[typ] {
				problem("%s: type %q, want one of timeseries, stat, table, row", where, typ)
			}
			if id, ok := p["id"].(float64); !ok || id != float64(int(id)) || id <= 0 {
				problem("%s: id %v, want a positive integer", where, p["id"])
			} else if prev, dup := ids[int(id)]; dup {
				problem("%s: id %d already used by %s", where, int(id), prev)
			} else {
				ids[int(id)] = where
			}
			if b, err := gridPos(p["gridPos"]); err != nil {
				problem("%s: gridPos: %v", where, err)
			} else {
				for _, o := range boxes {
					if b.overlaps(o) {
						problem("%s: gridPos overlaps %s", where, o.where)
					}
				}
				b.where = where
				boxes = append(boxes, b)
			}
			if typ == "row" {
				sub, _ := p["panels"].([]any)
				walk(sub, where+".panels")
				continue
			}
			if uid := datasourceUID(p["datasource"]); uid != DatasourceRef {
				problem("%s: datasource %q, want %q", where, uid, DatasourceRef)
			}
			fc, _ := p["fieldConfig"].(map[string]any)
			defaults, _ := fc["defaults"].(map[string]any)
			if u, _ := defaults["unit"].(string); u == "" {
				problem("%s: fieldConfig.defaults.unit not set", where)
			}
			targets, _ := p["targets"].([]any)
			if len(targets) == 0 {
				problem("%s: no targets", where)
			}
			refs := map[string]bool{}
			for j, rawT := range targets {
				t, _ := rawT.(map[string]any)
				tw := fmt.Sprintf("%s.targets[%d]", where, j)
				ref, _ := t["refId"].(string)
				if ref == "" || refs[ref] {
					problem("%s: refId %q missing or repeated", tw, ref)
				}
				refs[ref] = true
				expr, _ := t["expr"].(string)
				if strings.TrimSpace(expr) == "" {
					problem("%s: empty expr", tw)
				}
				exprs = append(exprs, expr)
				if uid := datasourceUID(t["datasource"]); uid != DatasourceRef {
					problem("%s: datasource %q, want %q", tw, uid, DatasourceRef)
				}
			}
		}
	}
	walk(panels, "panels")

	// Every variable used is defined.
	undefined := map[string]bool{}
	for _, e := range append(exprs, varQueries...) {
		for _, name := range VarRefs(e) {
			if !defined[name] && !undefined[name] {
				undefined[name] = true
				problem("variable $%s is used but not defined in templating", name)
			}
		}
	}
	return errors.Join(probs...)
}

// datasourceUID reads a datasource reference: {"type": ..., "uid": ...}
// or the older plain string.
func datasourceUID(v any) string {
	switch ds := v.(type) {
	case string:
		return ds
	case map[string]any:
		uid, _ := ds["uid"].(string)
		return uid
	}
	return ""
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// box is a panel's place on the grid.
type box struct {
	x, y, w, h int
	where      string
}

func (a box) overlaps(b box) bool {
	return a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h
}

func gridPos(v any) (box, error) {
	g, ok := v.(map[string]any)
	if !ok {
		return box{}, errors.New("missing")
	}
	var b box
	for _, f := range []struct {
		key string
		dst *int
	}{{"x", &b.x}, {"y", &b.y}, {"w", &b.w}, {"h", &b.h}} {
		n, ok := g[f.key].(float64)
		if !ok || n != float64(int(n)) || n < 0 {
			return box{}, fmt.Errorf("%s = %v, want a non-negative integer", f.key, g[f.key])
		}
		*f.dst = int(n)
	}
	if b.w == 0 || b.h == 0 {
		return box{}, fmt.Errorf("w = %d, h = %d: empty", b.w, b.h)
	}
	if b.x+b.w > gridWidth {
		return box{}, fmt.Errorf("x + w = %d, beyond the %d-column grid", b.x+b.w, gridWidth)
	}
	return b, nil
}
