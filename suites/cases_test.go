package suites

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/upstream"
)

// caseGroups names every group of the case table with the ID prefix its
// cases carry ("" for the extended group, whose cases keep the prefix of
// the area they extend: "ratelimit/fail-open-store-down", "reload/...").
var caseGroups = []struct {
	name   string
	prefix string
	cases  *[]Case
}{
	{"routing", "routing/", &routingCases},
	{"headers", "headers/", &headerCases},
	{"auth", "auth/", &authCases},
	{"ratelimit", "ratelimit/", &rateLimitCases},
	{"upstream", "upstream/", &upstreamCases},
	{"limits", "limits/", &limitCases},
	{"extended", "", &extendedCases},
	{"cors", "cors/", &corsCases},
	{"shed", "shed/", &shedCases},
}

// unusedOnPurpose are the features no case needs yet, with the reason. A
// feature listed here that a case needs is an error: take it off the list.
var unusedOnPurpose = map[Feature]string{}

var idRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*/[a-z0-9]+([-.][a-z0-9]+)*$`)

// TestCaseTable checks the case table itself: IDs unique, well formed and
// prefixed by their group; every case described, levelled, runnable and
// needing known features; every group in All.
func TestCaseTable(t *testing.T) {
	known := featureConstants(t)
	seen := map[string]string{}
	n := 0
	for _, g := range caseGroups {
		for _, c := range *g.cases {
			n++
			where := g.name + " group, " + strconv.Quote(c.ID)
			if prev, dup := seen[c.ID]; dup {
				t.Errorf("%s: the ID is also used in the %s group", where, prev)
			}
			seen[c.ID] = g.name
			if !idRE.MatchString(c.ID) {
				t.Errorf("%s: the ID is not \"group/name\" in lower-case words joined by '-'", where)
			}
			if g.prefix != "" && !strings.HasPrefix(c.ID, g.prefix) {
				t.Errorf("%s: the ID does not start with the group's %q", where, g.prefix)
			}
			if g.prefix == "" && c.Level != Extended {
				t.Errorf("%s: a case of the extended group has level %q", where, c.Level)
			}
			if d := strings.TrimSpace(c.Description); len(d) < 20 || !strings.HasSuffix(d, ".") {
				t.Errorf("%s: the description %q is not a sentence saying what the gateway does", where, c.Description)
			}
			if !slices.Contains(Levels, c.Level) {
				t.Errorf("%s: level %q is not one of %v", where, c.Level, Levels)
			}
			if len(c.Features) == 0 {
				t.Errorf("%s: needs no feature (every target would run it)", where)
			}
			for i, f := range c.Features {
				if _, ok := known[f]; !ok {
					t.Errorf("%s: needs %q, which is no Feature constant of suite.go", where, f)
				}
				if slices.Contains(c.Features[:i], f) {
					t.Errorf("%s: needs %q twice", where, f)
				}
			}
			if c.Run == nil {
				t.Errorf("%s: no Run", where)
			}
			if c.Timeout < 0 {
				t.Errorf("%s: negative timeout %v", where, c.Timeout)
			}
		}
	}
	if got := len(All()); got != n {
		t.Errorf("All() returns %d cases, the groups hold %d: a group is missing from suite.go's groups", got, n)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d cases, %d features", n, len(known))
}

// TestFeaturesNeeded: every Feature constant is needed by some case, or
// listed in unusedOnPurpose with the reason; never both.
func TestFeaturesNeeded(t *testing.T) {
	needed := map[Feature][]string{}
	for _, c := range All() {
		for _, f := range c.Features {
			needed[f] = append(needed[f], c.ID)
		}
	}
	for f, name := range featureConstants(t) {
		why, listed := unusedOnPurpose[f]
		switch {
		case len(needed[f]) == 0 && !listed:
			t.Errorf("%s (%q): no case needs it; write one or list it in unusedOnPurpose with the reason", name, f)
		case len(needed[f]) > 0 && listed:
			t.Errorf("%s (%q): listed as unused (%s) but %v need it; take it off the list", name, f, why, needed[f])
		}
	}
	for f := range unusedOnPurpose {
		if _, ok := featureConstants(t)[f]; !ok {
			t.Errorf("unusedOnPurpose lists %q, which is no Feature constant", f)
		}
	}
}

// featureConstants parses suite.go for the constants of type Feature:
// value -> constant name. Parsing the source, not a hand-kept list, means a
// new constant is checked without anyone remembering to add it here.
func featureConstants(t *testing.T) map[Feature]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "suite.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[Feature]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Feature" {
				continue
			}
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("suite.go: Feature constant %s is not a string literal", name.Name)
				}
				v, _ := strconv.Unquote(lit.Value)
				out[Feature(v)] = name.Name
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("suite.go declares no Feature constants")
	}
	return out
}

// TestHeaderLimitRoutes checks the routes this group adds: under
// /conf/h-, IDs unique in the whole fixture, a feature to carry them, a
// fixture backend, and no two routes on one pattern sharing a method.
func TestHeaderLimitRoutes(t *testing.T) {
	ids := map[string]int{}
	for _, r := range Routes {
		ids[r.ID]++
	}
	backends := append(slices.Clone(EchoBackends), RefusedBackends...)
	byPattern := map[string][]Route{}
	for _, r := range headerLimitRoutes {
		if !strings.HasPrefix(r.Pattern, "/conf/h-") || !strings.HasPrefix(r.ID, "h-") {
			t.Errorf("route %s %s: this group's routes live under /conf/h-... with IDs h-...", r.ID, r.Pattern)
		}
		if ids[r.ID] != 1 {
			t.Errorf("route %s: the ID is used %d times in the fixture", r.ID, ids[r.ID])
		}
		if r.Needs == "" {
			t.Errorf("route %s: no Needs feature", r.ID)
		}
		if !slices.Contains(backends, r.Backend) {
			t.Errorf("route %s: backend %q is not a fixture backend", r.ID, r.Backend)
		}
		for _, o := range byPattern[r.Pattern] {
			if len(o.Methods) == 0 || len(r.Methods) == 0 || slices.ContainsFunc(r.Methods, func(m string) bool { return slices.Contains(o.Methods, m) }) {
				t.Errorf("routes %s and %s: pattern %s routed twice for the same method", o.ID, r.ID, r.Pattern)
			}
		}
		byPattern[r.Pattern] = append(byPattern[r.Pattern], r)
	}
	for _, r := range Routes {
		mine := slices.ContainsFunc(headerLimitRoutes, func(o Route) bool { return o.ID == r.ID })
		if !mine && strings.HasPrefix(r.Pattern, "/conf/h-") {
			t.Errorf("route %s (%s) of another group uses this group's /conf/h- space", r.ID, r.Pattern)
		}
	}
}

// bareEcho is the worst gateway there is: no gateway at all. Its URL is an
// echo upstream named alpha, so every request "reaches a backend" exactly
// as the client sent it; it declares every feature.
type bareEcho struct{ url string }

func (b *bareEcho) Name() string { return "bare-echo" }
func (b *bareEcho) Implementation() Implementation {
	return Implementation{Name: "bare-echo", Version: "test", Mode: map[string]string{}}
}
func (b *bareEcho) URL() string                                { return b.url }
func (b *bareEcho) Features() []Feature                        { return AllFeatures() }
func (b *bareEcho) Reconfigure(context.Context, []Route) error { return ErrUnsupported }

// TestCasesFailWithoutAGateway runs this group's cases against a bare echo
// upstream (no routing, no header hygiene, no limits, no error answers):
// every case must fail, with a reason, except the two a pure pass-through
// rightly passes. A case that passes here checks nothing a gateway does.
// The slow-header cases get a short timeout (the server has no header
// timeout, so they fail at it); against a server with one they pass.
func TestCasesFailWithoutAGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("sends real traffic for a few seconds")
	}
	passOnPassThrough := map[string]bool{
		"upstream/backend-answers-pass-through": true, // the backend itself passes its answers through
		"limits/body-at-limit-passes":           true, // and takes any body
	}
	var cases []Case
	for _, g := range [][]Case{routingCases, headerCases, upstreamCases, limitCases} {
		for _, c := range g {
			if c.Timeout > 5*time.Second {
				c.Timeout = 3 * time.Second
			}
			cases = append(cases, c)
		}
	}
	srv := httptest.NewServer(upstream.New(BackendAlpha).Handler())
	defer srv.Close()
	rep := Run(context.Background(), &bareEcho{url: srv.URL}, cases, Options{Root: ".."})
	for _, r := range rep.Cases {
		switch {
		case passOnPassThrough[r.ID] && r.Outcome != Passed:
			t.Errorf("%s: %s against a pure pass-through (%s); want passed", r.ID, r.Outcome, r.Reason)
		case !passOnPassThrough[r.ID] && r.Outcome != Failed:
			t.Errorf("%s: %s against no gateway at all; want failed: the case checks nothing a gateway does", r.ID, r.Outcome)
		case r.Reason == "" && r.Outcome == Failed:
			t.Errorf("%s: failed without a reason", r.ID)
		default:
			t.Logf("%s: %s: %.200s", r.ID, r.Outcome, r.Reason)
		}
	}

	// With a header timeout, the slow-header cases pass.
	slow := httptest.NewUnstartedServer(upstream.New(BackendAlpha).Handler())
	slow.Config.ReadHeaderTimeout = 300 * time.Millisecond
	slow.Start()
	defer slow.Close()
	var slowCases []Case
	for _, c := range limitCases {
		if slices.Contains(c.Features, LimitsSlowHeader) {
			c.Timeout = 5 * time.Second
			slowCases = append(slowCases, c)
		}
	}
	if len(slowCases) == 0 {
		t.Fatal("no slow-header case")
	}
	rep = Run(context.Background(), &bareEcho{url: slow.URL}, slowCases, Options{Root: ".."})
	for _, r := range rep.Cases {
		if r.Outcome != Passed {
			t.Errorf("%s against a server with a 300 ms header timeout: %s (%s); want passed", r.ID, r.Outcome, r.Reason)
		}
	}
}

// TestRawHelpers checks FoldedValues and listTokens, which the header cases
// lean on to see spoofed names.
func TestRawHelpers(t *testing.T) {
	e := &Echo{}
	e.Headers = http.Header{"X_user_id": {"a"}, "X-User-Id": {"b", "c"}, "X-User-Ids": {"d"}}
	got := e.FoldedValues("x-user-id")
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("FoldedValues = %q", got)
	}
	if got := listTokens([]string{" GET, HEAD ,", "POST"}); !slices.Equal(got, []string{"GET", "HEAD", "POST"}) {
		t.Errorf("listTokens = %q", got)
	}
	if !sameMethods([]string{"GET", "HEAD"}, []string{"GET"}, []string{"HEAD"}) || sameMethods([]string{"GET", "POST"}, []string{"GET"}, []string{"HEAD"}) ||
		sameMethods([]string{"HEAD"}, []string{"GET"}, []string{"HEAD"}) {
		t.Error("sameMethods is wrong")
	}
}
