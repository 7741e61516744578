package control

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

// auditEntry is one line of the audit log. It never holds the raw config,
// keys, hashes or tokens: the diff names routes, backends, tiers and
// sections, and problem messages are scrubbed of long hex strings.
type auditEntry struct {
	Time        string        `json:"time"` // RFC 3339, nanoseconds
	Actor       string        `json:"actor"`
	Source      string        `json:"source"`
	Result      Outcome       `json:"result"`
	FromVersion int64         `json:"from_version"`
	ToVersion   int64         `json:"to_version"` // applied or attempted; 0 when unknown (refused before parsing)
	PublishedAt string        `json:"published_at,omitempty"`
	Diff        *diff         `json:"diff,omitempty"`
	Problems    []problemJSON `json:"problems,omitempty"`
}

// problemJSON is a config.Problem as the admin API and the audit log write
// it.
type problemJSON struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

// problemsOf lists err's problems: each entry of a config.Problems, or err's
// text as a single problem. URLs in messages are redacted
// (config.RedactURLsIn): config problems already are, other errors (a
// Target.Apply failure) may quote a URL.
func problemsOf(err error) []problemJSON {
	if err == nil {
		return nil
	}
	var ps config.Problems
	if errors.As(err, &ps) {
		out := make([]problemJSON, len(ps))
		for i, p := range ps {
			out[i] = problemJSON{File: p.File, Line: p.Line, Path: p.Path, Message: config.RedactURLsIn(p.Msg)}
		}
		return out
	}
	return []problemJSON{{Message: config.RedactURLsIn(err.Error())}}
}

// longHex matches what could be a hash or a hex token; audit messages never
// carry one.
var longHex = regexp.MustCompile(`[0-9A-Fa-f]{24,}`)

func (m *Manager) audit(ent auditEntry, result Outcome, err error) {
	if m.opts.Audit == nil {
		return
	}
	ent.Time = m.opts.Now().UTC().Format(time.RFC3339Nano)
	ent.Result = result
	ent.Problems = problemsOf(err)
	for i := range ent.Problems {
		ent.Problems[i].Message = longHex.ReplaceAllString(ent.Problems[i].Message, "[redacted]")
	}
	line, jerr := json.Marshal(ent)
	if jerr != nil {
		m.opts.Logger.Error("audit log: entry not encoded", "error", jerr)
		return
	}
	line = append(line, '\n')
	if _, werr := m.opts.Audit.Write(line); werr != nil {
		m.opts.Logger.Error("audit log: write failed", "error", werr)
	}
}

// diff summarizes what a new config changes. Items are compared with
// reflect.DeepEqual; names appear in file order (removed ones in the old
// file's order).
type diff struct {
	Routes   changes  `json:"routes,omitzero"`           // by route id
	Backends changes  `json:"backends,omitzero"`         // by backend name
	Tiers    changes  `json:"rate_limit_tiers,omitzero"` // by tier name
	Sections []string `json:"sections,omitempty"`        // other top-level sections that changed (YAML keys)
}

type changes struct {
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Changed []string `json:"changed,omitempty"`
	// Reordered: the items in both configs are not in the same order
	// (order can decide which route matches first).
	Reordered bool `json:"reordered,omitempty"`
}

// diffConfigs compares old (nil: nothing served) with cur.
func diffConfigs(old, cur *config.Config) *diff {
	if old == nil {
		old = &config.Config{}
	}
	d := &diff{
		Routes:   diffByKey(old.Routes, cur.Routes, func(r config.Route) string { return r.ID }),
		Backends: diffByKey(old.Backends, cur.Backends, func(b config.Backend) string { return b.Name }),
		Tiers:    diffByKey(old.RateLimit.Tiers, cur.RateLimit.Tiers, func(t config.Tier) string { return t.Name }),
		Sections: diffSections(old, cur),
	}
	return d
}

func diffByKey[T any](old, cur []T, key func(T) string) changes {
	var c changes
	before := make(map[string]T, len(old))
	for _, o := range old {
		before[key(o)] = o
	}
	seen := make(map[string]bool, len(cur))
	for _, n := range cur {
		k := key(n)
		seen[k] = true
		o, ok := before[k]
		switch {
		case !ok:
			c.Added = append(c.Added, k)
		case !reflect.DeepEqual(o, n):
			c.Changed = append(c.Changed, k)
		}
	}
	var common []string // keys in both, in old's order
	for _, o := range old {
		if k := key(o); !seen[k] {
			c.Removed = append(c.Removed, k)
		} else {
			common = append(common, k)
		}
	}
	i := 0
	for _, n := range cur {
		k := key(n)
		if _, ok := before[k]; !ok {
			continue
		}
		if common[i] != k {
			c.Reordered = true
			break
		}
		i++
	}
	return c
}

// diffSections names the top-level sections other than version, routes,
// backends and the tiers that differ. It walks Config's fields, so a
// section added to the schema is covered without a change here.
func diffSections(old, cur *config.Config) []string {
	ov, cv := reflect.ValueOf(old).Elem(), reflect.ValueOf(cur).Elem()
	t := ov.Type()
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		switch name {
		case "version", "routes", "backends":
			continue
		case "rate_limits":
			// The tiers are listed by name; anything else in the
			// section counts as the section.
			o, c := old.RateLimit, cur.RateLimit
			o.Tiers, c.Tiers = nil, nil
			if !reflect.DeepEqual(o, c) {
				out = append(out, name)
			}
			continue
		}
		if !reflect.DeepEqual(ov.Field(i).Interface(), cv.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	return out
}
