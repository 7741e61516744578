package scenario

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// A bad file is refused with every problem, each with its line.
func TestParseListsEveryProblemWithItsLine(t *testing.T) {
	_, err := LoadFile("testdata/bad.yaml")
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []struct {
		line int
		text string
	}{
		{1, `name "Bad Name"`},
		{3, `unknown peer "envoy"`},
		{6, `mode "turbo"`},
		{7, `error_rate 2`},
		{10, `prefix "api/v2/users" must start and end with /`},
		{11, `unknown upstream "nobody"`},
		{12, `unknown tier "gold"`},
		{13, `request "GET /elsewhere"`},
		{18, `unknown fault kind "redis.explode"`},
		{18, `the window ends at 11s, after the load (5s)`},
		{20, `unknown metric`},
		{21, `phase "nowhere"`},
	}
	got := err.Error()
	for _, w := range want {
		found := false
		for _, p := range ps {
			if p.Line == w.line && strings.Contains(p.Msg, w.text) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing problem at line %d containing %q; got:\n%s", w.line, w.text, got)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(ps), len(want), got)
	}
	for _, p := range ps {
		if !strings.HasPrefix(p.String(), "testdata/bad.yaml:") {
			t.Errorf("problem without file and line: %s", p)
		}
	}
}

func TestParseRejectsUnknownFieldsAndSyntax(t *testing.T) {
	cases := map[string]string{
		"unknown field":  "name: x\nupstreams: [{name: u}]\nroutes: [{id: r, prefix: /a/, upstream: u, request: GET /a/b, colour: red}]\nload: {stages: [{duration: 1s, rate: 1}]}\n",
		"syntax":         "name: x\n  bad: [\n",
		"closed+faults":  "name: x\nupstreams: [{name: u}]\nroutes: [{id: r, prefix: /a/, upstream: u, request: GET /a/b}]\nload: {mode: closed, workers: 4, duration: 2s}\nfaults: [{kind: redis.down, at: 0s, for: 1s}]\n",
		"budget mapping": "name: x\nupstreams: [{name: u}]\nroutes: [{id: r, prefix: /a/, upstream: u, request: GET /a/b}]\nload: {stages: [{duration: 1s, rate: 1}]}\nbudgets: [{expr: 'availability > 1%', abrot: true}]\n",
	}
	for name, text := range cases {
		_, err := Parse([]byte(text), name+".yaml")
		var ps Problems
		if !errors.As(err, &ps) || len(ps) == 0 || ps[0].Line == 0 {
			t.Errorf("%s: want problems with a line, got %v", name, err)
		}
	}
}

// The gateway's words (tier key and algorithm, route auth, fail mode and
// priority) are gateway/policy's, as in the gateway config.
func TestParseChecksGatewayWords(t *testing.T) {
	const head = "name: x\nupstreams: [{name: u}]\nload: {stages: [{duration: 1s, rate: 1}]}\ntiers:\n"
	bad := head + `  - {name: t, limit: 1, window: 1s, key: user, algorithm: token_bucket}
routes:
  - {id: r, prefix: /a/, upstream: u, request: GET /a/b, tier: t, auth: api_key, fail_mode: shut, priority: p1}
`
	_, err := Parse([]byte(bad), "bad.yaml")
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []string{
		`bad.yaml:5: tiers[0].key: key "user": want user_id, api_key, client_ip or global`,
		`bad.yaml:5: tiers[0].algorithm: algorithm "token_bucket": want sliding_window or gcra`,
		`bad.yaml:7: routes[0].auth: auth "api_key": want jwt or none`,
		`bad.yaml:7: routes[0].fail_mode: fail_mode "shut": want open or closed`,
		`bad.yaml:7: routes[0].priority: priority "p1": want P0, P1, P2 or P3`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}

	good := head + `  - {name: t, limit: 1, window: 1s, key: client_ip, algorithm: gcra}
routes:
  - {id: r, prefix: /a/, upstream: u, request: GET /a/b, tier: t, auth: none, fail_mode: closed, priority: P0}
`
	if _, err := Parse([]byte(good), "good.yaml"); err != nil {
		t.Errorf("valid words refused: %v", err)
	}
}

func TestParseGood(t *testing.T) {
	text := `name: ok
upstreams: [{name: u, delay: "uniform:1ms-3ms"}]
tiers: [{name: t1, limit: 10, window: 1s}]
routes:
  - {id: r, prefix: /a/, strip_prefix: /a, upstream: u, tier: t1, request: GET /a/b}
load:
  warmup: 1s
  stages: [{duration: 2s, rate: 10}, {duration: 2s, rate: 10, to: 100}]
phases: [{name: ramp, at: 2s, for: 2s}]
faults: [{name: slow, kind: upstream.delay, upstream: u, delay: "fixed:5ms", at: 1s, for: 1s}]
budgets:
  - latency.p99{route:r, phase:slow} < 10ms
  - {expr: "availability >= 99%", abort: true, profiles: [ci]}
`
	s, err := Parse([]byte(text), "ok.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Load.TotalDuration().Seconds() != 4 || len(s.Windows()) != 2 || s.Windows()[1].Name != "slow" {
		t.Fatalf("load %v, windows %+v", s.Load.TotalDuration(), s.Windows())
	}
	if !s.Budgets[1].Abort || s.Budgets[1].Profiles[0] != "ci" || s.Budgets[0].Line != 12 || s.Budgets[1].Line != 13 {
		t.Fatalf("budgets %+v", s.Budgets)
	}
	if v, _ := s.Budgets[0].Parsed.Tag("phase"); v != "slow" {
		t.Fatalf("parsed %+v", s.Budgets[0].Parsed)
	}
	if s.SHA256 == "" || s.File != "ok.yaml" {
		t.Fatal("no hash or file")
	}
}

// Every built-in scenario parses.
func TestBuiltInScenariosParse(t *testing.T) {
	entries, err := os.ReadDir("../../scenarios")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			n++
			if _, err := LoadFile("../../scenarios/" + e.Name()); err != nil {
				t.Errorf("%s: %v", e.Name(), err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no scenarios found")
	}
}

// Mode nginx: a real nginx answers every request, so nothing that changes
// a gatelab upstream's behaviour may be asked of it (each refusal on its
// line); kill, freeze and proxy faults are allowed, and so are keep-alive
// limits.
func TestParseNginxUpstream(t *testing.T) {
	bad := `name: x
upstreams:
  - {name: u, mode: nginx, delay: "fixed:1ms", error_rate: 0.1, error_status: 503}
  - {name: v, mode: nginx, max_conn_requests: -1, idle_timeout: 1500us}
routes: [{id: r, prefix: /a/, upstream: u, request: GET /a/b}]
load: {stages: [{duration: 5s, rate: 10}]}
faults:
  - {kind: upstream.delay, upstream: u, delay: "fixed:5ms", at: 0s, for: 1s}
  - {kind: upstream.error, upstream: u, error_rate: 0.5, at: 1s, for: 1s}
  - {kind: upstream.stall, upstream: u, at: 2s, for: 1s}
  - {kind: upstream.kill, upstream: u, at: 3s, for: 1s}
  - {kind: upstream.freeze, upstream: u, at: 4s, for: 1s}
`
	_, err := Parse([]byte(bad), "bad.yaml")
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []string{
		`bad.yaml:3: upstreams[0].delay: delay needs a gatelab upstream (mode static or echo); mode nginx answers every request 200 itself`,
		`bad.yaml:3: upstreams[0].error_rate: error_rate needs a gatelab upstream`,
		`bad.yaml:3: upstreams[0].error_status: error_status needs a gatelab upstream`,
		`bad.yaml:4: upstreams[1].max_conn_requests: max_conn_requests -1 is negative`,
		`bad.yaml:4: upstreams[1].idle_timeout: idle_timeout 1.5ms`,
		`bad.yaml:8: faults[0].kind: upstream.delay changes a gatelab upstream's behaviour: upstream "u" is mode nginx`,
		`bad.yaml:9: faults[1].kind: upstream.error changes a gatelab upstream's behaviour`,
		`bad.yaml:10: faults[2].kind: upstream.stall changes a gatelab upstream's behaviour`,
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), err)
	}
	for i := range min(len(got), len(want)) {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s...", i, got[i], want[i])
		}
	}

	good := `name: x
upstreams: [{name: u, mode: nginx, max_conn_requests: 1000, idle_timeout: 2s, instances: 2, proxy: true}]
routes: [{id: r, prefix: /a/, upstream: u, request: GET /a/b}]
load: {stages: [{duration: 5s, rate: 10}]}
faults:
  - {kind: upstream.kill, upstream: u, at: 1s, for: 1s}
  - {kind: upstream.freeze, upstream: u, at: 2s, for: 1s}
  - {kind: upstream.reset, upstream: u, at: 3s, for: 1s}
`
	s, err := Parse([]byte(good), "good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if u := s.Upstreams[0]; u.Mode != UpstreamNginx || u.MaxConnRequests != 1000 || u.IdleTimeout.Seconds() != 2 {
		t.Errorf("upstream %+v", u)
	}
}

func TestParseAccessLogTwins(t *testing.T) {
	const body = "name: x\nupstreams: [{name: u}]\nload: {stages: [{duration: 1s, rate: 1}]}\nroutes:\n  - {id: r, prefix: /a/, upstream: u, request: GET /a/b}\n"
	// Twins need the other targets to run without the log.
	_, err := Parse([]byte("targets: {access_log_twins: true}\n"+body), "twins.yaml")
	if err == nil || !strings.Contains(err.Error(), "targets.access_log_twins: access_log_twins needs access_log: false") {
		t.Errorf("twins with the log on everywhere: %v", err)
	}
	s, err := Parse([]byte("targets: {access_log: false, access_log_twins: true}\n"+body), "twins.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Targets.AccessLogTwins || s.Targets.WantAccessLog() {
		t.Errorf("targets %+v: want twins and no log on the others", s.Targets)
	}
}
