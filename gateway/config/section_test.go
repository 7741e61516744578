package config

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// testSettings stands for an engine's settings type.
type testSettings struct {
	URL      string        `yaml:"url"`
	Interval time.Duration `yaml:"interval"`
	Peers    []string      `yaml:"peers"`
	Inner    struct {
		Size int `yaml:"size"`
	} `yaml:"inner"`
}

func (s *testSettings) Validate() []SectionError {
	var errs []SectionError
	if s.URL == "" {
		errs = append(errs, SectionError{Path: "url", Msg: "is required"})
	}
	for i, p := range s.Peers {
		if !strings.Contains(p, ":") {
			errs = append(errs, SectionError{Path: "peers[" + strconv.Itoa(i) + "]", Msg: "want host:port"})
		}
	}
	return errs
}

// sectionOf parses text (a mapping) as a section, with its lines.
func sectionOf(t *testing.T, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func TestDecodeSection(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		check      bool
		want       []string // "line: path: message" substrings, in order
	}{
		{"valid", "url: x\ninterval: 5s\npeers: [a:1]\ninner: {size: 3}\n", true, nil},
		{"unknown key with suggestion", "url: x\nurll: y\n", true, []string{`2: s.urll: unknown field "urll" (did you mean "url"?)`}},
		{"unknown nested key", "url: x\ninner:\n  sise: 3\n", true, []string{`3: s.inner.sise: unknown field "sise" (did you mean "size"?)`}},
		{"wrong type", "url: x\ninterval: 5\n", true, []string{"2: s.interval: invalid value: want a duration with a unit"}},
		{"set twice", "url: x\nurl: y\n", true, []string{`2: s.url: "url" is set twice (first at line 1)`}},
		{"not a mapping", "[a, b]\n", true, []string{"1: s: invalid value: want a mapping, got a list"}},
		{"values checked", "peers: [a:1, b]\n", true, []string{"line 0: s.url: is required", "1: s.peers[1]: want host:port"}},
		{"values not checked", "peers: [a:1, b]\n", false, nil},
		{"all problems at once", "peers: [b]\nbogus: 1\n", true, []string{`2: s.bogus: unknown field "bogus"`, "line 0: s.url: is required", "1: s.peers[0]: want host:port"}},
		{"a value that did not decode is not checked", "url: [a]\n", true, []string{"1: s.url: invalid value: want a string, got a list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testSettings
			probs := DecodeSection(sectionOf(t, tc.text), "s", &s, tc.check)
			if len(probs) != len(tc.want) {
				t.Fatalf("problems:\n%v\nwant %d", probs, len(tc.want))
			}
			for i, w := range tc.want {
				got := "line " + strconv.Itoa(probs[i].Line) + ": " + probs[i].Path + ": " + probs[i].Msg
				if !strings.Contains(got, w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got, w)
				}
			}
		})
	}
	// Absent: the zero settings, checked.
	var s testSettings
	if probs := DecodeSection(nil, "s", &s, true); len(probs) != 1 || probs[0].Path != "s.url" {
		t.Errorf("absent section: %v, want s.url required", probs)
	}
	if probs := DecodeSection(sectionOf(t, "~\n"), "s", &s, false); probs != nil {
		t.Errorf("null section: %v", probs)
	}
	var none struct{}
	if probs := DecodeSection(sectionOf(t, "x: 1\n"), "s", &none, true); len(probs) != 1 || !strings.Contains(probs[0].Msg, "takes no settings") {
		t.Errorf("section without settings: %v", probs)
	}
	s = testSettings{}
	DecodeSection(sectionOf(t, "url: u\npeers: [a:1]\n"), "s", &s, true)
	if s.URL != "u" || len(s.Peers) != 1 {
		t.Errorf("decoded %+v", s)
	}
}

func TestLimiterWithAndEqual(t *testing.T) {
	var c struct {
		Limiter Limiter `yaml:"limiter"`
	}
	if err := yaml.Unmarshal([]byte("limiter:\n  redis:\n    url: a\n  crdt:\n"), &c); err != nil {
		t.Fatal(err)
	}
	l := c.Limiter
	if l.Section("crdt") != nil || l.Section("local") != nil || l.Section("redis") == nil {
		t.Errorf("Section: an empty or absent section must be nil")
	}
	l2, err := l.With("redis", "url", "b")
	if err != nil {
		t.Fatal(err)
	}
	l2, _ = l2.With("crdt", "peers", []string{"h:1", "[::1]:2"})
	var rs struct{ URL string }
	if err := l2.Section("redis").Decode(&rs); err != nil || rs.URL != "b" {
		t.Errorf("redis after With: %+v %v", rs, err)
	}
	if err := l.Section("redis").Decode(&rs); err != nil || rs.URL != "a" {
		t.Errorf("With modified the original: %+v %v", rs, err)
	}
	var cs struct{ Peers []string }
	if err := l2.Section("crdt").Decode(&cs); err != nil || strings.Join(cs.Peers, ",") != "h:1,[::1]:2" {
		t.Errorf("crdt after With: %+v %v", cs, err)
	}
	if _, err := (Limiter{"redis": *sectionOf(t, "[1]\n")}).With("redis", "url", "x"); err == nil {
		t.Error("With on a list section: no error")
	}

	// Equal: the same settings written differently are equal.
	var a, b struct {
		Limiter Limiter `yaml:"limiter"`
	}
	yaml.Unmarshal([]byte("limiter:\n  redis: {url: a, pool_size: 3}\n"), &a)
	yaml.Unmarshal([]byte("# moved down\n\nlimiter:\n  redis:\n    url: \"a\"   # quoted\n    pool_size: 3\n"), &b)
	if !a.Limiter.Equal(b.Limiter) {
		t.Error("same settings, other layout: not Equal")
	}
	if l.Equal(l2) || !l2.Equal(l2) {
		t.Error("Equal is wrong about a changed section")
	}
}

// TestLimiterCheckHook: Validate runs the installed check and places its
// problems at the line of their setting.
func TestLimiterCheckHook(t *testing.T) {
	SetLimiterCheck(func(engine string, sections Limiter) Problems {
		var s testSettings
		return DecodeSection(sections.Section(engine), "limiter."+engine, &s, true)
	})
	defer limiterCheck.Store(nil)
	data := "engines:\n  limiter: fake\n" + minimalYAML + "limiter:\n  fake:\n    url: x\n    peers: [nohost]\n"
	probs := parseProblems(t, data, "gw.yaml", "")
	line := strings.Count(data[:strings.Index(data, "peers: [nohost]")], "\n") + 1
	if len(probs) != 1 || probs[0].Line != line || probs[0].Path != "limiter.fake.peers[0]" || probs[0].File != "gw.yaml" {
		t.Errorf("problems %v, want one at gw.yaml:%d limiter.fake.peers[0]", probs, line)
	}
}
