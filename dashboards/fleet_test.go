package dashboards

// TestPrometheusFleet: real gateway nodes (every limiter engine), real
// traffic, a real Prometheus with the rendered config and rules; then every
// panel query, every variable query, every recording rule and every alert's
// measured part must return series carrying the labels their legends use.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatelab/gatelab/gateway/auth/authtest"
	"github.com/gatelab/gatelab/harness/deps"
	"github.com/gatelab/gatelab/harness/fleet"
	"github.com/gatelab/gatelab/internal/redistest"
	"github.com/gatelab/gatelab/internal/testproc"
)

// The fixture's TEST-ONLY admin token (fixtures/gateway.yaml, admin.tokens).
const fixtureAdminToken = "gatelab-dev-admin-token"

// The fixture's TEST-ONLY partner API key (fixtures/apikeys.yaml).
const fixtureAPIKey = "glk_test_partner42"

// shedMaxInFlight is the shedding.max_in_flight of the test config: low
// enough that a handful of slow requests sheds the P3 route.
const shedMaxInFlight = 8

// gwNode is one "gatelab serve" of the test fleet.
type gwNode struct {
	name string // for messages
	*testproc.Serve
}

func TestPrometheusFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway fleet, Redis and Prometheus")
	}
	t0 := time.Now()
	promBin := needTool(t, "prometheus")
	redis := redistest.StartProcess(t) // skips (or fails with GATELAB_REQUIRE_REDIS=1) without redis-server

	// Upstreams: one echo server for every backend, one that fails every
	// request (legacy-user-service) so that errors and a breaker show.
	good := testproc.StartUpstream(t, "dash-up")
	bad := testproc.StartUpstreamArgs(t, "dash-bad", "-error-rate", "1", "-error-status", "502")
	cfgPath := filepath.Join(t.TempDir(), "gateway.yaml")
	cfgText := fleetConfig(t, good, bad)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}

	// Four nodes: local and redis on fasthttp, two crdt nodes on nethttp
	// gossiping on loopback.
	binds := []string{testproc.FreeAddr(t), testproc.FreeAddr(t)}
	common := []string{"-config", cfgPath, "-drain", "1s"}
	nodes := []gwNode{
		{"local", testproc.StartServe(t, append(common, "-server", "fasthttp", "-router", "trie", "-limiter", "local")...)},
		{"redis", testproc.StartServe(t, append(common, "-server", "fasthttp", "-router", "regex", "-limiter", "redis", "-redis", redis.URL())...)},
		{"crdt-a", testproc.StartServe(t, append(common, "-server", "nethttp", "-router", "mux", "-limiter", "crdt",
			"-node", "a", "-bind", binds[0], "-peers", binds[1])...)},
		{"crdt-b", testproc.StartServe(t, append(common, "-server", "nethttp", "-router", "trie", "-limiter", "crdt",
			"-node", "b", "-bind", binds[1], "-peers", binds[0])...)},
	}
	var targets []string
	for _, n := range nodes {
		targets = append(targets, n.Admin)
	}
	t.Logf("fleet up in %v: %v", time.Since(t0).Round(time.Millisecond), targets)

	prom := startPrometheus(t, promBin, targets)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	waitTargetsUp(t, ctx, prom, len(targets))
	t.Logf("prometheus %s scraping %d nodes after %v", prom.url, len(targets), time.Since(t0).Round(time.Millisecond))

	// Two phases of the same traffic, each seen by at least one scrape, so
	// every series created in the first one increases in the second and
	// rate() over it is not zero (a series born between two scrapes shows
	// no increase until it changes again).
	tok := mintTokens(t)
	for phase := 1; phase <= 2; phase++ {
		statuses := driveLoad(t, nodes, tok, phase)
		changeConfig(t, nodes[0], phase)
		changeConfig(t, nodes[2], phase)
		t.Logf("phase %d: statuses %v", phase, statuses)
		waitScrapedAfter(t, ctx, prom, time.Now())
	}
	waitRulesAfter(t, ctx, prom, lastScrape(t, ctx, prom))

	checkQueries(t, ctx, prom)
	checkTraffic(t, ctx, prom, nodes)
	t.Logf("whole test %v", time.Since(t0).Round(time.Millisecond))
}

// fleetConfig is fixtures/gateway.yaml pointed at the test upstreams, with
// absolute key paths, no access log, a low shedding limit and a breaker on
// legacy-user-service that opens after a few failures.
func fleetConfig(t *testing.T, good, bad string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "fixtures", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fixtures, err := filepath.Abs(filepath.Join("..", "fixtures"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	must := func(n *yaml.Node, what string) *yaml.Node {
		t.Helper()
		if n == nil {
			t.Fatalf("fixtures/gateway.yaml: no %s", what)
		}
		return n
	}
	setScalar(must(mapValue(root, "access_log"), "access_log"), "output", "off")
	auth := must(mapValue(root, "auth"), "auth")
	setScalar(must(mapValue(auth, "jwt"), "auth.jwt"), "jwks_file", filepath.Join(fixtures, "keys", "jwks.json"))
	setScalar(auth, "api_keys_file", filepath.Join(fixtures, "apikeys.yaml"))
	setScalar(must(mapValue(root, "shedding"), "shedding"), "max_in_flight", strconv.Itoa(shedMaxInFlight))
	for _, b := range must(mapValue(root, "backends"), "backends").Content {
		name := mapValue(b, "name").Value
		url := good
		if name == "legacy-user-service" {
			url = bad
			// Keep the instance in rotation (passive ejection would answer
			// 503 before the breaker sees enough requests) and open the
			// breaker after 5 requests, for longer than the test lasts.
			hc := must(mapValue(b, "health_check"), name+".health_check")
			setScalar(hc, "passive_failures", "1000")
			var cb yaml.Node
			if err := yaml.Unmarshal([]byte("{min_requests: 5, window: 30s, failure_ratio: 0.5, open_for: 5m}"), &cb); err != nil {
				t.Fatal(err)
			}
			b.Content = append(b.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "circuit_breaker"}, cb.Content[0])
		}
		inst := must(mapValue(b, "instances"), name+".instances").Content[0]
		setScalar(inst, "url", url)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// tokens are the bearer tokens the load uses.
type tokens struct{ user, admin, slow, legacy string }

func mintTokens(t *testing.T) tokens {
	t.Helper()
	mint := func(sub string, scopes ...string) string {
		s, err := authtest.Mint(authtest.Options{Subject: sub, Scopes: scopes, TTL: 10 * time.Minute,
			Issuer: authtest.Issuer, Audience: []string{authtest.Audience},
			KeyFile: filepath.Join("..", "fixtures", "keys", "rsa.pem")})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return tokens{user: mint("dash-user"), admin: mint("dash-admin", "admin"), slow: mint("dash-slow"), legacy: mint("dash-legacy")}
}

// request is one request of the load.
type request struct {
	method, path string
	header       map[string]string
	n            int
}

// driveLoad sends each node the same mix (200s, 401, 403, 404, 429s of two
// tiers, 502s and then 503 circuit_open from the failing backend, payments,
// API keys), and on the local node sheds P3 requests while slow ones fill
// it. It returns the status counts. Each phase sends about 180 requests per
// node, plus 60 more per phase number to push one user over its tier.
func driveLoad(t *testing.T, nodes []gwNode, tok tokens, phase int) map[int]int {
	t.Helper()
	bearer := func(s string) map[string]string { return map[string]string{"Authorization": "Bearer " + s} }
	mix := []request{
		{"GET", "/api/v2/users/me", bearer(tok.user), 30},
		{"GET", "/api/v2/users/me", nil, 5},                      // 401
		{"GET", "/api/v2/orders/o-1", bearer(tok.user), 10},      // 200
		{"POST", "/api/v2/payments/charge", bearer(tok.user), 5}, // 200 (fails closed if the limiter cannot decide)
		{"GET", "/api/v2/admin/stats", bearer(tok.user), 3},      // 403
		{"GET", "/api/v2/admin/stats", bearer(tok.admin), 3},     // 200
		{"GET", "/api/v2/products/shoes", map[string]string{"X-API-Key": fixtureAPIKey}, 5},
		{"GET", "/no/such/route", nil, 5},                             // 404
		{"GET", "/api/v2/health", nil, 20},                            // 429 after 30 a minute per client address
		{"GET", "/api/v1/users/legacy", bearer(tok.legacy), 12},       // 502, then 503 circuit_open
		{"GET", "/api/v2/users/burst", bearer(tok.admin), 60 * phase}, // 429 once over 100 a minute
	}
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, r := range mix {
				for range r.n {
					st, err := send(client, r.method, "http://"+n.Traffic+r.path, r.header)
					mu.Lock()
					if err != nil {
						statuses[-1]++
					} else {
						statuses[st]++
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	shed := shedLoad(t, client, nodes[0], tok)
	mu.Lock()
	defer mu.Unlock()
	for st, c := range shed {
		statuses[st] += c
	}
	return statuses
}

func send(c *http.Client, method, url string, header map[string]string) (int, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// shedLoad holds slow P1 requests in flight on n until its in-flight gauge
// shows them (polled, bounded), then sends P3 requests, which load
// shedding refuses.
func shedLoad(t *testing.T, c *http.Client, n gwNode, tok tokens) map[int]int {
	t.Helper()
	const slow = shedMaxInFlight - 2 // 75 %: above the P3 threshold (60 %), below P1's (90 %)
	var wg sync.WaitGroup
	for range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(c, "GET", "http://"+n.Traffic+"/api/v2/users/slow",
				map[string]string{"Authorization": "Bearer " + tok.slow, "X-Upstream-Delay": "1500ms"})
		}()
	}
	defer wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for inFlight(n.Admin) < slow {
		if time.Now().After(deadline) {
			t.Fatalf("node %s: %d slow requests not in flight within 5s (gauge %v)", n.name, slow, inFlight(n.Admin))
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := map[int]int{}
	for range 6 {
		st, _ := send(c, "GET", "http://"+n.Traffic+"/api/v1/users/shed", map[string]string{"Authorization": "Bearer " + tok.user})
		got[st]++
	}
	if got[503] == 0 {
		t.Errorf("node %s: P3 requests with %d slow ones in flight: %v, want 503 (shed)", n.name, slow, got)
	}
	return got
}

var inFlightLine = regexp.MustCompile(`(?m)^gatelab_in_flight_requests ([0-9.e+]+)$`)

// inFlight reads gatelab_in_flight_requests from a node's /metrics (-1 on
// error).
func inFlight(admin string) float64 {
	res, err := testHTTPClient.Get("http://" + admin + "/metrics")
	if err != nil {
		return -1
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := inFlightLine.FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// changeConfig replaces n's config through the admin API (a real change:
// the global_safety tier's limit), so config propagation is observed.
func changeConfig(t *testing.T, n gwNode, phase int) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.Admin+"/config", nil)
	req.Header.Set("Authorization", "Bearer "+fixtureAdminToken)
	res, err := testHTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var cur struct {
		Version int64  `json:"version"`
		Config  string `json:"config"`
	}
	err = json.NewDecoder(res.Body).Decode(&cur)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET %s/config: %d %v", n.Admin, res.StatusCode, err)
	}
	re := regexp.MustCompile(`(name: global_safety, limit: )\d+`)
	if !re.MatchString(cur.Config) {
		t.Fatalf("node %s: no global_safety tier in the served config", n.name)
	}
	next := re.ReplaceAllString(cur.Config, "${1}"+strconv.Itoa(50000+phase))
	req, _ = http.NewRequest("PUT", fmt.Sprintf("http://%s/config?expected_version=%d", n.Admin, cur.Version), strings.NewReader(next))
	req.Header.Set("Authorization", "Bearer "+fixtureAdminToken)
	res, err = testHTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("PUT %s/config: %d %s", n.Admin, res.StatusCode, b)
	}
}

// testHTTPClient queries Prometheus.
var testHTTPClient = &http.Client{Timeout: 10 * time.Second}

// promProc is the test's Prometheus, queried through its HTTP API
// (/api/v1/...).
type promProc struct {
	url    string
	client *http.Client
}

// get calls the HTTP API at path with query parameters and decodes the
// "data" of a success answer into data.
func (p *promProc) get(ctx context.Context, path string, params url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", p.url+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	res, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		return fmt.Errorf("GET %s: status %d: %w", path, res.StatusCode, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("GET %s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// promTarget is an active target of /api/v1/targets.
type promTarget struct {
	ScrapeURL          string    `json:"scrapeUrl"`
	Health             string    `json:"health"`
	LastError          string    `json:"lastError"`
	LastScrape         time.Time `json:"lastScrape"`
	LastScrapeDuration float64   `json:"lastScrapeDuration"`
}

func (p *promProc) targets(ctx context.Context) ([]promTarget, error) {
	var d struct {
		Active []promTarget `json:"activeTargets"`
	}
	err := p.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &d)
	return d.Active, err
}

// promRule is a rule of /api/v1/rules.
type promRule struct {
	Name           string    `json:"name"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

func (p *promProc) rules(ctx context.Context) ([]promRule, error) {
	var d struct {
		Groups []struct {
			Rules []promRule `json:"rules"`
		} `json:"groups"`
	}
	err := p.get(ctx, "/api/v1/rules", nil, &d)
	var out []promRule
	for _, g := range d.Groups {
		out = append(out, g.Rules...)
	}
	return out, err
}

// promSample is one series of an instant vector.
type promSample struct {
	Metric map[string]string
	Value  float64
}

// query runs an instant query at at and returns its vector (an error for
// any other result type).
func (p *promProc) query(ctx context.Context, expr string, at time.Time) ([]promSample, error) {
	var d struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	params := url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	if err := p.get(ctx, "/api/v1/query", params, &d); err != nil {
		return nil, err
	}
	if d.ResultType != "vector" {
		return nil, fmt.Errorf("result is a %s, want a vector", d.ResultType)
	}
	out := make([]promSample, 0, len(d.Result))
	for _, r := range d.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("sample value %v: %w", r.Value[1], err)
		}
		out = append(out, promSample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// startPrometheus writes the config (1 s scrape and evaluation intervals)
// with WriteDir and runs Prometheus on a free loopback port until the test
// ends.
func startPrometheus(t *testing.T, bin string, targets []string) *promProc {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := fleet.Spec{Name: "prometheus", Path: bin, Dir: dir, Ready: PrometheusReady, ReadyTimeout: 20 * time.Second, RingLines: 4096}
	var listen string
	p, _, err := deps.StartOnFreePorts(ctx, spec, 1, func(ports []int) ([]string, error) {
		listen = "127.0.0.1:" + strconv.Itoa(ports[0])
		w, err := WriteDir(dir, Setup{Targets: targets, ScrapeInterval: time.Second}, URL(listen))
		if err != nil {
			return nil, err
		}
		return PrometheusArgs(w.Config, w.TSDB, listen), nil
	})
	if err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(10 * time.Second); err != nil {
			t.Errorf("stopping prometheus: %v", err)
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", p.Output())
		}
	})
	return &promProc{url: URL(listen), client: testHTTPClient}
}

// poll calls cond every 50 ms until it returns "" (done) or ctx ends, then
// fails with cond's last answer.
func poll(t *testing.T, ctx context.Context, what string, cond func() string) {
	t.Helper()
	for {
		why := cond()
		if why == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s", what, why)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func waitTargetsUp(t *testing.T, ctx context.Context, p *promProc, n int) {
	t.Helper()
	poll(t, ctx, "waiting for every target to be up", func() string {
		active, err := p.targets(ctx)
		if err != nil {
			return err.Error()
		}
		up := 0
		var down []string
		for _, a := range active {
			if a.Health == "up" {
				up++
			} else {
				down = append(down, fmt.Sprintf("%s %s %s", a.ScrapeURL, a.Health, a.LastError))
			}
		}
		if up != n || len(active) != n {
			return fmt.Sprintf("%d of %d targets up (want %d): %v", up, len(active), n, down)
		}
		return ""
	})
}

// waitScrapedAfter waits until every target's last scrape started after at.
func waitScrapedAfter(t *testing.T, ctx context.Context, p *promProc, at time.Time) {
	t.Helper()
	poll(t, ctx, "waiting for a scrape of every target", func() string {
		active, err := p.targets(ctx)
		if err != nil {
			return err.Error()
		}
		for _, a := range active {
			if !a.LastScrape.After(at) || a.Health != "up" {
				return fmt.Sprintf("%s: last scrape %v (%s), want after %v", a.ScrapeURL, a.LastScrape, a.Health, at)
			}
		}
		return ""
	})
}

// lastScrape is the end of the latest scrape of any target.
func lastScrape(t *testing.T, ctx context.Context, p *promProc) time.Time {
	t.Helper()
	active, err := p.targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for _, a := range active {
		if end := a.LastScrape.Add(time.Duration(a.LastScrapeDuration * float64(time.Second))); end.After(last) {
			last = end
		}
	}
	return last
}

// waitRulesAfter waits until every rule was last evaluated after at.
func waitRulesAfter(t *testing.T, ctx context.Context, p *promProc, at time.Time) {
	t.Helper()
	poll(t, ctx, "waiting for the rules to be evaluated", func() string {
		rules, err := p.rules(ctx)
		if err != nil {
			return err.Error()
		}
		if len(rules) == 0 {
			return "no rules loaded"
		}
		for _, r := range rules {
			if !r.LastEvaluation.After(at) {
				return fmt.Sprintf("rule %s last evaluated %v, want after %v", r.Name, r.LastEvaluation, at)
			}
		}
		return ""
	})
}

// check is one query of the final pass and what it returned.
type check struct {
	what   string // dashboard uid, "variable", "record" or "alert"
	name   string // panel title, variable, rule name
	ref    string
	expr   string // concrete PromQL
	labels []string
	series int
	nan    int
	fail   string
}

// labelValues turns Grafana's label_values(selector, label) into a
// Prometheus query returning one series per value.
var labelValues = regexp.MustCompile(`^\s*label_values\(\s*(.+)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

func checkQueries(t *testing.T, ctx context.Context, p *promProc) {
	t.Helper()
	var checks []*check
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		expr, err := Concrete(q.Expr)
		if err != nil {
			t.Fatal(err)
		}
		checks = append(checks, &check{what: q.Dashboard, name: q.Panel, ref: q.RefID, expr: expr, labels: LegendLabels(q.Legend)})
	}
	vars, err := Variables()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		q, err := Concrete(v.Query)
		if err != nil {
			t.Fatal(err)
		}
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s of %s: %q is not label_values(selector, label)", v.Name, v.Dashboard, q)
			continue
		}
		checks = append(checks, &check{what: v.Dashboard, name: "variable $" + v.Name, expr: fmt.Sprintf("count by (%s) (%s)", m[2], m[1]), labels: []string{m[2]}})
	}
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		kind := "record"
		if r.Alert != "" {
			kind = "alert"
		}
		for i, m := range r.Measured() {
			checks = append(checks, &check{what: kind, name: r.Name(), ref: strconv.Itoa(i + 1), expr: m})
		}
		if r.Alert != "" {
			// The whole alert expression too: it must run, empty or not.
			checks = append(checks, &check{what: "alert (whole)", name: r.Alert, expr: r.Expr})
		}
	}

	at := time.Now()
	for _, c := range checks {
		vec, err := p.query(ctx, c.expr, at)
		if err != nil {
			c.fail = "query error: " + err.Error()
			continue
		}
		c.series = len(vec)
		missing := map[string]bool{}
		for _, s := range vec {
			if math.IsNaN(s.Value) {
				c.nan++
			}
			for _, l := range c.labels {
				if s.Metric[l] == "" {
					missing[l] = true
				}
			}
		}
		switch {
		case c.what == "alert (whole)":
			// Empty when healthy is fine.
		case c.series == 0:
			c.fail = "no series"
		case c.nan == c.series:
			c.fail = "every series is NaN (no samples in the window)"
		case len(missing) > 0:
			var ls []string
			for l := range missing {
				ls = append(ls, l)
			}
			sort.Strings(ls)
			c.fail = "series without label " + strings.Join(ls, ", ") + " (used by the legend)"
		}
	}

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tPANEL / RULE\tREF\tSERIES\tNaN\tPROBLEM")
	var failed []string
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", c.what, c.name, c.ref, c.series, c.nan, c.fail)
		if c.fail != "" {
			failed = append(failed, fmt.Sprintf("%s / %s %s: %s\n    %s", c.what, c.name, c.ref, c.fail, c.expr))
		}
	}
	tw.Flush()
	t.Logf("%d queries at %s:\n%s", len(checks), at.Format(time.RFC3339), b.String())
	if len(failed) > 0 {
		t.Errorf("%d of %d queries returned no usable data:\n%s", len(failed), len(checks), strings.Join(failed, "\n"))
	}
}

// checkTraffic reads a few panels back and checks they show what the load
// did: the status codes and rejection reasons sent, the breaker opened on
// the failing backend only, the config versions the admin API set, every
// limiter engine limiting, the crdt nodes seeing each other.
func checkTraffic(t *testing.T, ctx context.Context, p *promProc, nodes []gwNode) {
	t.Helper()
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	panel := func(title, ref string) []promSample {
		t.Helper()
		for _, q := range qs {
			if q.Panel == title && q.RefID == ref {
				expr, err := Concrete(q.Expr)
				if err != nil {
					t.Fatal(err)
				}
				v, err := p.query(ctx, expr, time.Now())
				if err != nil {
					t.Fatalf("panel %q: %v", title, err)
				}
				return v
			}
		}
		t.Fatalf("no panel %q target %s", title, ref)
		return nil
	}
	values := func(v []promSample, label string) map[string]bool {
		out := map[string]bool{}
		for _, s := range v {
			out[s.Metric[label]] = true
		}
		return out
	}
	has := func(what string, got map[string]bool, want ...string) {
		t.Helper()
		for _, w := range want {
			if !got[w] {
				t.Errorf("%s: no %q among %v", what, w, got)
			}
		}
	}
	has("Errors by status code", values(panel("Errors by status code", "A"), "code"), "401", "403", "404", "429", "502", "503")
	has("Gateway rejections by reason", values(panel("Gateway rejections by reason", "A"), "reason"),
		"unauthorized", "forbidden", "not_found", "rate_limited", "shed", "circuit_open")
	has("Build and engines per node", values(panel("Build and engines per node", "B"), "limiter"), "local", "redis", "crdt")

	open := 0
	for _, s := range panel("Circuit breaker state", "A") {
		switch {
		case s.Metric["backend"] == "legacy-user-service" && s.Value == 1:
			open++
		case s.Metric["backend"] != "legacy-user-service" && s.Value != 0:
			t.Errorf("breaker of %s on %s: state %v, want 0 (closed)", s.Metric["backend"], s.Metric["instance"], s.Value)
		}
	}
	if open == 0 {
		t.Errorf("no node shows the breaker of legacy-user-service open (state 1)")
	}

	limited := map[string]bool{}
	for _, s := range panel("Rate-limit decisions by engine and result", "A") {
		if s.Metric["result"] == "limited" && s.Value > 0 {
			limited[s.Metric["engine"]] = true
		}
	}
	has("engines with limited decisions", limited, "local", "redis", "crdt")

	// Two admin changes on nodes 0 and 2: version 1 (the file) + 2.
	want := map[string]float64{}
	for i, n := range nodes {
		want[n.Admin] = 1
		if i == 0 || i == 2 {
			want[n.Admin] = 3
		}
	}
	for _, s := range panel("Config version per node", "A") {
		if w := want[s.Metric["instance"]]; s.Value != w {
			t.Errorf("config version of %s: %v, want %v", s.Metric["instance"], s.Value, w)
		}
	}
	for _, s := range panel("CRDT peers and cluster size", "A") {
		if s.Value != 1 {
			t.Errorf("crdt peers of %s: %v, want 1", s.Metric["instance"], s.Value)
		}
	}
}
