package observe

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// Method indexes as in pipeline.Method.
const (
	mGET  uint8 = 1
	mHEAD uint8 = 2
	mPOST uint8 = 3
)

// histogram returns the histogram child of family name with route label
// route, failing the test when it is missing.
func histogram(t *testing.T, m *Metrics, name, route string) *dto.Histogram {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == "route" && lp.GetValue() == route {
					return mt.GetHistogram()
				}
			}
		}
	}
	t.Fatalf("no %s{route=%q}", name, route)
	return nil
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRouteObserve(t *testing.T) {
	m := NewMetrics()
	r := m.ForRoute("users", "user-service")
	if m.ForRoute("users", "user-service") != r {
		t.Fatal("ForRoute did not return the cached handle")
	}
	if r.ID() != "users" || r.Backend() != "user-service" {
		t.Fatalf("ID, Backend = %q, %q", r.ID(), r.Backend())
	}

	r.Observe(mGET, 200, 10*time.Millisecond, 8*time.Millisecond)
	r.Observe(mGET, 204, 4*time.Millisecond, 3*time.Millisecond)
	r.Observe(mPOST, 503, 5*time.Millisecond, 0)                // no upstream: all overhead
	r.Observe(200, 0, time.Millisecond, 2*time.Millisecond)     // bad method, bad status, upstream > total
	r.Observe(mHEAD, 304, -time.Millisecond, -time.Millisecond) // negative durations clamp to 0
	r.Observe(mGET, 404, 2*time.Millisecond, 0)

	for _, c := range []struct {
		method, class, code string
		want                float64
	}{
		{"GET", "2xx", "200", 1},
		{"GET", "2xx", "204", 1},
		{"POST", "5xx", "503", 1},
		{"OTHER", "5xx", "other", 1},
		{"HEAD", "3xx", "304", 1},
		{"GET", "4xx", "404", 1},
		{"GET", "5xx", "500", 0},
	} {
		got := toFloat64(t, m.requests.WithLabelValues("users", c.method, c.class, c.code))
		if got != c.want {
			t.Errorf("requests{users,%s,%s,%s} = %v, want %v", c.method, c.class, c.code, got, c.want)
		}
	}
	// GET/5xx/500 was created by the check above; everything else by Observe.
	if n := collectAndCount(t, m.requests); n != 7 {
		t.Errorf("requests series = %d, want 7", n)
	}

	total := histogram(t, m, "gatelab_request_duration_seconds", "users")
	if total.GetSampleCount() != 6 || !near(total.GetSampleSum(), 0.022) {
		t.Errorf("duration count=%d sum=%v, want 6 and 0.022", total.GetSampleCount(), total.GetSampleSum())
	}
	up := histogram(t, m, "gatelab_upstream_duration_seconds", "users")
	if up.GetSampleCount() != 3 || !near(up.GetSampleSum(), 0.013) {
		t.Errorf("upstream count=%d sum=%v, want 3 and 0.013", up.GetSampleCount(), up.GetSampleSum())
	}
	// Overheads: 2ms, 1ms, 5ms, 0 (clamped), 0, 2ms.
	over := histogram(t, m, "gatelab_gateway_overhead_seconds", "users")
	if over.GetSampleCount() != 6 || !near(over.GetSampleSum(), 0.010) {
		t.Errorf("overhead count=%d sum=%v, want 6 and 0.010", over.GetSampleCount(), over.GetSampleSum())
	}
	if n := collectAndCount(t, m.duration); n != 1 {
		t.Errorf("duration series = %d, want 1", n)
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{
		100: "1xx", 199: "1xx", 200: "2xx", 302: "3xx", 404: "4xx", 429: "4xx",
		499: "4xx", 500: "5xx", 599: "5xx", 600: "5xx", 0: "5xx", -1: "5xx", 99: "5xx",
	} {
		if got := classLabels[statusClass(status)]; got != want {
			t.Errorf("statusClass(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestReject(t *testing.T) {
	m := NewMetrics()
	r := m.ForRoute("orders", "order-service")
	r.Reject(ReasonRateLimited)
	r.Reject(ReasonRateLimited)
	r.Reject(ReasonUnauthorized)
	r.Reject(Reason(250))
	m.ForRoute(UnmatchedRoute, "").Reject(ReasonNotFound)

	for _, c := range []struct {
		route, reason string
		want          float64
	}{
		{"orders", "rate_limited", 2},
		{"orders", "unauthorized", 1},
		{"orders", "other", 1},
		{"none", "not_found", 1},
	} {
		if got := toFloat64(t, m.rejections.WithLabelValues(c.route, c.reason)); got != c.want {
			t.Errorf("rejections{%s,%s} = %v, want %v", c.route, c.reason, got, c.want)
		}
	}
	if n := collectAndCount(t, m.rejections); n != 4 {
		t.Errorf("rejection series = %d, want 4", n)
	}
}

func TestReasonNames(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	seen := map[string]Reason{}
	for r := Reason(0); r < reasonCount; r++ {
		s := r.String()
		if !snake.MatchString(s) {
			t.Errorf("Reason(%d) = %q, not snake_case", r, s)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("Reason(%d) and Reason(%d) are both %q", prev, r, s)
		}
		seen[s] = r
	}
	for _, want := range []string{
		"unauthorized", "forbidden", "rate_limited", "not_found", "method_not_allowed",
		"bad_request", "payload_too_large", "upstream_timeout", "upstream_unavailable",
		"ratelimit_unavailable",
	} {
		if _, ok := seen[want]; !ok {
			t.Errorf("no Reason named %q", want)
		}
	}
	if Reason(200).String() != "other" {
		t.Errorf("out-of-range Reason = %q", Reason(200).String())
	}
	if LimitLimited.String() != "limited" || LimitResult(9).String() != "no_decision" {
		t.Errorf("LimitResult names: %q %q", LimitLimited, LimitResult(9))
	}
}

func TestTierAndGauges(t *testing.T) {
	m := NewMetrics()
	m.SetEngines("nethttp", "trie", "redis")
	free := m.ForTier("free")
	if m.ForTier("free") != free {
		t.Fatal("ForTier did not return the cached handle")
	}
	free.Record(LimitAllowed)
	free.Record(LimitAllowed)
	free.Record(LimitLimited)
	free.Record(LimitResult(42))
	if n := collectAndCount(t, m.rlDecision); n != 3 {
		t.Errorf("tier series = %d, want 3 (eager)", n)
	}
	for result, want := range map[string]float64{"allowed": 2, "limited": 1, "no_decision": 1} {
		if got := toFloat64(t, m.rlDecision.WithLabelValues("redis", "free", result)); got != want {
			t.Errorf("decisions{free,%s} = %v, want %v", result, got, want)
		}
	}

	free.ObserveLatency(3 * time.Millisecond)
	if n := collectAndCount(t, m.rlLatency); n != 1 {
		t.Errorf("latency series = %d, want 1 (engine redis)", n)
	}

	m.SetConfigVersion(7)
	if got := toFloat64(t, m.configVersion); got != 7 {
		t.Errorf("config version = %v", got)
	}
	if n := collectAndCount(t, m.configReloads); n != 2 {
		t.Errorf("reload series = %d, want 2 before any reload", n)
	}
	m.ConfigReloaded(true)
	m.ConfigReloaded(true)
	m.ConfigReloaded(false)
	if s, f := toFloat64(t, m.configReloads.WithLabelValues("success")),
		toFloat64(t, m.configReloads.WithLabelValues("failure")); s != 2 || f != 1 {
		t.Errorf("reloads success=%v failure=%v", s, f)
	}

	m.SetEngines("nethttp", "trie", "local")
	m.SetEngines("fasthttp", "regex", "local")
	if n := collectAndCount(t, m.engineInfo); n != 1 {
		t.Errorf("engine_info series = %d, want 1", n)
	}
	if got := toFloat64(t, m.engineInfo.WithLabelValues("fasthttp", "regex", "local")); got != 1 {
		t.Errorf("engine_info = %v", got)
	}

	m.InFlight().Inc()
	m.InFlight().Inc()
	m.InFlight().Dec()
	if got := toFloat64(t, m.inFlight); got != 1 {
		t.Errorf("in flight = %v", got)
	}
}

func TestNilHandles(t *testing.T) {
	var r *RouteMetrics
	var tm *TierMetrics
	r.Observe(mGET, 200, time.Millisecond, 0)
	r.Reject(ReasonForbidden)
	tm.Record(LimitAllowed)
}

func TestRetainRoutes(t *testing.T) {
	m := NewMetrics()
	for _, id := range []string{"a", "b"} {
		r := m.ForRoute(id, "svc")
		r.Observe(mGET, 200, time.Millisecond, time.Millisecond/2)
		r.ObserveConn(time.Millisecond/4, 0, false, 1, false)
		r.Reject(ReasonForbidden)
	}
	m.ForRoute(UnmatchedRoute, "").Observe(mGET, 404, time.Millisecond, 0)
	old := m.ForRoute("b", "svc")
	m.RetainRoutes(m.ForRoute("a", "svc"), nil)

	if n := collectAndCount(t, m.requests); n != 2 { // a and none
		t.Errorf("requests series after retain = %d, want 2", n)
	}
	if n := collectAndCount(t, m.duration); n != 2 {
		t.Errorf("duration series after retain = %d, want 2", n)
	}
	if n := collectAndCount(t, m.rejections); n != 1 {
		t.Errorf("rejection series after retain = %d, want 1", n)
	}
	for _, c := range []prometheus.Collector{m.upstream, m.connect, m.stale, m.retries} {
		if n := collectAndCount(t, c); n != 1 { // a only: none never forwarded
			t.Errorf("upstream family series after retain = %d, want 1", n)
		}
	}
	if m.ForRoute("b", "svc") == old {
		t.Error("removed route's handle still cached")
	}
	old.Observe(mGET, 200, time.Millisecond, 0) // must not panic
}

func TestConcurrentObserve(t *testing.T) {
	m := NewMetrics()
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			r := m.ForRoute("hot", "svc")
			for i := range each {
				r.Observe(mGET, 200+i%2, time.Millisecond, time.Millisecond/2)
				r.Reject(ReasonRateLimited)
			}
		})
	}
	wg.Wait()
	for _, code := range []string{"200", "201"} {
		if got := toFloat64(t, m.requests.WithLabelValues("hot", "GET", "2xx", code)); got != workers*each/2 {
			t.Errorf("requests{code=%s} = %v, want %d", code, got, workers*each/2)
		}
	}
	if got := toFloat64(t, m.rejections.WithLabelValues("hot", "rate_limited")); got != workers*each {
		t.Errorf("rejections = %v, want %d", got, workers*each)
	}
	if c := histogram(t, m, "gatelab_request_duration_seconds", "hot").GetSampleCount(); c != workers*each {
		t.Errorf("duration count = %d", c)
	}
}

func TestHotPathAllocs(t *testing.T) {
	m := NewMetrics()
	r := m.ForRoute("users", "user-service")
	tier := m.ForTier("free")
	var nilRoute *RouteMetrics
	for name, f := range map[string]func(){
		"Observe":      func() { r.Observe(mGET, 200, 3*time.Millisecond, 2*time.Millisecond) },
		"ObserveNoUp":  func() { r.Observe(mPOST, 429, 3*time.Millisecond, 0) },
		"Observe418":   func() { r.Observe(mGET, 418, 3*time.Millisecond, 2*time.Millisecond) },
		"ObserveBogus": func() { r.Observe(mGET, 999, 3*time.Millisecond, 2*time.Millisecond) },
		"ObserveConn":  func() { r.ObserveConn(time.Millisecond, time.Millisecond/2, true, 1, true) },
		"Reject":       func() { r.Reject(ReasonRateLimited) },
		"TierRecord":   func() { tier.Record(LimitLimited) },
		"NilObserve":   func() { nilRoute.Observe(mGET, 200, time.Millisecond, 0) },
		"InFlightIncD": func() { m.InFlight().Inc(); m.InFlight().Dec() },
	} {
		// AllocsPerRun warms up once, which resolves the cached children.
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s: %v allocs per call, want 0", name, a)
		}
	}
}

// exercise touches every gatelab_* family so each appears in a scrape.
func exercise(m *Metrics) {
	r := m.ForRoute("users", "user-service")
	r.Observe(mGET, 200, 3*time.Millisecond, 2*time.Millisecond)
	r.ObserveConn(time.Millisecond, time.Millisecond/2, true, 1, true)
	r.Reject(ReasonUpstreamTimeout)
	tier := m.ForTier("free")
	tier.Record(LimitAllowed)
	tier.ObserveLatency(time.Millisecond)
	m.SetConfigVersion(3)
	m.ConfigReloaded(true)
	m.ConfigApplied("startup", 2*time.Millisecond)
	m.SetEngines("nethttp", "trie", "local")
	m.AccessLogDropped().Inc()
	m.AccessLogWritten().Inc()
	m.InFlight().Set(0)
	m.InstanceKnown("user-service", "http://127.0.0.1:9001", true)
	m.InstanceHealth("user-service", "http://127.0.0.1:9001", false)
	m.BreakerState("user-service", 1, "open", true)
	m.BreakerKnown("user-service", "closed", "open", "half_open", "ramping")
	m.SetUpstreamConns(func(report func(string, int)) { report("user-service", 2) })
}

// allFamilies is every family NewMetrics registers; exercise makes each
// appear in a scrape.
var allFamilies = []string{
	"gatelab_requests_total",
	"gatelab_request_duration_seconds",
	"gatelab_upstream_duration_seconds",
	"gatelab_gateway_overhead_seconds",
	"gatelab_upstream_connect_seconds",
	"gatelab_upstream_dial_seconds",
	"gatelab_upstream_stale_connections_total",
	"gatelab_upstream_retries_total",
	"gatelab_rejections_total",
	"gatelab_ratelimit_decisions_total",
	"gatelab_ratelimit_decision_seconds",
	"gatelab_config_version",
	"gatelab_config_reloads_total",
	"gatelab_engine_info",
	"gatelab_build_info",
	"gatelab_access_log_dropped_total",
	"gatelab_access_log_written_total",
	"gatelab_in_flight_requests",
	"gatelab_open_connections",
	"gatelab_upstream_open_connections",
	"gatelab_backend_instance_healthy",
	"gatelab_backend_health_changes_total",
	"gatelab_circuit_breaker_state",
	"gatelab_circuit_breaker_transitions_total",
	"gatelab_config_propagation_seconds",
	"gatelab_config_applied_total",
}

func TestPromlint(t *testing.T) {
	m := NewMetrics()
	exercise(m)
	// Scrape once so promhttp_metric_handler_errors_total is linted too.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape status %d", rec.Code)
	}

	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range allFamilies {
		if !have[name] {
			t.Errorf("family %s missing from the registry", name)
		}
	}
	// Every family Metrics owns is in allFamilies (and so exercised and
	// linted): a new family cannot skip this test.
	listed := map[string]bool{}
	for _, name := range allFamilies {
		listed[name] = true
	}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range m.families() {
		ch := make(chan *prometheus.Desc, 4)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			sub := fqName.FindStringSubmatch(d.String())
			if sub == nil {
				t.Fatalf("no fqName in %s", d)
			}
			if !listed[sub[1]] {
				t.Errorf("family %s is not in allFamilies: exercise it and list it", sub[1])
			}
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if !have[name] {
			t.Errorf("collector family %s missing", name)
		}
	}

	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	// Negative control: the linter is wired up and does flag a bad name.
	bad := prometheus.NewRegistry()
	bad.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "gatelab_latency_ms", Help: "x"}))
	bmfs, _ := bad.Gather()
	if problems, _ := promlint.NewWithMetricFamilies(bmfs).Lint(); len(problems) == 0 {
		t.Error("promlint found nothing wrong with a counter named gatelab_latency_ms")
	}
}

func TestHandler(t *testing.T) {
	m := NewMetrics()
	exercise(m)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`gatelab_requests_total{code="200",method="GET",route="users",status_class="2xx"} 1`,
		`gatelab_upstream_duration_seconds_count{backend="user-service",route="users"} 1`,
		`gatelab_build_info{goversion="` + runtime.Version() + `",revision="unknown",version="devel"} 1`,
		`gatelab_open_connections{listener="traffic"} 0`,
		`gatelab_upstream_open_connections{backend="user-service"} 2`,
		`gatelab_engine_info{limiter="local",router="trie",server="nethttp"} 1`,
		`gatelab_rejections_total{reason="upstream_timeout",route="users"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

func TestSeparateRegistries(t *testing.T) {
	// Two gateways in one process must not collide (no global registry).
	a, b := NewMetrics(), NewMetrics()
	a.ForRoute("x", "").Reject(ReasonForbidden)
	if got := toFloat64(t, b.rejections.WithLabelValues("x", "forbidden")); got != 0 {
		t.Errorf("registries share state: %v", got)
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "gatelab_") {
			t.Errorf("%s is in the default registry", mf.GetName())
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	r := NewMetrics().ForRoute("users", "user-service")
	b.ReportAllocs()
	for b.Loop() {
		r.Observe(mGET, 200, 3*time.Millisecond, 2*time.Millisecond)
	}
}

func BenchmarkObserveParallel(b *testing.B) {
	r := NewMetrics().ForRoute("users", "user-service")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe(mGET, 200, 3*time.Millisecond, 2*time.Millisecond)
		}
	})
}

func BenchmarkReject(b *testing.B) {
	r := NewMetrics().ForRoute("users", "user-service")
	b.ReportAllocs()
	for b.Loop() {
		r.Reject(ReasonRateLimited)
	}
}
