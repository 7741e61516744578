package yamlpos

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Index records in lines the line of every mapping key and sequence item
// below n, by path ("routes[2].prefix", "upstreams.alpha"); path is n's own.
func Index(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			lines[p] = n.Content[i].Line
			Index(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			Index(c, p, lines)
		}
	}
}

var lineRE = regexp.MustCompile(`line (\d+): `)

// Line is the line a go-yaml error names, 0 if none.
func Line(err error) int {
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// Message is a go-yaml error without its "yaml: " prefix and line.
func Message(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = lineRE.ReplaceAllString(s, "")
	return strings.TrimPrefix(s, "unmarshal errors:\n  ")
}

// LineOf is the line of path in lines (Index's map), or of its nearest
// ancestor that has one ("routes[2].prefix" falls back to "routes[2]",
// then "routes"); 0 when none is known.
func LineOf(lines map[string]int, path string) int {
	for p := path; p != ""; {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}
