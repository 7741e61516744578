package policy

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Every enum's values round-trip through String, Parse and YAML.
func TestEnumsRoundTrip(t *testing.T) {
	type doc struct {
		Key      LimitKeyKind   `yaml:"key"`
		Algo     LimitAlgorithm `yaml:"algo"`
		Priority Priority       `yaml:"priority"`
		Fail     FailMode       `yaml:"fail"`
		Balance  Balance        `yaml:"balance"`
		Methods  Methods        `yaml:"methods"`
		Auth     Auth           `yaml:"auth"`
	}
	cases := []doc{
		{KeyUserID, SlidingWindow, P0, FailOpen, RoundRobin, Methods{MethodGet}, AuthJWT},
		{KeyAPIKey, GCRA, P1, FailClosed, LeastOutstanding, Methods{MethodHead, MethodPost, MethodPut}, AuthAPIKey},
		{KeyClientIP, GCRA, P2, FailOpen, RoundRobin, Methods{MethodPatch, MethodDelete, MethodOptions}, AuthNone},
		{KeyGlobal, SlidingWindow, P3, FailClosed, LeastOutstanding, Methods{}, AuthJWT},
	}
	for _, want := range cases {
		out, err := yaml.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var got doc
		if err := yaml.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if got.Key != want.Key || got.Algo != want.Algo || got.Priority != want.Priority || got.Fail != want.Fail ||
			got.Balance != want.Balance || got.Methods.Set() != want.Methods.Set() || got.Auth != want.Auth {
			t.Errorf("%s: decoded %+v, want %+v", out, got, want)
		}
	}
	for _, tc := range []struct {
		s  string
		ok bool
		v  string
	}{
		{"user_id", true, parsed(ParseLimitKeyKind("user_id"))},
		{"gcra", true, parsed(ParseLimitAlgorithm("gcra"))},
		{"P3", true, parsed(ParsePriority("P3"))},
		{"closed", true, parsed(ParseFailMode("closed"))},
		{"least_outstanding", true, parsed(ParseBalance("least_outstanding"))},
		{"api_key", true, parsed(ParseAuth("api_key"))},
	} {
		if tc.v != tc.s {
			t.Errorf("Parse(%q).String() = %q", tc.s, tc.v)
		}
	}
	for _, bad := range []string{"", "p1", "P4", "User_ID", "sliding-window", " open"} {
		if _, ok := ParsePriority(bad); ok && bad != "" {
			t.Errorf("ParsePriority(%q) accepted", bad)
		}
		if _, ok := ParseLimitKeyKind(bad); ok {
			t.Errorf("ParseLimitKeyKind(%q) accepted", bad)
		}
		if _, ok := ParseLimitAlgorithm(bad); ok {
			t.Errorf("ParseLimitAlgorithm(%q) accepted", bad)
		}
		if _, ok := ParseFailMode(bad); ok {
			t.Errorf("ParseFailMode(%q) accepted", bad)
		}
		if _, ok := ParseBalance(bad); ok {
			t.Errorf("ParseBalance(%q) accepted", bad)
		}
		if _, ok := ParseAuth(bad); ok {
			t.Errorf("ParseAuth(%q) accepted", bad)
		}
	}
	if _, ok := ParseAuth("JWT"); ok {
		t.Error("ParseAuth is not case-sensitive")
	}
}

// parsed renders a Parse result for the table above ("" when refused).
func parsed[T interface{ String() string }](v T, ok bool) string {
	if !ok {
		return ""
	}
	return v.String()
}

// The zero values: unset where a default exists, never a valid choice
// except SlidingWindow (the default algorithm).
func TestZeroValues(t *testing.T) {
	if Priority(0).Valid() || FailMode(0).Valid() || Balance(0).Valid() || LimitKeyKind(0).Valid() || Method(0).Valid() || Auth(0).Valid() {
		t.Error("a zero value is valid")
	}
	if !LimitAlgorithm(0).Valid() || LimitAlgorithm(0) != SlidingWindow {
		t.Error("the zero algorithm is not SlidingWindow")
	}
	if P0.Level() != 0 || P3.Level() != 3 {
		t.Errorf("levels %d %d", P0.Level(), P3.Level())
	}
	for _, v := range []interface{ Valid() bool }{Priority(9), FailMode(3), Balance(3), LimitKeyKind(5), LimitAlgorithm(2), Method(8), Auth(4)} {
		if v.Valid() {
			t.Errorf("%T(%v) is valid", v, v)
		}
	}
	// An empty value in YAML is the zero value: "use the default".
	var d struct {
		P Priority `yaml:"p"`
		F FailMode `yaml:"f"`
	}
	if err := yaml.Unmarshal([]byte("p: \"\"\nf: ~\n"), &d); err != nil || d.P != 0 || d.F != 0 {
		t.Errorf("empty values: %+v %v", d, err)
	}
}

// A bad value is a *yaml.TypeError with its line: a decoder reports it and
// every other problem, and decodes the rest.
func TestBadValuesAreCollected(t *testing.T) {
	var d struct {
		P  Priority `yaml:"p"`
		M  Methods  `yaml:"m"`
		F  FailMode `yaml:"f"`
		N  int      `yaml:"n"`
		OK Balance  `yaml:"ok"`
	}
	err := yaml.Unmarshal([]byte("p: P9\nm: [GET, get, TRACE]\nf: {a: 1}\nn: x\nok: least_outstanding\n"), &d)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		t.Fatalf("want a *yaml.TypeError, got %T %v", err, err)
	}
	want := []string{
		`line 1: invalid priority "P9": want P0, P1, P2 or P3`,
		`line 2: invalid method "get": methods are case-sensitive: want GET`,
		`line 2: invalid method "TRACE": want one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`,
		"line 3: cannot unmarshal !!map into string",
		"line 4: cannot unmarshal !!str `x` into int",
	}
	if strings.Join(te.Errors, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(te.Errors, "\n"), strings.Join(want, "\n"))
	}
	if d.OK != LeastOutstanding {
		t.Error("the valid setting after the bad ones was not decoded")
	}
	// A bad value is neither valid nor "unset" (zero): no default replaces it.
	if d.P.Valid() || d.P == 0 {
		t.Errorf("bad priority decoded as %d", d.P)
	}
	// A bad method keeps its place in the list: [get] is not [] (every method).
	if len(d.M) != 3 || d.M[0] != MethodGet || d.M[1] != MethodUnknown || d.M[2] != MethodUnknown {
		t.Errorf("methods decoded as %v", d.M)
	}
	var only struct {
		M Methods `yaml:"m"`
		A Auth    `yaml:"a"`
	}
	if err := yaml.Unmarshal([]byte("m: [fetch]\na: nonee\n"), &only); err == nil || len(only.M) != 1 || only.M.Set() != 0 || only.A.Valid() || only.A == 0 {
		t.Errorf("[fetch] / nonee decoded as %v / %d (%v)", only.M, only.A, err)
	}
	if err := yaml.Unmarshal([]byte("m: GET\n"), &only); err == nil || !strings.Contains(err.Error(), "cannot unmarshal !!str `GET` into []policy.Method") {
		t.Errorf("a scalar for a method list: %v", err)
	}
}

func TestMethods(t *testing.T) {
	for m := MethodGet; m.Valid(); m++ {
		if ParseMethod(m.String()) != m {
			t.Errorf("ParseMethod(%q) = %v", m.String(), ParseMethod(m.String()))
		}
		if MethodProblem(m.String()) != "" {
			t.Errorf("MethodProblem(%q) = %q", m.String(), MethodProblem(m.String()))
		}
	}
	if KnownMethods != "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" {
		t.Errorf("KnownMethods = %q", KnownMethods)
	}
	if ParseMethod("get") != MethodUnknown || ParseMethod("CONNECT") != MethodUnknown || Method(99).String() != "" {
		t.Error("unknown methods")
	}
	if MethodSet(0).With(MethodUnknown) != 0 || MethodSet(0).With(Method(200)) != 0 {
		t.Error("With adds an unknown method")
	}
	if AllMethods.Allow() != KnownMethods || AllMethods.Has(MethodUnknown) {
		t.Errorf("AllMethods = %q", AllMethods.Allow())
	}
	ms := Methods{MethodPost, MethodGet, MethodPost}
	if ms.String() != "POST, GET, POST" || ms.Set().Allow() != "GET, POST" {
		t.Errorf("%q %q", ms.String(), ms.Set().Allow())
	}
	if n := testing.AllocsPerRun(100, func() {
		if !AllMethods.Has(ParseMethod("OPTIONS")) {
			t.Fatal("OPTIONS")
		}
	}); n != 0 {
		t.Errorf("ParseMethod + Has allocate %v times", n)
	}
}

func TestParsePattern(t *testing.T) {
	for _, tc := range []struct {
		p, base string
		prefix  bool
	}{
		{"/", "/", false},
		{"/*", "", true},
		{"/api/v2/health", "/api/v2/health", false},
		{"/api/v2/users/*", "/api/v2/users", true},
		{"/files/v1.2/*", "/files/v1.2", true},
		{"/a%20b/caf%C3%A9", "/a%20b/caf%C3%A9", false},
		{"/a%3a/*", "/a%3a", true},
		{"/a/..b/.c", "/a/..b/.c", false},
	} {
		got, err := ParsePattern(tc.p)
		if err != nil || got.Base != tc.base || got.Prefix != tc.prefix {
			t.Errorf("ParsePattern(%q) = %+v, %v", tc.p, got, err)
		}
	}
	for _, tc := range []struct{ p, msg string }{
		{"", "required"},
		{"api", "start with '/'"},
		{"/a b", "whitespace"},
		{"/a\x7f", "whitespace"},
		{"/café", "ASCII"},
		{"/a?b", "'?'"},
		{"/a#b", "'?'"},
		{"/a\\b", "'?'"},
		{"/users/{id}", "'{'"},
		{"/a//b", "empty segment"},
		{"/a//*", "empty segment"},
		{"//*", "empty segment"},
		{"/a/*/b", "only allowed as a final"},
		{"/a*", "only allowed as a final"},
		{"/**", "only allowed as a final"},
		{"/a/./b", "segments"},
		{"/a/..", "segments"},
		{"/../*", "segments"},
		{"/a%", "'%' must start an escape"},
		{"/a%2", "'%' must start an escape"},
		{"/a%g0", "'%' must start an escape"},
		{"/%61dmin", "must not contain %61"},
		{"/a%2Fb", "must not contain %2F"},
		{"/a%5c", "must not contain %5c"},
		{"/a%7E", "must not contain %7E"},
		{"/a%00", "must not contain %00"},
	} {
		_, err := ParsePattern(tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParsePattern(%q) = %v, want an error with %q", tc.p, err, tc.msg)
		}
	}
}

func TestIsSegmentPrefix(t *testing.T) {
	for _, tc := range []struct {
		strip, pattern string
		want           bool
	}{
		{"/api/v2", "/api/v2/users/*", true},
		{"/api/v2/users", "/api/v2/users/*", true},
		{"/api/v2/health", "/api/v2/health", true},
		{"/api/v", "/api/v2/users/*", false},
		{"/api/v1", "/api/v2/users/*", false},
		{"/api/v2/", "/api/v2/users/*", false},
		{"/api/v2/users/*", "/api/v2/users/*", false},
		{"/api", "/*", false},
		{"/", "/api/*", false},
	} {
		if got := IsSegmentPrefix(tc.strip, tc.pattern); got != tc.want {
			t.Errorf("IsSegmentPrefix(%q, %q) = %v", tc.strip, tc.pattern, got)
		}
	}
}

func TestCanonicalPath(t *testing.T) {
	for _, p := range []string{"/", "/a/b", "/a%20b", "/caf%C3%A9", "/a/..b", "/a.", "/%3A", "/\xc3\xa9"} {
		if got, ok := CanonicalPath(p); !ok || got != p {
			t.Errorf("CanonicalPath(%q) = %q, %v", p, got, ok)
		}
	}
	for _, p := range []string{"", "a", "//", "/a//b", "/.", "/..", "/a/./b", "/a/../b", "/a/.", "/%", "/%2", "/%zz", "/%61", "/%2F", "/%5C", "/%7f", "/a b", "/a\\b", "/a#b", "/a\x01"} {
		if _, ok := CanonicalPath(p); ok {
			t.Errorf("CanonicalPath(%q) accepted", p)
		}
	}
	var ok bool
	if n := testing.AllocsPerRun(100, func() { _, ok = CanonicalPath("/api/v2/users/caf%C3%A9") }); n != 0 || !ok {
		t.Errorf("CanonicalPath allocates %v times", n)
	}
}
