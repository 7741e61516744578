package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatelab/gatelab/gateway/policy"
)

// wantLines reads "# want PATH" markers from a YAML text and returns the
// 1-based line of each, so tests state positions next to the lines they mean.
func wantLines(t *testing.T, yamlText string) map[string]int {
	t.Helper()
	m := map[string]int{}
	for i, line := range strings.Split(yamlText, "\n") {
		if _, rest, ok := strings.Cut(line, "# want "); ok {
			m[strings.TrimSpace(rest)] = i + 1
		}
	}
	return m
}

// parseProblems parses yamlText as file name in dir and returns its problems.
func parseProblems(t *testing.T, yamlText, name, dir string) Problems {
	t.Helper()
	c, err := Parse([]byte(yamlText), name, dir)
	if err == nil {
		t.Fatalf("want problems, got a valid config (%d routes)", len(c.Routes))
	}
	probs, ok := err.(Problems)
	if !ok {
		t.Fatalf("want Problems, got %T: %v", err, err)
	}
	if c != nil {
		t.Error("want a nil Config with problems")
	}
	return probs
}

// checkPositions asserts probs are exactly the marked paths, at their lines.
func checkPositions(t *testing.T, probs Problems, file string, want map[string]int) {
	t.Helper()
	if len(probs) != len(want) {
		t.Fatalf("want %d problems, got %d:\n%v", len(want), len(probs), probs)
	}
	for _, p := range probs {
		line, ok := want[p.Path]
		if !ok {
			t.Errorf("unexpected problem %v", p)
			continue
		}
		if p.Line != line || p.File != file {
			t.Errorf("%s: want %s:%d, got %s:%d (%s)", p.Path, file, line, p.File, p.Line, p.Msg)
		}
	}
}

// minimalYAML is a valid config needing no files: anonymous routes only.
const minimalYAML = `
rate_limits:
  tiers:
    - {name: anon, limit: 30, window: 60s, key: client_ip}
backends:
  - name: svc
    instances:
      - url: http://127.0.0.1:9101
routes:
  - id: a
    pattern: /a/*
    backend: svc
    auth: none
    rate_limit_tier: anon
`

func TestParseMinimal(t *testing.T) {
	c, err := Parse([]byte(minimalYAML), "gw.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 1 || c.Routes[0].TimeoutMS != DefaultRouteTimeoutMS || c.Listen.Traffic != "127.0.0.1:8080" {
		t.Fatalf("defaults not applied: %+v", c.Routes)
	}
}

// An empty config (no bytes, white space, comments, a bare "---" or null)
// is refused: it would serve nothing, and is far more likely a truncated
// file or a forgotten body.
func TestParseEmptyConfigIsAProblem(t *testing.T) {
	for _, text := range []string{"", "\n\n", "# only a comment\n  # and another\n", "\t\n \t # tabs\r\n", "---\n", "~\n", "null\n", "--- # x\n...\n"} {
		probs := parseProblems(t, text, "empty.yaml", "")
		if len(probs) != 1 || !strings.HasPrefix(probs[0].Msg, "config is empty") || probs[0].File != "empty.yaml" {
			t.Errorf("%q: got %v", text, probs)
		}
	}
}

// The acceptance case: five different problems, decoding and validation
// mixed, all reported at once with their lines, in file order.
func TestParseReportsFiveProblemsWithLines(t *testing.T) {
	text := `listen:
  traffic: localhost            # want listen.traffic
rate_limits:
  tiers:
    - name: standard
      limit: 0                  # want rate_limits.tiers[0] (name "standard").limit
      window: 60s
      key: client_ip
backends:
  - name: svc
    instances:
      - url: http://127.0.0.1:9101
routes:
  - id: a
    pattern: /a/*
    backend: svc
    auth: none
  - id: a                       # want routes[1] (id "a").id
    pattern: /b/*
    backend: nosuch             # want routes[1] (id "a").backend
    auth: none
    timout_ms: 5000             # want routes[1] (id "a").timout_ms
`
	probs := parseProblems(t, text, "gw.yaml", "")
	checkPositions(t, probs, "gw.yaml", wantLines(t, text))
	for i := 1; i < len(probs); i++ {
		if probs[i].Line < probs[i-1].Line {
			t.Errorf("problems not in file order:\n%v", probs)
		}
	}
	out := probs.Error()
	for _, want := range []string{
		"gw.yaml:18: routes[1] (id \"a\").id: duplicate route id \"a\" (also routes[0])",
		"gw.yaml:20: routes[1] (id \"a\").backend: unknown backend \"nosuch\"",
		"gw.yaml:22: routes[1] (id \"a\").timout_ms: unknown field \"timout_ms\" (did you mean \"timeout_ms\"?)",
	} {
		if !strings.Contains(out, want+"\n") && !strings.HasSuffix(out, want) {
			t.Errorf("missing line %q in:\n%s", want, out)
		}
	}
}

func TestParseUnknownFieldsAreAllReported(t *testing.T) {
	text := `listen:
  trafic: 127.0.0.1:8080        # want listen.trafic
limitz: {}                      # want limitz
backends:
  - name: svc
    instances:
      - url: http://127.0.0.1:9101
        wieght: 2               # want backends[0] (name "svc").instances[0].wieght
    healthcheck: {}             # want backends[0] (name "svc").healthcheck
`
	probs := parseProblems(t, text, "gw.yaml", "")
	checkPositions(t, probs, "gw.yaml", wantLines(t, text))
	if !strings.Contains(probs.Error(), `unknown field "wieght" (did you mean "weight"?)`) {
		t.Errorf("no suggestion:\n%v", probs)
	}
	if !strings.Contains(probs.Error(), `unknown field "limitz" (did you mean "limits"?)`) {
		t.Errorf("no suggestion:\n%v", probs)
	}
}

func TestParseUnknownFieldListsKnownOnes(t *testing.T) {
	probs := parseProblems(t, "engines:\n  database: x\n", "gw.yaml", "")
	if len(probs) != 1 || !strings.Contains(probs[0].Msg, "known fields: limiter, router, server") {
		t.Fatalf("got %v", probs)
	}
}

func TestParseTypeErrors(t *testing.T) {
	text := `rate_limits:
  tiers:
    - name: t
      limit: lots               # want rate_limits.tiers[0] (name "t").limit
      window: 60                # want rate_limits.tiers[0] (name "t").window
      key: global
routes: {}                      # want routes
`
	probs := parseProblems(t, text, "gw.yaml", "")
	// The bad limit and window are not reported a second time as "must be > 0".
	checkPositions(t, probs, "gw.yaml", wantLines(t, text))
	out := probs.Error()
	for _, want := range []string{"want a whole number, got a string (lots)", "want a duration with a unit", "want a list, got a mapping"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestParseDuplicateKey(t *testing.T) {
	text := `listen:
  traffic: 127.0.0.1:8080
  traffic: 127.0.0.1:8081       # want listen.traffic
`
	probs := parseProblems(t, text, "gw.yaml", "")
	checkPositions(t, probs, "gw.yaml", wantLines(t, text))
	if !strings.Contains(probs[0].Msg, "set twice (first at line 2)") {
		t.Errorf("got %v", probs)
	}
}

func TestParseSyntaxError(t *testing.T) {
	probs := parseProblems(t, "listen:\n  traffic: [127.0.0.1\nroutes: []\n", "gw.yaml", "")
	if len(probs) != 1 || probs[0].Line == 0 || !strings.Contains(probs[0].Msg, "invalid YAML") {
		t.Fatalf("got %#v", probs)
	}
	if !strings.HasPrefix(probs.Error(), "gw.yaml:") {
		t.Errorf("no file:line prefix: %s", probs.Error())
	}
}

func TestParseOneDocumentOnly(t *testing.T) {
	probs := parseProblems(t, "version: 1\n---\nversion: 2\n", "gw.yaml", "")
	if len(probs) != 1 || probs[0].Line != 2 || !strings.Contains(probs[0].Msg, "one YAML document") {
		t.Fatalf("got %#v", probs)
	}
}

func TestParseNotAMapping(t *testing.T) {
	probs := parseProblems(t, "- a\n- b\n", "gw.yaml", "")
	if len(probs) != 1 || probs[0].Line != 1 || !strings.Contains(probs[0].Msg, "want a mapping") {
		t.Fatalf("got %#v", probs)
	}
}

func TestParseMissingSettingPointsAtEnclosingEntry(t *testing.T) {
	text := minimalYAML + `  - id: b                       # want routes[1] (id "b").backend
    pattern: /b/*
    auth: none
`
	probs := parseProblems(t, text, "gw.yaml", "")
	checkPositions(t, probs, "gw.yaml", wantLines(t, text))
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	probs, ok := err.(Problems)
	if !ok || len(probs) != 1 || !strings.Contains(probs[0].Msg, "no such file") {
		t.Fatalf("got %T %v", err, err)
	}
}

// apiKeysFixture writes a JWKS, a keys file and a config into a fresh
// directory tree and returns the config's path.
func apiKeysFixture(t *testing.T, keysYAML string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "conf", "keys", "jwks.json"), `{"keys":[]}`)
	writeFile(t, filepath.Join(dir, "conf", "partners.yaml"), keysYAML)
	writeFile(t, filepath.Join(dir, "conf", "gw.yaml"), minimalYAML+`  - id: jwt
    pattern: /jwt/*
    backend: svc
  - id: partner
    pattern: /partner/*
    backend: svc
    auth: api_key
auth:
  jwt:
    jwks_file: keys/jwks.json
    issuers: [https://issuer.test]
    audiences: [gatelab]
  api_keys_file: partners.yaml
  api_keys:
    - {id: inline, sha256: `+hashOf("inline")+`, partner_id: p0}
`)
	return filepath.Join(dir, "conf", "gw.yaml")
}

func TestLoadResolvesRelativePathsAndMergesKeys(t *testing.T) {
	path := apiKeysFixture(t, `- id: k1
  sha256: `+strings.ToUpper(hashOf("k1"))+`
  partner_id: partner_1
  scopes: [read:products]
  expires_at: 2099-12-31
- id: k2
  sha256: `+hashOf("k2")+`
  partner_id: partner_2
  expires_at: 2030-01-01T12:00:00Z
  revoked: true
`)
	// Loading must not depend on the working directory.
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseDir != filepath.Dir(path) {
		t.Errorf("BaseDir = %q", c.BaseDir)
	}
	if got := c.Resolve("keys/jwks.json"); got != filepath.Join(filepath.Dir(path), "keys", "jwks.json") {
		t.Errorf("Resolve = %q", got)
	}
	if len(c.Auth.APIKeys) != 3 || c.Auth.APIKeys[0].ID != "inline" || c.Auth.APIKeys[2].ID != "k2" {
		t.Fatalf("keys not merged after the inline ones: %+v", c.Auth.APIKeys)
	}
	k1 := c.Auth.APIKeys[1]
	if k1.SHA256 != hashOf("k1") || k1.ExpiresAt.Year() != 2099 || k1.Scopes[0] != "read:products" {
		t.Errorf("k1 = %+v", k1)
	}
	if !c.Auth.APIKeys[2].Revoked || c.Auth.APIKeys[2].ExpiresAt.Hour() != 12 {
		t.Errorf("k2 = %+v", c.Auth.APIKeys[2])
	}
}

func TestKeysFileProblemsPointIntoIt(t *testing.T) {
	keys := `- id: k1
  sha256: ` + hashOf("k1") + `
  partner_id: p1
- id: k1                          # want auth.api_keys_file[1] (id "k1").id
  sha256: ` + hashOf("inline") + ` # want auth.api_keys_file[1] (id "k1").sha256
  partner: p2                     # want auth.api_keys_file[1] (id "k1").partner
  tier: gold                      # want auth.api_keys_file[1] (id "k1").tier
`
	path := apiKeysFixture(t, keys)
	_, err := Load(path)
	probs, _ := err.(Problems)
	want := wantLines(t, keys)
	// partner_id is missing from entry 1: reported at the entry's line.
	want[`auth.api_keys_file[1] (id "k1").partner_id`] = want[`auth.api_keys_file[1] (id "k1").id`]
	checkPositions(t, probs, filepath.Join(filepath.Dir(path), "partners.yaml"), want)
	if !strings.Contains(probs.Error(), `unknown field "partner" (did you mean "partner_id"?)`) {
		t.Errorf("no suggestion for a truncated field:\n%v", probs)
	}
	if !strings.Contains(probs.Error(), "same key hash as auth.api_keys[0]") {
		t.Errorf("duplicate across inline and file not named:\n%v", probs)
	}
}

func TestKeysFileBadTimeHasALine(t *testing.T) {
	keys := `- id: k1
  sha256: ` + hashOf("k1") + `
  partner_id: p1
  expires_at: "2024-01-01"        # want auth.api_keys_file[0] (id "k1").expires_at
`
	path := apiKeysFixture(t, keys)
	_, err := Load(path)
	probs, _ := err.(Problems)
	checkPositions(t, probs, filepath.Join(filepath.Dir(path), "partners.yaml"), wantLines(t, keys))
	if !strings.Contains(probs[0].Msg, "unquoted date") {
		t.Errorf("got %v", probs)
	}
}

func TestKeysFileUnreadableIsAProblemOfTheConfig(t *testing.T) {
	path := apiKeysFixture(t, "[]\n")
	os.Remove(filepath.Join(filepath.Dir(path), "partners.yaml"))
	_, err := Load(path)
	probs, _ := err.(Problems)
	if len(probs) != 1 || probs[0].Path != "auth.api_keys_file" || probs[0].File != path || probs[0].Line == 0 {
		t.Fatalf("got %#v", probs)
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "gw.yaml", Line: 7, Path: "routes[3].backend", Msg: "unknown backend"}, "gw.yaml:7: routes[3].backend: unknown backend"},
		{Problem{File: "gw.yaml", Path: "routes[3].backend", Msg: "m"}, "gw.yaml: routes[3].backend: m"},
		{Problem{Path: "routes[3].backend", Msg: "m"}, "routes[3].backend: m"},
		{Problem{File: "gw.yaml", Line: 2, Msg: "invalid YAML"}, "gw.yaml:2: invalid YAML"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	ps := Problems{{Path: "a", Msg: "x"}, {Path: "b", Msg: "y"}}
	if ps.Error() != "a: x\nb: y" {
		t.Errorf("Problems.Error() = %q", ps.Error())
	}
}

// Enumerated settings of policy types are checked when decoded: each bad
// value is a problem at its line, next to every other problem, and nothing
// is checked against a default standing in for it (a misspelt auth is not
// taken for jwt, which would demand auth.jwt settings).
func TestParseEnumValues(t *testing.T) {
	text := `
rate_limits:
  tiers:
    - {name: anon, limit: 30, window: 60s, key: client_ip}
    - name: users
      limit: 10
      window: 1s
      key: user                          # want rate_limits.tiers[1] (name "users").key
      algorithm: token_bucket            # want rate_limits.tiers[1] (name "users").algorithm
    - name: nokey                        # want rate_limits.tiers[2] (name "nokey").key
      limit: 10
      window: 1s
backends:
  - name: svc
    balance: random                      # want backends[0] (name "svc").balance
    instances:
      - url: http://127.0.0.1:9101
routes:
  - id: a
    pattern: /a/*
    backend: svc
    auth: nonee                          # want routes[0] (id "a").auth
    rate_limit_tier: anon
    rate_limit_fail_mode: sometimes      # want routes[0] (id "a").rate_limit_fail_mode
    priority: p1                         # want routes[0] (id "a").priority
    methods:
      - GET
      - get                              # want routes[0] (id "a").methods[1]
    cors:
      allowed_origins: ["*"]
      allowed_methods:
        - GET
        - post                           # want routes[0] (id "a").cors.allowed_methods[1]
        - FETCH                          # want routes[0] (id "a").cors.allowed_methods[2]
  - id: b
    pattern: /b/*
    backend: svc
    auth: none
    methods: [FETCH]                     # want routes[1] (id "b").methods[0]
    rate_limit_fail_mode: [open]         # want routes[1] (id "b").rate_limit_fail_mode
    timeout_ms: -1                       # want routes[1] (id "b").timeout_ms
  - id: c
    pattern: /b/*
    backend: svc
    auth: none
    methods: [fetch, POST]               # want routes[2] (id "c").methods[0]
`
	probs := parseProblems(t, text, "gw.yaml", "")
	checkPositions(t, probs, "gw.yaml", wantLines(t, text))
	out := probs.Error()
	for _, want := range []string{
		`.key: invalid value: "user": want user_id, api_key, client_ip or global`,
		`.algorithm: invalid value: "token_bucket": want sliding_window or gcra`,
		`(name "nokey").key: is required: want user_id, api_key, client_ip or global`,
		`.balance: invalid value: "random": want round_robin or least_outstanding`,
		`.auth: invalid value: "nonee": want jwt, api_key or none`,
		`rate_limit_fail_mode: invalid value: "sometimes": want open or closed`,
		`.priority: invalid value: "p1": want P0, P1, P2 or P3`,
		`(id "a").methods[1]: invalid value: "get": methods are case-sensitive: want GET`,
		`allowed_methods[1]: invalid value: "post": methods are case-sensitive: want POST`,
		`allowed_methods[2]: invalid value: "FETCH": want one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`,
		`(id "b").methods[0]: invalid value: "FETCH": want one of GET`,
		`(id "b").rate_limit_fail_mode: invalid value: want a string, got a list`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}

	c, err := Parse([]byte(`
rate_limits:
  tiers:
    - {name: anon, limit: 30, window: 60s, key: client_ip, algorithm: gcra}
backends:
  - {name: svc, balance: least_outstanding, instances: [{url: "http://127.0.0.1:9101"}]}
routes:
  - id: a
    pattern: /a/*
    backend: svc
    auth: none
    rate_limit_tier: anon
    rate_limit_fail_mode: closed
    priority: P0
    methods: [GET, HEAD]
    cors: {allowed_origins: ["*"], allowed_methods: [GET]}
  - {id: b, pattern: /b, backend: svc, auth: api_key}
`), "gw.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	r, b, tier := c.Routes[0], c.Backends[0], c.RateLimit.Tiers[0]
	if r.Auth != AuthNone || r.RateLimitFailMode != FailClosed || r.Priority != policy.P0 ||
		r.Methods.Set() != policy.MethodSet(0).With(policy.MethodGet).With(policy.MethodHead) ||
		r.CORS.AllowedMethods.Set() != policy.MethodSet(0).With(policy.MethodGet) {
		t.Errorf("decoded %+v %+v", r, r.CORS)
	}
	if c.Routes[1].Auth != AuthAPIKey || c.Routes[1].Priority != DefaultRoutePriority || len(c.Routes[1].Methods) != 0 {
		t.Errorf("decoded %+v", c.Routes[1])
	}
	if b.Balance != policy.LeastOutstanding || tier.Key != policy.KeyClientIP || tier.Algorithm != policy.GCRA {
		t.Errorf("decoded %+v %+v", b, tier)
	}
}
