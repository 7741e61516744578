package config

import (
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// File is the file the problem is in: the config file, or the
	// api_keys_file for problems with its entries. Empty for a Config built
	// in code.
	File string
	// Line is the 1-based line of the offending setting, or of the nearest
	// enclosing one written in the file when the setting itself is absent.
	// 0 when unknown (a Config built in code).
	Line int
	// Path names the setting: "listen.traffic", `routes[3] (id
	// "orders").backend`, `backends[0] (name "users").instances[1].url`,
	// `auth.api_keys_file[1] (id "k2").sha256`. An entry of a list whose
	// entries have a name (routes and API keys by id, backends and tiers
	// by name, admin tokens by id) carries its index and, when it has one,
	// its name (see EntryPath). Empty for file-level problems such as YAML
	// syntax errors.
	Path string
	// Msg says what is wrong, in words a config author can act on. Every
	// URL quoted in it is redacted (RedactURL).
	Msg string

	// at is Path without entry names ("routes[3].backend"): how problems
	// about the same setting are matched up.
	at string
}

// String renders the problem as "file:line: path: message", leaving out the
// parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in a configuration. It is the error type
// returned by Load, Parse and Validate; a nil error means no problems, never
// an empty Problems.
type Problems []Problem

// Error lists the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// err returns ps as an error, or nil when there are none.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// sortByPosition orders problems as they appear in the files: the main
// config file first, then other files, each by line. The sort is stable, so
// problems on the same line keep the order the checks found them in.
func (ps Problems) sortByPosition(mainFile string) {
	rank := func(p Problem) int {
		if p.File == mainFile {
			return 0
		}
		return 1
	}
	sort.SliceStable(ps, func(i, j int) bool {
		ri, rj := rank(ps[i]), rank(ps[j])
		if ri != rj {
			return ri < rj
		}
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}

// namedLists are the lists whose entries problems name, and the key of
// each entry's name.
var namedLists = []struct{ list, key string }{
	{"routes", "id"},
	{"backends", "name"},
	{"rate_limits.tiers", "name"},
	{"auth.api_keys", "id"},
	{"auth.api_keys_file", "id"},
	{"admin.tokens", "id"},
}

// EntryPath renders entry i of a list as problems name it: `routes[5] (id
// "orders")` for a list in namedLists with a non-empty name, else
// "routes[5]".
func EntryPath(list string, i int, name string) string {
	p := list + "[" + strconv.Itoa(i) + "]"
	if name == "" {
		return p
	}
	for _, l := range namedLists {
		if l.list == list {
			return p + " (" + l.key + " " + strconv.Quote(name) + ")"
		}
	}
	return p
}

// labelPath turns an index path ("routes[5].backend") into the path
// problems show (`routes[5] (id "orders").backend`); name returns the name
// of entry i of list, "" if none.
func labelPath(path string, name func(list string, i int) string) string {
	for _, l := range namedLists {
		rest, ok := strings.CutPrefix(path, l.list+"[")
		if !ok {
			continue
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return path
		}
		i, err := strconv.Atoi(rest[:end])
		if err != nil {
			return path
		}
		return EntryPath(l.list, i, name(l.list, i)) + rest[end+1:]
	}
	return path
}

// position is where a setting was written.
type position struct {
	file string
	line int
}

// source records where a parsed Config's settings came from.
type source struct {
	file string              // the config file's name, as given to Parse
	pos  map[string]position // setting path -> where it was written
	// inlineKeys is how many of Auth.APIKeys were written under
	// auth.api_keys; the rest came from auth.api_keys_file.
	inlineKeys int
}

// locate returns where path, or failing that its nearest recorded ancestor,
// was written. Without a source (a Config built in code) it returns the zero
// position.
func (s *source) locate(path string) position {
	if s == nil {
		return position{}
	}
	for {
		if p, ok := s.pos[path]; ok {
			return p
		}
		if path == "" {
			return position{file: s.file}
		}
		path = parentPath(path)
	}
}

// parentPath drops the last element of a setting path:
// "routes[3].cors" -> "routes[3]" -> "routes" -> "".
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}
