package control

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// admin is a client of a Manager's Handler over a real HTTP server.
type admin struct {
	t   *testing.T
	srv *httptest.Server
}

func newAdmin(t *testing.T, m *Manager) *admin {
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return &admin{t: t, srv: srv}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a *admin) do(method, path, token string, body []byte) reply {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil && resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusNotFound {
		a.t.Errorf("%s %s: body is not JSON: %q", method, path, raw)
	}
	// GET /config returns the YAML, token hashes included; tokens never.
	for _, s := range secrets() {
		if strings.Contains(r.raw, s) && (path != "/config" || strings.HasPrefix(s, "adm_") || strings.HasPrefix(s, "glk_")) {
			a.t.Errorf("%s %s: the response echoes a secret: %s", method, path, raw)
		}
	}
	return r
}

func TestAdminAuth(t *testing.T) {
	e := newEnv(t)
	a := newAdmin(t, e.m)

	// Nothing served yet: no tokens, so the API is disabled.
	if r := a.do("GET", "/config", opsToken, nil); r.status != 403 || r.body["error"] != "admin_api_disabled" {
		t.Errorf("before any config: %d %s", r.status, r.raw)
	}
	noTokens := baseSpec(0)
	noTokens.Tokens = nil
	e.mustSubmit(t, noTokens.yaml(), Submission{Source: SourceStartup})
	if r := a.do("GET", "/config", opsToken, nil); r.status != 403 || r.body["error"] != "admin_api_disabled" {
		t.Errorf("config without tokens: %d %s", r.status, r.raw)
	}

	e.mustSubmit(t, baseSpec(0).yaml(), Submission{Source: SourceFile})
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"no header", "", 401},
		{"unknown token", "Bearer " + unknownToken, 401},
		{"the hash instead of the token", "Bearer " + hashOf(opsToken), 401},
		{"basic auth", "Basic " + opsToken, 401},
		{"empty bearer", "Bearer ", 401},
		{"ops", "Bearer " + opsToken, 200},
		{"deploy, lower-case scheme", "bearer " + deployToken, 200},
	} {
		for _, ep := range []struct{ method, path string }{{"GET", "/config"}, {"PUT", "/config?expected_version=0"}, {"POST", "/config/validate"}} {
			req, _ := http.NewRequest(ep.method, a.srv.URL+ep.path, strings.NewReader(""))
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := a.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := resp.StatusCode
			if tc.want == 200 && got != 401 && got != 403 {
				got = 200 // authenticated; the endpoint's own answer is tested below
			}
			if got != tc.want {
				t.Errorf("%s: %s %s = %d %s, want %d", tc.name, ep.method, ep.path, resp.StatusCode, body, tc.want)
			}
			if resp.StatusCode == 401 {
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: 401 without WWW-Authenticate: %v", tc.name, resp.Header)
				}
				if !strings.Contains(string(body), `"error":"unauthorized"`) {
					t.Errorf("%s: 401 body %s", tc.name, body)
				}
			}
		}
	}

	// Tokens are those of the served config: removing one revokes it.
	onlyOps := baseSpec(0)
	onlyOps.Tokens = []string{"ops"}
	if r := a.do("PUT", "/config?expected_version=2", deployToken, onlyOps.yaml()); r.status != 200 {
		t.Fatalf("PUT by deploy: %d %s", r.status, r.raw)
	}
	if r := a.do("GET", "/config", deployToken, nil); r.status != 401 {
		t.Errorf("a removed token still works: %d", r.status)
	}
	if r := a.do("GET", "/config", opsToken, nil); r.status != 200 {
		t.Errorf("ops after deploy's removal: %d", r.status)
	}
	// The actor of the change is the token's id.
	var last map[string]any
	for len(e.audit.entries) > 0 {
		last = <-e.audit.entries
	}
	if last["actor"] != "deploy" || last["source"] != "admin" {
		t.Errorf("audit entry of the PUT: %v", last)
	}
}

func TestAdminEndpoints(t *testing.T) {
	e := newEnv(t)
	a := newAdmin(t, e.m)
	v1 := baseSpec(0).yaml()
	e.mustSubmit(t, v1, Submission{Source: SourceStartup})
	e.audit.next(t)

	// GET /config
	r := a.do("GET", "/config", opsToken, nil)
	if r.status != 200 || r.body["version"] != 1.0 || r.body["config"] != string(v1) || r.header.Get("X-Config-Version") != "1" ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("GET /config: %d %v %s", r.status, r.header, r.raw)
	}

	// PUT: a missing or bad expected_version.
	for _, q := range []string{"", "?expected_version=", "?expected_version=one", "?expected_version=-1"} {
		if r := a.do("PUT", "/config"+q, opsToken, v1); r.status != 400 || r.body["error"] != "bad_expected_version" {
			t.Errorf("PUT /config%s: %d %s", q, r.status, r.raw)
		}
	}
	// An empty config is refused like any invalid one, audited as such.
	for _, body := range []string{"", "\n", "# nothing\n"} {
		r := a.do("PUT", "/config?expected_version=1", opsToken, []byte(body))
		problems, _ := r.body["problems"].([]any)
		if r.status != 422 || r.body["error"] != "invalid_config" || len(problems) != 1 || !strings.Contains(r.raw, `"message":"config is empty`) {
			t.Errorf("PUT of the body %q: %d %s", body, r.status, r.raw)
		}
		if entry := e.audit.next(t); entry["result"] != "rejected" || entry["actor"] != "ops" {
			t.Errorf("audit of an empty PUT: %v", entry)
		}
	}
	// PUT: success.
	v2 := baseSpec(0)
	v2.Tiers[0].Limit = 250
	r = a.do("PUT", "/config?expected_version=1", opsToken, v2.yaml())
	if r.status != 200 || r.body["version"] != 2.0 || r.body["previous"] != 1.0 {
		t.Fatalf("PUT: %d %s", r.status, r.raw)
	}
	if evs := e.waitApplied(t, 2); evs[len(evs)-1].Actor != "ops" || evs[len(evs)-1].Source != "admin" || evs[len(evs)-1].From != 1 {
		t.Errorf("Applied hook %+v", evs)
	}
	if entry := e.audit.next(t); entry["actor"] != "ops" || entry["result"] != "applied" {
		t.Errorf("audit %v", entry)
	}

	// PUT: a stale writer (CAS).
	r = a.do("PUT", "/config?expected_version=1", opsToken, baseSpec(0).yaml())
	if r.status != 409 || r.body["error"] != "version_conflict" || r.body["current_version"] != 2.0 {
		t.Errorf("PUT with expected_version=1: %d %s", r.status, r.raw)
	}
	// PUT: a declared version not above the served one.
	r = a.do("PUT", "/config?expected_version=2", opsToken, baseSpec(2).yaml())
	if r.status != 409 || r.body["error"] != "stale_version" || r.body["current_version"] != 2.0 || r.body["declared_version"] != 2.0 {
		t.Errorf("PUT declaring version 2: %d %s", r.status, r.raw)
	}
	// PUT: invalid, every problem listed.
	_, _, perr := e.m.check([]byte(invalidYAML), "", 0, &snapshot{})
	wantProblems, _ := isProblems(perr)
	r = a.do("PUT", "/config?expected_version=2", opsToken, []byte(invalidYAML))
	problems, _ := r.body["problems"].([]any)
	if r.status != 422 || r.body["error"] != "invalid_config" || len(problems) != len(wantProblems) || len(problems) < 5 {
		t.Fatalf("PUT invalid: %d %s (want %d problems)", r.status, r.raw, len(wantProblems))
	}
	for i, p := range problems {
		p := p.(map[string]any)
		w := wantProblems[i]
		if p["line"] != float64(w.Line) || p["path"] != w.Path || p["message"] != w.Msg || w.Line == 0 {
			t.Errorf("problem %d: %v, want %+v", i, p, w)
		}
		for _, k := range []string{"file", "line", "path", "message"} {
			if _, ok := p[k]; !ok {
				t.Errorf("problem %d has no %q: %v", i, k, p)
			}
		}
	}
	// PUT: too large.
	huge := append(bytes.Repeat([]byte("# padding padding padding\n"), MaxConfigBytes/26+1), v1...)
	if r := a.do("PUT", "/config?expected_version=2", opsToken, huge); r.status != 413 {
		t.Errorf("PUT of %d bytes: %d %s", len(huge), r.status, r.raw)
	}
	// Nothing changed by any of the failures.
	if v, raw := e.m.Current(); v != 2 || !bytes.Equal(raw, v2.yaml()) {
		t.Errorf("after failed PUTs serving %d", v)
	}
	if got := e.target.appliedVersions(); len(got) != 2 {
		t.Errorf("node applied %v", got)
	}
	for _, want := range []string{"conflict", "stale", "rejected"} {
		if entry := e.audit.next(t); entry["result"] != want || entry["actor"] != "ops" {
			t.Errorf("audit entry %v, want result %s", entry, want)
		}
	}

	// POST /config/validate changes nothing and writes no audit entry.
	if r := a.do("POST", "/config/validate", opsToken, baseSpec(0).yaml()); r.status != 200 || r.body["valid"] != true {
		t.Errorf("validate valid: %d %s", r.status, r.raw)
	}
	r = a.do("POST", "/config/validate", opsToken, []byte(invalidYAML))
	if problems, _ := r.body["problems"].([]any); r.status != 422 || r.body["valid"] != false || len(problems) != len(wantProblems) {
		t.Errorf("validate invalid: %d %s", r.status, r.raw)
	}
	for _, body := range []string{"", "  \n\t\n", "# only comments\n---\n"} {
		r := a.do("POST", "/config/validate", opsToken, []byte(body))
		if r.status != 422 || r.body["valid"] != false || !strings.Contains(r.raw, `"message":"config is empty`) {
			t.Errorf("validate of the body %q: %d %s", body, r.status, r.raw)
		}
	}
	r = a.do("POST", "/config/validate", opsToken, baseSpec(1).yaml())
	if problems, _ := r.body["problems"].([]any); r.status != 422 || len(problems) != 1 || !strings.Contains(r.raw, "not above the served version 2") {
		t.Errorf("validate stale: %d %s", r.status, r.raw)
	}
	if v, _ := e.m.Current(); v != 2 || !e.audit.none() || len(e.target.appliedVersions()) != 2 {
		t.Errorf("validate changed something: serving %d, audit queued %d", v, len(e.audit.entries))
	}

	// Other methods and paths.
	if r := a.do("DELETE", "/config", opsToken, nil); r.status != 405 {
		t.Errorf("DELETE /config: %d", r.status)
	}
	if r := a.do("GET", "/nothing", opsToken, nil); r.status != 404 {
		t.Errorf("GET /nothing: %d", r.status)
	}
	if r := a.do("GET", "/nothing", "", nil); r.status != 401 {
		t.Errorf("GET /nothing without a token: %d (unauthenticated callers learn nothing)", r.status)
	}
}
