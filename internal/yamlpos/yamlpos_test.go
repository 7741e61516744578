package yamlpos

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestIndexAndErrors(t *testing.T) {
	var n yaml.Node
	src := "name: x\nroutes:\n  - {id: a, prefix: /a/}\n  - id: b\n    prefix: /b/\n"
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	lines := map[string]int{}
	Index(n.Content[0], "", lines)
	for path, want := range map[string]int{"name": 1, "routes": 2, "routes[0]": 3, "routes[0].prefix": 3, "routes[1]": 4, "routes[1].prefix": 5} {
		if lines[path] != want {
			t.Errorf("%s: line %d, want %d (all %v)", path, lines[path], want, lines)
		}
	}
	var v struct{ Name int }
	err := yaml.Unmarshal([]byte("\nname: notanumber\n"), &v)
	if err == nil {
		t.Fatal("no error decoding a string into an int")
	}
	if Line(err) != 2 {
		t.Errorf("Line(%q) = %d, want 2", err, Line(err))
	}
	if m := Message(err); m == "" || m == err.Error() || lineRE.MatchString(m) {
		t.Errorf("Message(%q) = %q: want the bare message", err, m)
	}
}

func TestLineOfFallsBackToAncestors(t *testing.T) {
	lines := map[string]int{"routes": 2, "routes[1]": 4}
	for path, want := range map[string]int{"routes[1].prefix": 4, "routes[0].id": 2, "routes": 2, "name": 0, "": 0} {
		if got := LineOf(lines, path); got != want {
			t.Errorf("LineOf(%q) = %d, want %d", path, got, want)
		}
	}
}
