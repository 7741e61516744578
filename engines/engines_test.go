package engines_test

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gatelab/gatelab/engines"
	_ "github.com/gatelab/gatelab/engines/all"
	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func TestRegistryHasEveryEngine(t *testing.T) {
	want := map[engines.Kind][]string{
		engines.KindServer:  {"fasthttp", "nethttp"},
		engines.KindRouter:  {"mux", "regex", "trie"},
		engines.KindLimiter: {"crdt", "local", "redis"},
	}
	for kind, names := range want {
		got := strings.Join(engines.Names(kind), ",")
		if got != strings.Join(names, ",") {
			t.Errorf("%s engines = %s, want %s", kind, got, strings.Join(names, ","))
		}
	}
}

func TestUnknownEngineListsKnown(t *testing.T) {
	_, err := engines.NewRouterFactory("radix")
	if err == nil || !strings.Contains(err.Error(), `unknown router engine "radix"`) || !strings.Contains(err.Error(), "mux, regex, trie") {
		t.Errorf("error = %v", err)
	}
	if _, err := engines.NewLimiter("nope", engines.LimiterOptions{}); err == nil || !strings.Contains(err.Error(), "local") {
		t.Errorf("limiter error = %v", err)
	}
	if _, err := engines.NewServer("nope", nil); err == nil || !strings.Contains(err.Error(), "fasthttp, nethttp") {
		t.Errorf("server error = %v", err)
	}
}

func TestDuplicateRegistrationPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("registering trie twice did not panic")
		}
	}()
	engines.RegisterRouter("trie", func([]pipeline.RouteSpec) (pipeline.Router, error) { return nil, nil })
}

// fixtureWith is the repository's fixture config running limiter engine
// engine, with limiter section appended (YAML under "limiter:"), and the line
// at which the section's first line lands.
func fixtureWith(t *testing.T, engine, section string) (string, int) {
	t.Helper()
	raw, err := os.ReadFile("../fixtures/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(raw), "  limiter: local ", "  limiter: "+engine+" ", 1)
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	first := strings.Count(text, "\n") + 2
	if section != "" {
		text += "limiter:\n" + section
	}
	return text, first
}

// TestLimiterSectionsValidated: config.Parse (gatelab validate, POST
// /config/validate, every reload) decodes each limiter engine's section into
// the engine's own settings type, strictly, and checks the section of the
// engine in use, with the file's line numbers.
func TestLimiterSectionsValidated(t *testing.T) {
	for _, tc := range []struct {
		name, engine, section string
		want                  []string // problems, "+N" for the line N-1 lines into the section
	}{
		{"redis ok", "redis", "  redis:\n    url: redis://127.0.0.1:6379/0\n    pool_size: 8\n", nil},
		{"redis without url", "redis", "", []string{"limiter.redis.url: is required with engines.limiter redis"}},
		{"redis unknown key", "redis", "  redis:\n    urll: redis://h:6379\n", []string{
			"+0: limiter.redis.url: is required", `+1: limiter.redis.urll: unknown field "urll" (did you mean "url"?)`}},
		{"redis bad url, redacted", "redis", "  redis:\n    url: http://:s3cret@h:6379/?password=abc\n",
			[]string{`+1: limiter.redis.url: "http://:xxxxx@h:6379/?password=xxxxx": want redis://`}},
		{"redis wrong type", "redis", "  redis:\n    url: redis://h:6379\n    pool_size: lots\n", []string{"+2: limiter.redis.pool_size: invalid value: want a whole number"}},
		{"redis negative pool", "redis", "  redis:\n    url: redis://h:6379\n    pool_size: -1\n", []string{"+2: limiter.redis.pool_size: must not be negative"}},
		{"redis section is a number", "redis", "  redis: 5\n", []string{"+0: limiter.redis: invalid value: want a mapping, got a number (5)"}},
		{"crdt bad peer and mode", "crdt", "  crdt:\n    peers:\n      - nohost\n    partition_mode: panic\n",
			[]string{`+2: limiter.crdt.peers[0]: "nohost": want host:port`, `+3: limiter.crdt.partition_mode: "panic": want scale, open or closed`}},
		{"crdt duration without unit", "crdt", "  crdt:\n    sync_interval: 25\n", []string{"+1: limiter.crdt.sync_interval: invalid value: want a duration with a unit"}},
		{"crdt bad bind", "crdt", "  crdt:\n    bind: 127.0.0.1\n", []string{`+1: limiter.crdt.bind: "127.0.0.1" is not host:port`}},
		{"other engine's values not checked", "local", "  redis:\n    url: http://not-checked\n", nil},
		{"other engine's keys still strict", "local", "  crdt:\n    peer: [h:1]\n", []string{`+1: limiter.crdt.peer: unknown field "peer" (did you mean "peers"?)`}},
		{"local takes no settings", "local", "  local:\n    shards: 4\n", []string{`+1: limiter.local.shards: unknown field "shards": this section takes no settings`}},
		{"no such engine", "local", "  redis2:\n    url: x\n", []string{`+0: limiter.redis2: no limiter engine is named "redis2" (known: crdt, local, redis)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, first := fixtureWith(t, tc.engine, tc.section)
			cfg, err := config.Parse([]byte(text), "gw.yaml", "../fixtures")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
				if cfg.Engines.Limiter != tc.engine {
					t.Fatalf("engine %q", cfg.Engines.Limiter)
				}
				return
			}
			probs, ok := err.(config.Problems)
			if !ok {
				t.Fatalf("want config.Problems, got %v", err)
			}
			if len(probs) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(tc.want), probs)
			}
			for i, w := range tc.want {
				if rest, ok := strings.CutPrefix(w, "+"); ok {
					n := int(rest[0] - '0')
					w = "gw.yaml:" + itoa(first+n) + ": " + rest[3:]
				}
				if got := probs[i].String(); !strings.Contains(got, w) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got, w)
				}
			}
			if out := probs.Error(); strings.Contains(out, "s3cret") || strings.Contains(out, "abc") {
				t.Errorf("a secret is echoed:\n%s", out)
			}
		})
	}
}

func itoa(n int) string {
	b, _ := yaml.Marshal(n)
	return strings.TrimSpace(string(b))
}

// TestNewLimiterDecodesSettings: NewLimiter decodes and checks the section it
// is given before building the engine, and builds it from the settings.
func TestNewLimiterDecodesSettings(t *testing.T) {
	section := func(text string) *yaml.Node {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Content[0]
	}
	_, err := engines.NewLimiter("redis", engines.LimiterOptions{Settings: section("url: ftp://u:s3cret@h/\n")})
	if err == nil || !strings.Contains(err.Error(), "limiter.redis.url") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad redis url: err = %v", err)
	}
	if _, err := engines.NewLimiter("redis", engines.LimiterOptions{}); err == nil || !strings.Contains(err.Error(), "limiter.redis.url: is required") {
		t.Errorf("no redis section: err = %v", err)
	}
	if _, err := engines.NewLimiter("local", engines.LimiterOptions{Settings: section("x: 1\n")}); err == nil || !strings.Contains(err.Error(), "line 1: limiter.local.x") {
		t.Errorf("local with a setting: err = %v", err)
	}
	// Settings reach the engine: crdt names its node after Settings.Node,
	// else LimiterOptions.Instance.
	for _, tc := range []struct{ text, instance, want string }{
		{"bind: 127.0.0.1:0\nnode: from-section\n", "inst", "from-section"},
		{"bind: 127.0.0.1:0\n", "inst", "inst"},
	} {
		l, err := engines.NewLimiter("crdt", engines.LimiterOptions{Instance: tc.instance, Settings: section(tc.text)})
		if err != nil {
			t.Fatal(err)
		}
		n := l.(interface{ Node() string }).Node()
		l.(interface{ Close() error }).Close()
		if n != tc.want {
			t.Errorf("%q, instance %q: node %q, want %q", tc.text, tc.instance, n, tc.want)
		}
	}
}
