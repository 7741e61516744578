package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
)

// Limiter is the limiter: section: one section per limiter engine
// (limiter.redis, limiter.crdt, ...), kept as written, with the line of every
// value. Each engine owns its section: it gives its settings type to the
// engines registry, which decodes the section strictly into it and checks it
// (DecodeSection); config knows no engine. Validate checks the section
// through the hook the registry installs (SetLimiterCheck). A section is
// read only when its engine is the one in use (engines.limiter); the others
// are only decoded.
type Limiter map[string]yaml.Node

// Section returns the section of engine name, or nil when the config has
// none (absent, or written empty: "redis:").
func (l Limiter) Section(name string) *yaml.Node {
	n, ok := l[name]
	if !ok || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null") {
		return nil
	}
	return &n
}

// With returns a copy of l in which setting key of engine's section is value
// (encoded as YAML: a string, a number, a list ...), adding the section or
// the key if absent; l is not modified. Command-line flags override the
// config this way. It fails if the section is written as something other
// than a mapping.
func (l Limiter) With(engine, key string, value any) (Limiter, error) {
	var v yaml.Node
	if err := v.Encode(value); err != nil {
		return nil, fmt.Errorf("limiter.%s.%s: %w", engine, key, err)
	}
	sec := yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if s := l.Section(engine); s != nil {
		if s.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("limiter.%s: want a mapping of settings, got %s", engine, s.ShortTag())
		}
		sec = *s
	}
	content := slices.Clone(sec.Content)
	set := false
	for i := 0; i+1 < len(content); i += 2 {
		if content[i].Value == key {
			content[i+1] = &v
			set = true
		}
	}
	if !set {
		content = append(content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, &v)
	}
	sec.Content = content
	out := make(Limiter, len(l)+1)
	for k, n := range l {
		out[k] = n
	}
	out[engine] = sec
	return out, nil
}

// Equal reports whether l and o hold the same settings, however written:
// positions, comments and quoting do not count.
func (l Limiter) Equal(o Limiter) bool {
	if len(l) != len(o) {
		return false
	}
	for k, n := range l {
		m, ok := o[k]
		if !ok || !sameNode(&n, &m) {
			return false
		}
	}
	return true
}

func sameNode(a, b *yaml.Node) bool {
	if a.Kind != b.Kind || a.ShortTag() != b.ShortTag() || a.Value != b.Value || len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !sameNode(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

// SectionError is one problem with the values of a section: Path names the
// setting inside the section ("url", "peers[0]"; "" for the section
// itself), Msg says what is wrong. A URL quoted in Msg must be redacted
// (RedactURL).
type SectionError struct {
	Path string
	Msg  string
}

// SectionValidator is implemented by a section's settings type (through a
// pointer) to check the values once decoded.
type SectionValidator interface {
	Validate() []SectionError
}

// DecodeSection decodes section into out (a pointer to a struct whose yaml
// tags are the section's keys) as strictly as Parse decodes a file: a key
// out has no field for, a key set twice and a value of the wrong type are
// problems. A nil section leaves out as it is (absent: the defaults). When
// check is set and out implements SectionValidator, the values are checked
// too, all problems at once, except that a value that did not decode is not
// checked again (nor any value, after a key set twice). Every problem names
// its setting by its path, path + "." + key, and carries the line of the
// value when the section came from a file.
func DecodeSection(section *yaml.Node, path string, out any, check bool) Problems {
	var probs Problems
	decoded := true // false: yaml.v3 gave up on the section (a key set twice)
	if section != nil && !(section.Kind == yaml.ScalarNode && section.ShortTag() == "!!null") {
		if section.Kind != yaml.MappingNode {
			shown := ""
			if section.Kind == yaml.ScalarNode {
				shown = shownAs(section.Value)
			}
			return Problems{{Line: section.Line, Path: path, at: path,
				Msg: "invalid value: " + mismatchMsg(section.ShortTag(), shown, "config.Section")}}
		}
		idx := &nodeIndex{pos: map[string]position{}}
		idx.walk(section, path)
		root := reflect.TypeOf(out).Elem()
		probs = unknownKeys(section, root, root, path)
		if err := section.Decode(out); err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return append(probs, Problem{Line: section.Line, Path: path, Msg: err.Error(), at: path})
			}
			for _, msg := range te.Errors {
				p := idx.typeProblem(msg, root)
				if p.Path == "" {
					p.Path = path
				}
				p.at = p.Path
				if strings.Contains(p.Msg, " is set twice (first at line ") {
					decoded = false
				}
				probs = append(probs, p)
			}
		}
	}
	if v, ok := out.(SectionValidator); ok && check && decoded {
		var pos map[string]position
		if section != nil {
			idx := &nodeIndex{pos: map[string]position{}}
			idx.walk(section, path)
			pos = idx.pos
		}
		src := &source{pos: pos}
		var vprobs Problems
		for _, e := range v.Validate() {
			p := path
			if e.Path != "" {
				p = path + "." + e.Path
				if strings.HasPrefix(e.Path, "[") {
					p = path + e.Path
				}
			}
			vprobs = append(vprobs, Problem{Line: src.locate(p).line, Path: p, Msg: e.Msg, at: p})
		}
		probs = append(probs, withoutShadowed(vprobs, probs)...)
	}
	return probs
}

// unknownKeys reports the keys of mapping n (and of the mappings inside it)
// that the struct type t it decodes into has no field for.
func unknownKeys(n *yaml.Node, t, root reflect.Type, path string) Problems {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var probs Problems
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			f, ok := fieldByTag(t, k.Value)
			p := path + "." + k.Value
			if !ok {
				hint := suggestField(k.Value, t.String(), root)
				if t.NumField() == 0 {
					hint = ": this section takes no settings"
				}
				probs = append(probs, Problem{Line: k.Line, Path: p, at: p, Msg: fmt.Sprintf("unknown field %q%s", k.Value, hint)})
				continue
			}
			probs = append(probs, unknownKeys(n.Content[i+1], f.Type, root, p)...)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			probs = append(probs, unknownKeys(c, t.Elem(), root, path+"["+strconv.Itoa(i)+"]")...)
		}
	}
	return probs
}

// fieldByTag finds the field of struct type t whose yaml key is key.
func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name := strings.Split(f.Tag.Get("yaml"), ",")[0]; f.IsExported() && name == key && name != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// LimiterCheck checks the limiter: section for Validate: engine is the
// limiter engine in use (engines.limiter), sections the whole section. It
// returns every problem, each naming its setting by its full path
// ("limiter.redis.url").
type LimiterCheck func(engine string, sections Limiter) Problems

var limiterCheck atomic.Pointer[LimiterCheck]

// SetLimiterCheck installs the check Validate runs on the limiter: section.
// The engines registry installs it when it is linked in (config does not
// import the engines); a program that links no engine leaves the section
// unchecked. This hook is the package's only global state.
func SetLimiterCheck(f LimiterCheck) {
	limiterCheck.Store(&f)
}
