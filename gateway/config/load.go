package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes, defaults and validates the config file at path.
// Relative paths inside it resolve against its directory. Every error is a
// Problems value listing all that is wrong with the file (and with its
// api_keys_file); on error the Config is nil.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: "cannot read config: " + errText(err)}}
	}
	return Parse(data, path, filepath.Dir(path))
}

// Parse is Load for a config already in memory. name is the file name used
// in problems (may be empty); baseDir is the directory relative paths resolve
// against (empty: the working directory).
//
// Decoding is strict: unknown keys, duplicate keys and values of the wrong
// type are problems, each with its line. Entries of auth.api_keys_file are
// decoded the same way and appended to Auth.APIKeys. Then ApplyDefaults and
// Validate run, and all problems (decoding and validation) are returned
// together, in file order.
func Parse(data []byte, name, baseDir string) (*Config, error) {
	c := &Config{BaseDir: baseDir, src: &source{file: name, pos: map[string]position{}}}

	probs, fatal := decodeStrict(data, name, "", c.src.pos, c, true)
	if fatal {
		return nil, probs
	}

	c.src.inlineKeys = len(c.Auth.APIKeys)
	if c.Auth.APIKeysFile != "" {
		// An unreadable file is reported by Validate; here we only merge.
		path := c.Resolve(c.Auth.APIKeysFile)
		if kdata, err := os.ReadFile(path); err == nil {
			var keys []APIKey
			kprobs, kfatal := decodeStrict(kdata, path, "auth.api_keys_file", c.src.pos, &keys, false)
			probs = append(probs, kprobs...)
			if !kfatal {
				c.Auth.APIKeys = append(c.Auth.APIKeys, keys...)
			}
		}
	}

	c.ApplyDefaults()
	var vprobs Problems
	if err := c.Validate(); err != nil {
		vprobs = err.(Problems)
	}
	probs = append(probs, withoutShadowed(vprobs, probs)...)
	if len(probs) > 0 {
		probs.sortByPosition(name)
		return nil, probs
	}
	return c, nil
}

// emptyConfig is the problem of a config with no settings at all.
const emptyConfig = "config is empty (nothing but white space or comments): a config that serves nothing is far more likely a mistake (a truncated file, a forgotten body) than a wish"

// decodeStrict decodes the single YAML document in data into out (a
// pointer), recording where each setting is written in pos under pathPrefix.
// It returns the problems found; fatal means out must not be used (syntax
// error, or a value the decoder could not get past). With requireContent, a
// document with nothing in it (empty, only comments, "---" or null) is a
// problem.
func decodeStrict(data []byte, file, pathPrefix string, pos map[string]position, out any, requireContent bool) (probs Problems, fatal bool) {
	// Pass 1: the node tree, for positions and for problems the decoder
	// reports without a line.
	if requireContent && blank(data) {
		return Problems{{File: file, Msg: emptyConfig}}, true
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			if requireContent {
				return Problems{{File: file, Msg: emptyConfig}}, true
			}
			return nil, false
		}
		return Problems{syntaxProblem(file, data, err)}, true
	}
	if requireContent && isNullDocument(&doc) {
		return Problems{{File: file, Line: doc.Line, Msg: emptyConfig}}, true
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		line := 0
		if err == nil {
			line = extra.Line
		}
		return Problems{{File: file, Line: line, Msg: "only one YAML document is allowed (found \"---\" starting another)"}}, true
	}
	idx := &nodeIndex{file: file, pos: pos}
	idx.walk(&doc, pathPrefix)

	// time.Time values the decoder cannot parse abort decoding without a
	// line number; find them first.
	if tp := timeProblems(&doc, reflect.TypeOf(out).Elem(), pathPrefix, file); len(tp) > 0 {
		for i := range tp {
			tp[i] = idx.named(tp[i])
		}
		return tp, true
	}

	// Pass 2: strict decoding. yaml.v3 collects every unknown field and
	// type mismatch into one TypeError and decodes the rest.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	err := strict.Decode(out)
	if err == nil {
		return nil, false
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Problems{syntaxProblem(file, data, err)}, true
	}
	for _, msg := range te.Errors {
		probs = append(probs, idx.named(idx.typeProblem(msg, reflect.TypeOf(out).Elem())))
	}
	return probs, false
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// blank reports whether data holds only white space (tabs included, which
// YAML would call a syntax error) and comments.
func blank(data []byte) bool {
	for _, line := range bytes.Split(data, []byte("\n")) {
		if l := bytes.TrimSpace(line); len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

// isNullDocument reports whether doc holds nothing: "---" alone, "~" or
// "null".
func isNullDocument(doc *yaml.Node) bool {
	if doc.Kind != yaml.DocumentNode {
		return false
	}
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// syntaxProblem turns a YAML parse error in data into a Problem.
func syntaxProblem(file string, data []byte, err error) Problem {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: mistakeLine(data, line, m[2]), Msg: "invalid YAML: " + m[2]}
	}
	return Problem{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// mistakeLine finds the line of a YAML syntax error more precisely than
// yaml.v3 says. For an error inside a block ("did not find expected key",
// "did not find expected '-' indicator": a mis-indented line) yaml.v3
// reports the line where the enclosing block starts (its "context mark"),
// often many lines before the mistake, and does not expose the position of
// the offending token.
//
// This is a heuristic: the mistake is on the first line L at or after the
// reported one such that the text up to and including line L already fails
// with the same message. Lines before the mistake parse, or fail
// differently (a truncated flow collection or quoted string), so L is found
// by bisection in about log2(lines) parses, on the error path only. In the
// rare case where a truncation fails with the same message, the answer is
// still between the block's start and the mistake.
func mistakeLine(data []byte, reported int, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if reported < 1 || reported > len(lines) {
		return reported
	}
	failsAt := func(n int) bool { // does the text up to line n fail with msg?
		end := 0
		for _, l := range lines[:n] {
			end += len(l)
		}
		var node yaml.Node
		err := yaml.NewDecoder(bytes.NewReader(data[:end])).Decode(&node)
		if err == nil || err == io.EOF {
			return false
		}
		m := lineRE.FindStringSubmatch(err.Error())
		return m != nil && m[2] == msg
	}
	lo, hi := reported, len(lines)
	if !failsAt(hi) {
		return reported
	}
	for lo < hi { // the smallest n in [lo, hi] with failsAt(n)
		mid := lo + (hi-lo)/2
		if failsAt(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// nodeIndex maps lines of one file back to setting paths.
type nodeIndex struct {
	file    string
	pos     map[string]position
	entries []indexEntry
	// names holds the name (id) written in each entry of a list in
	// namedLists, by index path ("routes[3]" -> "orders").
	names map[string]string
}

// named sets p.Path to name the list entry it is in (see EntryPath),
// keeping the index path in p.at.
func (x *nodeIndex) named(p Problem) Problem {
	if p.Path == "" {
		return p
	}
	p.at = p.Path
	p.Path = labelPath(p.Path, func(list string, i int) string {
		return x.names[list+"["+strconv.Itoa(i)+"]"]
	})
	return p
}

type indexEntry struct {
	line  int
	path  string
	key   string // the mapping key, when the entry is a key
	value *yaml.Node
}

func (x *nodeIndex) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			x.walk(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if _, seen := x.pos[p]; !seen {
				x.pos[p] = position{x.file, k.Line}
			}
			x.entries = append(x.entries, indexEntry{line: k.Line, path: p, key: k.Value, value: v})
			x.walk(v, p)
		}
	case yaml.SequenceNode:
		nameKey := ""
		for _, l := range namedLists {
			if l.list == path {
				nameKey = l.key
			}
		}
		for i, v := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			x.pos[p] = position{x.file, v.Line}
			x.entries = append(x.entries, indexEntry{line: v.Line, path: p, value: v})
			if nameKey != "" && v.Kind == yaml.MappingNode {
				for k := 0; k+1 < len(v.Content); k += 2 {
					if v.Content[k].Value == nameKey && v.Content[k+1].Kind == yaml.ScalarNode {
						if x.names == nil {
							x.names = map[string]string{}
						}
						x.names[p] = v.Content[k+1].Value
					}
				}
			}
			x.walk(v, p)
		}
	}
}

var (
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	duplicateKeyRE = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
	typeMismatchRE = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
	// enumRE is a gateway/policy enum's decoding error.
	enumRE = regexp.MustCompile(`^invalid [a-z -]+ ("(?:[^"\\]|\\.)*"): (.*)$`)
)

// typeProblem turns one of yaml.v3's TypeError lines ("line N: ...") into a
// Problem with the setting's path and a plainer message.
func (x *nodeIndex) typeProblem(msg string, root reflect.Type) Problem {
	p := Problem{File: x.file, Msg: msg}
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return p
	}
	p.Line, _ = strconv.Atoi(m[1])
	p.Msg = m[2]
	switch {
	case unknownFieldRE.MatchString(p.Msg):
		f := unknownFieldRE.FindStringSubmatch(p.Msg)
		p.Path = x.keyAt(p.Line, f[1])
		p.Msg = fmt.Sprintf("unknown field %q%s", f[1], suggestField(f[1], f[2], root))
	case duplicateKeyRE.MatchString(p.Msg):
		f := duplicateKeyRE.FindStringSubmatch(p.Msg)
		p.Path = x.keyAt(p.Line, f[1])
		p.Msg = fmt.Sprintf("%q is set twice (first at line %s)", f[1], f[2])
	case enumRE.MatchString(p.Msg):
		f := enumRE.FindStringSubmatch(p.Msg)
		value, _ := strconv.Unquote(f[1])
		p.Path = x.scalarAt(p.Line, value)
		p.Msg = "invalid value: " + f[1] + ": " + f[2]
	case typeMismatchRE.MatchString(p.Msg):
		f := typeMismatchRE.FindStringSubmatch(p.Msg)
		p.Path = x.valueAt(p.Line, f[1], f[2])
		p.Msg = mismatchMsg(f[1], f[2], f[3])
		p.Msg = "invalid value: " + p.Msg
	}
	return p
}

// keyAt finds the path of mapping key k written on line.
func (x *nodeIndex) keyAt(line int, k string) string {
	for _, e := range x.entries {
		if e.line == line && e.key == k && e.key != "" {
			return e.path
		}
	}
	return ""
}

// scalarAt finds the path of the scalar value written on line.
func (x *nodeIndex) scalarAt(line int, value string) string {
	for _, e := range x.entries {
		if v := e.value; v.Line == line && v.Kind == yaml.ScalarNode && v.Value == value {
			return e.path
		}
	}
	return ""
}

// valueAt finds the path of the value on line that yaml.v3 described as
// tag (and, for scalars, a possibly truncated value).
func (x *nodeIndex) valueAt(line int, tag, shown string) string {
	kind := yaml.ScalarNode
	switch tag {
	case "!!map":
		kind = yaml.MappingNode
	case "!!seq":
		kind = yaml.SequenceNode
	}
	best := ""
	for _, e := range x.entries {
		v := e.value
		if v.Line != line || v.Kind != kind {
			continue
		}
		if kind != yaml.ScalarNode || shownAs(v.Value) == shown {
			return e.path
		}
		if best == "" {
			best = e.path
		}
	}
	return best
}

// shownAs mimics how yaml.v3 abbreviates a value in its messages.
func shownAs(v string) string {
	if len(v) > 10 {
		return v[:7] + "..."
	}
	return v
}

func mismatchMsg(tag, shown, goType string) string {
	got := map[string]string{
		"!!str": "a string", "!!int": "a number", "!!float": "a number",
		"!!bool": "a boolean", "!!map": "a mapping", "!!seq": "a list",
		"!!null": "nothing", "!!timestamp": "a date",
	}[tag]
	if got == "" {
		got = tag
	}
	if shown != "" {
		got += " (" + shown + ")"
	}
	want := "a " + goType
	switch {
	case goType == "time.Duration":
		want = "a duration with a unit, like 10s, 500ms or 30m"
	case goType == "*time.Duration":
		want = "a duration with a unit, like 30s"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		want = "a whole number"
	case goType == "float64" || goType == "*float64":
		want = "a number"
	case goType == "bool":
		want = "true or false"
	case goType == "string":
		want = "a string"
	case strings.HasPrefix(goType, "[]"):
		want = "a list"
	case strings.HasPrefix(goType, "config.") || strings.HasPrefix(goType, "*config."):
		want = "a mapping"
	}
	return "want " + want + ", got " + got
}

// suggestField names the closest known field of the Go type typeName (as
// yaml.v3 prints it, e.g. "config.Route"), or lists the known fields.
func suggestField(field, typeName string, root reflect.Type) string {
	t := findType(root, typeName, map[reflect.Type]bool{})
	if t == nil {
		return ""
	}
	var names []string
	best, bestDist := "", 3
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		names = append(names, tag)
		d := editDistance(field, tag)
		if len(field) >= 4 && (strings.HasPrefix(tag, field) || strings.HasPrefix(field, tag)) {
			d = min(d, 2) // "partner" for "partner_id"
		}
		if d < bestDist {
			best, bestDist = tag, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sort.Strings(names)
	return "; known fields: " + strings.Join(names, ", ")
}

// findType finds the struct type named name reachable from t.
func findType(t reflect.Type, name string, seen map[reflect.Type]bool) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return nil
	}
	seen[t] = true
	if t.String() == name {
		return t
	}
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() {
			if r := findType(f.Type, name, seen); r != nil {
				return r
			}
		}
	}
	return nil
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var timeType = reflect.TypeOf(time.Time{})

// timeProblems walks node alongside Go type t and reports time.Time settings
// yaml.v3 would fail on: it accepts an unquoted date or timestamp, or a
// string in RFC 3339 form, and aborts the whole decode (with no line) on
// anything else.
func timeProblems(n *yaml.Node, t reflect.Type, path, file string) Problems {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var probs Problems
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			probs = append(probs, timeProblems(c, t, path, file)...)
		}
	case yaml.ScalarNode:
		if t != timeType || n.ShortTag() == "!!timestamp" || n.ShortTag() == "!!null" {
			break
		}
		if _, err := time.Parse(time.RFC3339, n.Value); err != nil {
			probs = append(probs, Problem{File: file, Line: n.Line, Path: path,
				Msg: fmt.Sprintf("invalid time %q: want an unquoted date like 2030-01-01 or an RFC 3339 time like 2030-01-01T00:00:00Z", n.Value)})
		}
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			break
		}
		for i, c := range n.Content {
			probs = append(probs, timeProblems(c, t.Elem(), path+"["+strconv.Itoa(i)+"]", file)...)
		}
	case yaml.MappingNode:
		if t.Kind() != reflect.Struct || t == timeType {
			break
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			for f := 0; f < t.NumField(); f++ {
				if strings.Split(t.Field(f).Tag.Get("yaml"), ",")[0] == k {
					p := k
					if path != "" {
						p = path + "." + k
					}
					probs = append(probs, timeProblems(n.Content[i+1], t.Field(f).Type, p, file)...)
				}
			}
		}
	}
	return probs
}

// withoutShadowed drops validation problems about settings that already have
// a decoding problem (a value of the wrong type is left zero, and
// "must be > 0" on top of "want a duration" would only confuse).
func withoutShadowed(vprobs, dprobs Problems) Problems {
	var bad []string
	for _, p := range dprobs {
		if strings.HasPrefix(p.Msg, "invalid value: ") && p.at != "" {
			bad = append(bad, p.at)
		}
	}
	if len(bad) == 0 {
		return vprobs
	}
	out := vprobs[:0:0]
next:
	for _, v := range vprobs {
		for _, b := range bad {
			if v.at == b || strings.HasPrefix(v.at, b+".") || strings.HasPrefix(v.at, b+"[") {
				continue next
			}
		}
		out = append(out, v)
	}
	return out
}

// errText is err's message without the Go operation prefix os errors carry
// ("open x: no such file or directory" -> "no such file or directory").
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
