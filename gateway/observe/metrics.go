package observe

import (
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatelab/gatelab/gateway/policy"
)

// UnmatchedRoute is the route label of requests that matched no route (404,
// 405 and requests rejected before routing). Config validation should keep
// it out of the route-id namespace.
const UnmatchedRoute = "none"

// Method indexes are policy.Method values; Observe takes them as a plain
// uint8.
const (
	methodUnknown = uint8(policy.MethodUnknown)
	methodCount   = uint8(policy.MethodOptions) + 1
)

// methodLabels are the method label values by method index (policy's
// names). Unknown methods (CONNECT, TRACE, extensions) share one value,
// OTHER, so a client cannot create series by inventing methods.
var methodLabels = func() (l [methodCount]string) {
	for m := range l {
		l[m] = policy.Method(m).String()
	}
	l[methodUnknown] = "OTHER"
	return l
}()

const classCount = 5

var classLabels = [classCount]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// statusClass maps a status code to 0..4 (1xx..5xx). Codes outside 100..599
// are counted as 5xx: the gateway produced something no client can use.
func statusClass(status int) int {
	c := status/100 - 1
	if c < 0 || c >= classCount {
		return classCount - 1
	}
	return c
}

// The code label. Codes 100..599 are their own value ("418"); anything else
// is codeOther, so a misbehaving upstream cannot create series. Within a
// status class a code has an index 0..99 (status%100); codeOtherIndex is the
// slot of codeOther (always in class 5xx, as statusClass counts it).
const (
	minCode        = 100
	maxCode        = 599
	codeOther      = "other"
	codeOtherIndex = 100
	codesPerClass  = codeOtherIndex + 1
)

// codeLabels are the code label values of 100..599, rendered once so the
// request path never formats a number.
var codeLabels = func() (l [maxCode - minCode + 1]string) {
	for i := range l {
		l[i] = strconv.Itoa(minCode + i)
	}
	return l
}()

// statusCode returns the class index, the index of the code within its
// class's table and the code label value of a status.
func statusCode(status int) (class, idx int, label string) {
	if status < minCode || status > maxCode {
		return classCount - 1, codeOtherIndex, codeOther
	}
	return status/100 - 1, status % 100, codeLabels[status-minCode]
}

// Reason is why the gateway answered a request itself instead of (or after
// failing at) proxying it. It is the reason label of
// gatelab_rejections_total and, through String, a natural error_type for
// the access log.
type Reason uint8

// Reasons. The zero value is ReasonOther, a catch-all that should not appear
// in practice.
const (
	ReasonOther                Reason = iota // anything not listed below
	ReasonUnauthorized                       // 401: missing or invalid credentials
	ReasonForbidden                          // 403: valid credentials, missing scope
	ReasonRateLimited                        // 429: over the tier's limit
	ReasonNotFound                           // 404: no route matched
	ReasonMethodNotAllowed                   // 405: route matched, method did not
	ReasonBadRequest                         // 400: malformed request
	ReasonPayloadTooLarge                    // 413: body above max_body_bytes
	ReasonHeaderTooLarge                     // 431: headers above max_header_bytes
	ReasonUpstreamTimeout                    // 504: the route's timeout elapsed
	ReasonUpstreamUnavailable                // 503/502: no healthy instance, connection refused
	ReasonUpstreamError                      // 502: upstream sent an invalid response
	ReasonRateLimitUnavailable               // 503: limiter gave no decision and the route fails closed
	ReasonClientClosed                       // 499: client went away before the response
	ReasonInternal                           // 500: a gateway bug or an unexpected failure
	ReasonAuthUnavailable                    // 503: no verification key could be loaded; never accepted unchecked
	ReasonShed                               // 503: load shedding dropped a lower-priority request
	ReasonCircuitOpen                        // 503: the backend's circuit breaker is open (or ramping)
	ReasonBulkheadFull                       // 503: the backend's in-flight limit is reached
	ReasonLoopDetected                       // 508: the request already passed through this gateway (Via)
	ReasonClientTimeout                      // 408: the request body came slower than the read timeout
	reasonCount
)

var reasonNames = [reasonCount]string{
	ReasonOther:                "other",
	ReasonUnauthorized:         "unauthorized",
	ReasonForbidden:            "forbidden",
	ReasonRateLimited:          "rate_limited",
	ReasonNotFound:             "not_found",
	ReasonMethodNotAllowed:     "method_not_allowed",
	ReasonBadRequest:           "bad_request",
	ReasonPayloadTooLarge:      "payload_too_large",
	ReasonHeaderTooLarge:       "header_too_large",
	ReasonUpstreamTimeout:      "upstream_timeout",
	ReasonUpstreamUnavailable:  "upstream_unavailable",
	ReasonUpstreamError:        "upstream_error",
	ReasonRateLimitUnavailable: "ratelimit_unavailable",
	ReasonClientClosed:         "client_closed",
	ReasonInternal:             "internal",
	ReasonAuthUnavailable:      "auth_unavailable",
	ReasonShed:                 "shed",
	ReasonCircuitOpen:          "circuit_open",
	ReasonBulkheadFull:         "bulkhead_full",
	ReasonLoopDetected:         "loop_detected",
	ReasonClientTimeout:        "client_timeout",
}

// String returns the short snake_case code ("rate_limited"). Out-of-range
// values read as "other".
func (r Reason) String() string {
	if r >= reasonCount {
		return reasonNames[ReasonOther]
	}
	return reasonNames[r]
}

// LimitResult is the outcome of one rate-limit check.
type LimitResult uint8

// Limit results, the result label of gatelab_ratelimit_decisions_total.
const (
	LimitAllowed    LimitResult = iota // counted and admitted
	LimitLimited                       // over the limit, rejected with 429
	LimitNoDecision                    // the limiter failed (pipeline.ErrNoDecision); the fail mode decided
	limitResultCount
)

var limitResultNames = [limitResultCount]string{"allowed", "limited", "no_decision"}

// String returns the label value.
func (r LimitResult) String() string {
	if r >= limitResultCount {
		return limitResultNames[LimitNoDecision]
	}
	return limitResultNames[r]
}

// Histogram buckets, in seconds. Request and upstream durations span a
// sub-millisecond local backend up to the 10 s default route timeout; the
// gateway's own overhead is usually microseconds, so its buckets start lower.
var (
	latencyBuckets = []float64{
		0.0001, 0.00025, 0.0005,
		0.001, 0.0025, 0.005,
		0.01, 0.025, 0.05,
		0.1, 0.25, 0.5,
		1, 2.5, 5, 10,
	}
	overheadBuckets = []float64{
		0.00001, 0.000025, 0.00005,
		0.0001, 0.00025, 0.0005,
		0.001, 0.0025, 0.005,
		0.01, 0.025, 0.05,
		0.1, 0.25, 1, 10,
	}
)

// Metrics owns the gateway's Prometheus registry and every gatelab_* family.
// Create one per process with NewMetrics; it is safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	upstream   *prometheus.HistogramVec
	overhead   *prometheus.HistogramVec
	connect    *prometheus.HistogramVec
	dial       *prometheus.HistogramVec
	stale      *prometheus.CounterVec
	retries    *prometheus.CounterVec
	rejections *prometheus.CounterVec
	rlDecision *prometheus.CounterVec
	rlLatency  *prometheus.HistogramVec
	// limiterEngine labels the rate-limit series; set by SetEngines.
	limiterEngine string

	configVersion prometheus.Gauge
	configReloads *prometheus.CounterVec
	engineInfo    *prometheus.GaugeVec
	buildInfo     *prometheus.GaugeVec

	// openConns is gatelab_open_connections{listener="traffic"}, kept by
	// the listener CountTrafficConns returns.
	openConns prometheus.Gauge
	// upstreamConns is gatelab_upstream_open_connections, read from the
	// server engine's pools at scrape time.
	upstreamConns *upstreamConnsCollector

	logDropped prometheus.Counter
	logWritten prometheus.Counter
	inFlight   prometheus.Gauge

	instanceHealthy *prometheus.GaugeVec
	healthChanges   *prometheus.CounterVec
	breakerState    *prometheus.GaugeVec
	breakerChanges  *prometheus.CounterVec
	propagation     *prometheus.HistogramVec
	configApplied   *prometheus.CounterVec

	mu sync.Mutex
	// handles are the route handles given out and not retired, by route
	// and backend, so RetainRoutes can delete the upstream series of a
	// backend a route no longer uses.
	handles map[routeBackend]*RouteMetrics
	tiers   map[string]*TierMetrics
}

type routeBackend struct{ route, backend string }

// NewMetrics creates the gateway's own registry (never the global default
// one, so several gateways can live in one test binary), registers the
// gatelab_* families plus the Go runtime and process collectors, and builds
// the scrape handler.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg:     prometheus.NewRegistry(),
		handles: make(map[routeBackend]*RouteMetrics),
		tiers:   make(map[string]*TierMetrics),
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatelab_requests_total",
		Help: "Requests answered by the gateway, by route id (\"none\" when no route matched), method, status class and status code (100..599, \"other\" for anything else).",
	}, []string{"route", "method", "status_class", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatelab_request_duration_seconds",
		Help:    "Time from reading the request to finishing the response, by route.",
		Buckets: latencyBuckets,
	}, []string{"route"})
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatelab_upstream_duration_seconds",
		Help:    "Time spent waiting on the upstream (request sent to response finished), by route and backend; requests that never reached an upstream are not observed.",
		Buckets: latencyBuckets,
	}, []string{"route", "backend"})
	m.overhead = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatelab_gateway_overhead_seconds",
		Help:    "Request duration minus upstream duration: the time the gateway itself added, by route.",
		Buckets: overheadBuckets,
	}, []string{"route"})
	m.connect = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatelab_upstream_connect_seconds",
		Help:    "Time a forwarded request spent getting an upstream connection (a pooled one, waiting at max_conns_per_backend, closing ones the upstream had closed, dialing), by route and backend; part of gatelab_upstream_duration_seconds.",
		Buckets: overheadBuckets,
	}, []string{"route", "backend"})
	m.dial = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatelab_upstream_dial_seconds",
		Help:    "Time to open a new upstream connection (TCP, and TLS for https), by route and backend; observed only for requests that dialed.",
		Buckets: overheadBuckets,
	}, []string{"route", "backend"})
	m.stale = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatelab_upstream_stale_connections_total",
		Help: "Pooled upstream connections found closed by the upstream (its keep-alive timeout or request cap) and discarded before a request was written to them, by route and backend.",
	}, []string{"route", "backend"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatelab_upstream_retries_total",
		Help: "Requests sent again on a fresh upstream connection after a reused one failed before any response byte (bodiless requests not written at all, or safe methods), by route and backend.",
	}, []string{"route", "backend"})
	m.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatelab_rejections_total",
		Help: "Requests the gateway answered with an error of its own, by route and reason code.",
	}, []string{"route", "reason"})
	m.rlDecision = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatelab_ratelimit_decisions_total",
		Help: "Rate-limit checks by limiter engine, tier and result (allowed, limited, no_decision).",
	}, []string{"engine", "tier", "result"})
	m.rlLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatelab_ratelimit_decision_seconds",
		Help:    "Time the limiter engine took for one decision (including failed ones).",
		Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
	}, []string{"engine"})
	m.configVersion = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatelab_config_version",
		Help: "Version of the config snapshot currently serving traffic.",
	})
	m.configReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatelab_config_reloads_total",
		Help: "Config reload attempts by result (success, failure).",
	}, []string{"result"})
	m.engineInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatelab_engine_info",
		Help: "Engines this gateway runs; always 1, the labels carry the information.",
	}, []string{"server", "router", "limiter"})
	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatelab_build_info",
		Help: "Build of the running binary; always 1, the labels carry the information (module version, VCS revision, Go toolchain).",
	}, []string{"version", "revision", "goversion"})
	m.openConns = prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "gatelab_open_connections",
		Help:        "Client connections currently open on the listener (accepted and not yet closed, whoever closes them).",
		ConstLabels: prometheus.Labels{"listener": "traffic"},
	})
	m.upstreamConns = &upstreamConnsCollector{desc: prometheus.NewDesc("gatelab_upstream_open_connections",
		"Connections currently open from the upstream pools to the instances of each backend of the served config (idle and in use, not counting dials in progress).",
		[]string{"backend"}, nil)}
	m.logDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatelab_access_log_dropped_total",
		Help: "Access-log lines dropped because the queue was full or the output failed.",
	})
	m.logWritten = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatelab_access_log_written_total",
		Help: "Access-log lines written to the output.",
	})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatelab_in_flight_requests",
		Help: "Requests currently being handled by the gateway.",
	})

	m.instanceHealthy = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatelab_backend_instance_healthy",
		Help: "1 when the backend instance is in rotation (active and passive health), 0 when it is out.",
	}, []string{"backend", "instance"})
	m.healthChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatelab_backend_health_changes_total",
		Help: "Instances leaving (to=out) or rejoining (to=in) the rotation, by backend.",
	}, []string{"backend", "to"})
	m.breakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatelab_circuit_breaker_state",
		Help: "Circuit breaker state per backend: 0 closed, 1 open, 2 half_open, 3 ramping.",
	}, []string{"backend"})
	m.breakerChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatelab_circuit_breaker_transitions_total",
		Help: "Circuit breaker transitions by backend and new state.",
	}, []string{"backend", "state"})
	m.propagation = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatelab_config_propagation_seconds",
		Help:    "Time from a config change being accepted by its source (published to etcd, saved file, admin PUT) to this node serving it, by source.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"source"})
	m.configApplied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatelab_config_applied_total",
		Help: "Config snapshots applied by the control plane, by source (file, admin, etcd, startup). Refusals are in the audit log and gatelab_config_reloads_total.",
	}, []string{"source"})

	m.reg.MustRegister(append(m.families(),
		// go_sched_latencies_seconds: how long runnable goroutines
		// waited for a CPU, the queueing a request meets inside the
		// process (before decide, and when its upstream answer is in) when
		// the gateway is short of CPU.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/latencies:seconds$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)...)
	// Both results exist from the start so rate() sees the first failure.
	m.configReloads.WithLabelValues("success")
	m.configReloads.WithLabelValues("failure")
	// The series exists in every process; the binary replaces the values
	// with its own (SetBuildInfo).
	m.SetBuildInfo("", "", runtime.Version())

	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failing collector must not blank the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
		// Exposes promhttp_metric_handler_errors_total.
		Registry: m.reg,
	})
	return m
}

// families are the collectors of every gatelab_* family Metrics owns.
func (m *Metrics) families() []prometheus.Collector {
	return []prometheus.Collector{
		m.requests, m.duration, m.upstream, m.overhead, m.connect, m.dial, m.stale, m.retries, m.rejections, m.rlDecision, m.rlLatency,
		m.configVersion, m.configReloads, m.engineInfo, m.buildInfo,
		m.logDropped, m.logWritten, m.inFlight, m.openConns, m.upstreamConns,
		m.instanceHealthy, m.healthChanges, m.breakerState, m.breakerChanges, m.propagation, m.configApplied,
	}
}

// Registry returns the gateway's registry, for tests and for registering
// extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text (or negotiated) format;
// mount it on the admin listener.
func (m *Metrics) Handler() http.Handler { return m.handler }

// SetEngines records the running engines in gatelab_engine_info, replacing
// any earlier value.
func (m *Metrics) SetEngines(server, router, limiter string) {
	m.engineInfo.Reset()
	m.engineInfo.WithLabelValues(server, router, limiter).Set(1)
	m.mu.Lock()
	m.limiterEngine = limiter
	m.mu.Unlock()
}

// SetBuildInfo records the binary's build in gatelab_build_info, replacing
// any earlier value: version is the module version, revision the VCS
// revision, goVersion the toolchain. Go's "(devel)" and "(unknown)" read
// "devel" and "unknown"; an empty version reads "devel", an empty revision
// or toolchain "unknown".
func (m *Metrics) SetBuildInfo(version, revision, goVersion string) {
	clean := func(v, empty string) string {
		if v = strings.Trim(v, "()"); v == "" {
			return empty
		}
		return v
	}
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(clean(version, "devel"), clean(revision, "unknown"), clean(goVersion, "unknown")).Set(1)
}

// SetConfigVersion records the version of the snapshot now serving traffic.
func (m *Metrics) SetConfigVersion(v int64) { m.configVersion.Set(float64(v)) }

// ConfigReloaded counts one reload attempt.
func (m *Metrics) ConfigReloaded(ok bool) {
	if ok {
		m.configReloads.WithLabelValues("success").Inc()
	} else {
		m.configReloads.WithLabelValues("failure").Inc()
	}
}

// InstanceHealth records an instance entering (healthy) or leaving the
// rotation.
func (m *Metrics) InstanceHealth(backend, instance string, healthy bool) {
	m.InstanceKnown(backend, instance, healthy)
	to := "out"
	if healthy {
		to = "in"
	}
	m.healthChanges.WithLabelValues(backend, to).Inc()
}

// InstanceKnown publishes an instance's current health without counting a
// change (at config load). Both gatelab_backend_health_changes_total series
// of the backend (to="in", to="out") exist from then on, at 0 until the
// first change, so rate() and increase() see it.
func (m *Metrics) InstanceKnown(backend, instance string, healthy bool) {
	v := 0.0
	if healthy {
		v = 1
	}
	m.instanceHealthy.WithLabelValues(backend, instance).Set(v)
	m.healthChanges.WithLabelValues(backend, "in")
	m.healthChanges.WithLabelValues(backend, "out")
}

// BreakerState records a breaker transition; code is the numeric state
// (0 closed, 1 open, 2 half_open, 3 ramping) and name its label.
func (m *Metrics) BreakerState(backend string, code int, name string, transition bool) {
	m.breakerState.WithLabelValues(backend).Set(float64(code))
	if transition {
		m.breakerChanges.WithLabelValues(backend, name).Inc()
	}
}

// BreakerKnown creates a backend's gatelab_circuit_breaker_transitions_total
// series for each state name, at 0, so an alert on rate() or increase()
// sees the first transition (call it at config load with every state).
func (m *Metrics) BreakerKnown(backend string, states ...string) {
	for _, st := range states {
		m.breakerChanges.WithLabelValues(backend, st)
	}
}

// ConfigApplied counts one snapshot applied from source; propagation is the
// time from the source accepting the change to this node serving it
// (negative when unknown: not observed).
func (m *Metrics) ConfigApplied(source string, propagation time.Duration) {
	m.configApplied.WithLabelValues(source).Inc()
	if propagation >= 0 {
		m.propagation.WithLabelValues(source).Observe(propagation.Seconds())
	}
}

// InFlight is the gatelab_in_flight_requests gauge: Inc when a request
// starts, Dec when its response is done.
func (m *Metrics) InFlight() prometheus.Gauge { return m.inFlight }

// AccessLogDropped and AccessLogWritten are the access log's counters, to
// pass in AccessLogOptions.
func (m *Metrics) AccessLogDropped() prometheus.Counter { return m.logDropped }

// AccessLogWritten: see AccessLogDropped.
func (m *Metrics) AccessLogWritten() prometheus.Counter { return m.logWritten }

// ForRoute returns the metrics handle of a route id whose requests go to
// backend ("" for a route the gateway answers itself, and for
// UnmatchedRoute), creating it on first use. Later calls with the same id
// and backend return the same handle, so snapshots built by successive
// reloads share it; a reload that gives the route another backend gets a
// new handle, whose upstream series carry the new backend label (the
// route's request and rejection counters continue where they were: they
// have no backend label). Safe for concurrent use, but it takes a lock: call
// it when a snapshot is built, keep the handle next to the route, and use
// only the handle per request.
func (m *Metrics) ForRoute(id, backend string) *RouteMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := routeBackend{id, backend}
	r := m.handles[k]
	if r == nil {
		r = &RouteMetrics{m: m, id: id, backend: backend}
		m.handles[k] = r
	}
	return r
}

// ForTier returns the rate-limit counters of a tier, creating them on first
// use (eagerly: three series per tier). Call it at snapshot build.
func (m *Metrics) ForTier(name string) *TierMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tiers[name]
	if t == nil {
		t = &TierMetrics{}
		for i := range t.c {
			t.c[i] = m.rlDecision.WithLabelValues(m.engineLabel(), name, limitResultNames[i])
		}
		t.lat = m.rlLatency.WithLabelValues(m.engineLabel())
		m.tiers[name] = t
	}
	return t
}

// RetainRoutes keeps the handles in keep (those of the snapshot now
// serving; nil handles are ignored) and the UnmatchedRoute ones, and
// deletes the rest: every series of a route id no handle in keep has (a
// route removed by a reload), and the upstream series of a route and
// backend pair not in keep (a route whose backend a reload changed). So a
// route exports one backend at a time and removed routes stop being
// exported. Handles still held by requests of the old snapshot keep working,
// but what they count afterwards is no longer exported. Call it after the
// new snapshot is swapped in.
func (m *Metrics) RetainRoutes(keep ...*RouteMetrics) {
	m.mu.Lock()
	defer m.mu.Unlock()
	wantID := make(map[string]bool, len(keep)+1)
	wantPair := make(map[routeBackend]bool, len(keep))
	for _, r := range keep {
		if r != nil {
			wantID[r.id] = true
			wantPair[routeBackend{r.id, r.backend}] = true
		}
	}
	wantID[UnmatchedRoute] = true
	for k := range m.handles {
		switch {
		case !wantID[k.route]:
			delete(m.handles, k)
			l := prometheus.Labels{"route": k.route}
			m.requests.DeletePartialMatch(l)
			m.rejections.DeletePartialMatch(l)
			m.duration.DeletePartialMatch(l)
			m.overhead.DeletePartialMatch(l)
			m.deleteUpstream(l)
		case k.route != UnmatchedRoute && !wantPair[k]:
			delete(m.handles, k)
			m.deleteUpstream(prometheus.Labels{"route": k.route, "backend": k.backend})
		}
	}
}

// deleteUpstream deletes the upstream families' series matching l.
func (m *Metrics) deleteUpstream(l prometheus.Labels) {
	m.upstream.DeletePartialMatch(l)
	m.connect.DeletePartialMatch(l)
	m.dial.DeletePartialMatch(l)
	m.stale.DeletePartialMatch(l)
	m.retries.DeletePartialMatch(l)
}

// RouteMetrics holds the metric children of one route and its backend. They
// are resolved from their vectors on first use and cached in atomic
// pointers, so a route that exists in the config but never sees a given
// method, status code or rejection reason exports no series for it (with
// thousands of routes in a router benchmark, eager resolution would export
// hundreds of thousands of zero series), and a route that never reaches an
// upstream (the gateway's own answers, UnmatchedRoute) exports no upstream
// series. The first use of a combination allocates once; every later call
// is allocation-free.
//
// A nil *RouteMetrics is valid: its methods do nothing.
type RouteMetrics struct {
	m       *Metrics
	id      string
	backend string

	hist atomic.Pointer[routeHistograms]
	up   atomic.Pointer[upstreamMetrics]
	// requests holds, per method and status class, the table of that
	// class's codes (allocated on the combination's first use, 101 slots:
	// 808 bytes), so an idle combination costs one pointer.
	requests [methodCount][classCount]atomic.Pointer[codeCounters]
	rejects  [reasonCount]atomic.Pointer[counterRef]
}

type counterRef struct{ c prometheus.Counter }

// codeCounters are the request counters of one method and status class by
// code index (see statusCode).
type codeCounters [codesPerClass]atomic.Pointer[counterRef]

type routeHistograms struct {
	total, overhead prometheus.Observer
}

// upstreamMetrics are the children labelled with the route's backend.
type upstreamMetrics struct {
	upstream, connect, dial prometheus.Observer
	stale, retries          prometheus.Counter
}

// ID returns the route label value.
func (r *RouteMetrics) ID() string { return r.id }

// Backend returns the backend label value of the upstream series.
func (r *RouteMetrics) Backend() string { return r.backend }

// Observe records one finished request: method is a pipeline.Method value
// (0 unknown, 1 GET .. 7 OPTIONS; larger values count as unknown), status the
// status code sent, total the whole time in the gateway, and upstream the
// time spent on the upstream exchange. upstream <= 0 means no upstream was
// called (a rejection or the gateway's own answer): the upstream histogram is
// not observed and the whole total counts as overhead. Call it once per
// request, rejected or not.
func (r *RouteMetrics) Observe(method uint8, status int, total, upstream time.Duration) {
	if r == nil {
		return
	}
	if method >= methodCount {
		method = methodUnknown
	}
	class, idx, label := statusCode(status)
	codes := r.requests[method][class].Load()
	if codes == nil {
		codes = r.resolveCodes(method, class)
	}
	ref := codes[idx].Load()
	if ref == nil {
		ref = r.resolveRequests(codes, method, class, idx, label)
	}
	ref.c.Inc()

	h := r.hist.Load()
	if h == nil {
		h = r.resolveHistograms()
	}
	if total < 0 {
		total = 0
	}
	h.total.Observe(total.Seconds())
	overhead := total
	if upstream > 0 {
		u := r.up.Load()
		if u == nil {
			u = r.resolveUpstream()
		}
		u.upstream.Observe(upstream.Seconds())
		overhead -= upstream
		if overhead < 0 {
			overhead = 0
		}
	}
	h.overhead.Observe(overhead.Seconds())
}

// ObserveConn records what getting the upstream connection cost one
// forwarded request: connect is the whole time (observed always), dial the
// part spent dialing (observed when dialed), stale the pooled connections
// found closed by the upstream, retried whether the request was sent again
// on a fresh connection.
func (r *RouteMetrics) ObserveConn(connect, dial time.Duration, dialed bool, stale int, retried bool) {
	if r == nil {
		return
	}
	u := r.up.Load()
	if u == nil {
		u = r.resolveUpstream()
	}
	u.connect.Observe(connect.Seconds())
	if dialed {
		u.dial.Observe(dial.Seconds())
	}
	if stale > 0 {
		u.stale.Add(float64(stale))
	}
	if retried {
		u.retries.Inc()
	}
}

// Reject counts one request the gateway refused or failed, in addition to
// its Observe.
func (r *RouteMetrics) Reject(reason Reason) {
	if r == nil {
		return
	}
	if reason >= reasonCount {
		reason = ReasonOther
	}
	ref := r.rejects[reason].Load()
	if ref == nil {
		ref = r.resolveReject(reason)
	}
	ref.c.Inc()
}

// The resolve functions are the cold paths. Two goroutines racing here get
// the same child from the vector, so whichever Store wins is equivalent; a
// code table is stored only if none is there yet, so no resolved counter is
// lost with a losing table.

func (r *RouteMetrics) resolveCodes(method uint8, class int) *codeCounters {
	slot := &r.requests[method][class]
	slot.CompareAndSwap(nil, new(codeCounters))
	return slot.Load()
}

func (r *RouteMetrics) resolveRequests(codes *codeCounters, method uint8, class, idx int, label string) *counterRef {
	ref := &counterRef{c: r.m.requests.WithLabelValues(r.id, methodLabels[method], classLabels[class], label)}
	codes[idx].Store(ref)
	return ref
}

func (r *RouteMetrics) resolveHistograms() *routeHistograms {
	h := &routeHistograms{
		total:    r.m.duration.WithLabelValues(r.id),
		overhead: r.m.overhead.WithLabelValues(r.id),
	}
	r.hist.Store(h)
	return h
}

// resolveUpstream resolves every upstream child at once: a route that
// forwards exports its stale and retry counters from the first request on,
// at 0 until something happens.
func (r *RouteMetrics) resolveUpstream() *upstreamMetrics {
	u := &upstreamMetrics{
		upstream: r.m.upstream.WithLabelValues(r.id, r.backend),
		connect:  r.m.connect.WithLabelValues(r.id, r.backend),
		dial:     r.m.dial.WithLabelValues(r.id, r.backend),
		stale:    r.m.stale.WithLabelValues(r.id, r.backend),
		retries:  r.m.retries.WithLabelValues(r.id, r.backend),
	}
	r.up.Store(u)
	return u
}

func (r *RouteMetrics) resolveReject(reason Reason) *counterRef {
	ref := &counterRef{c: r.m.rejections.WithLabelValues(r.id, reasonNames[reason])}
	r.rejects[reason].Store(ref)
	return ref
}

// TierMetrics holds one rate-limit tier's decision counters. A nil
// *TierMetrics is valid: Record does nothing.
type TierMetrics struct {
	c   [limitResultCount]prometheus.Counter
	lat prometheus.Observer
}

// engineLabel is the limiter engine name for labels; m.mu must be held.
func (m *Metrics) engineLabel() string {
	if m.limiterEngine == "" {
		return "unknown"
	}
	return m.limiterEngine
}

// ObserveLatency records how long one limiter call took. Allocation-free.
func (t *TierMetrics) ObserveLatency(d time.Duration) {
	if t == nil || t.lat == nil {
		return
	}
	t.lat.Observe(d.Seconds())
}

// Record counts one rate-limit check. Allocation-free.
func (t *TierMetrics) Record(result LimitResult) {
	if t == nil {
		return
	}
	if result >= limitResultCount {
		result = LimitNoDecision
	}
	t.c[result].Inc()
}
