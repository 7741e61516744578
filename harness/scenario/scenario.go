package scenario

import (
	"strconv"
	"time"

	"github.com/gatelab/gatelab/harness/budget"
)

// Scenario is one scenario file: what to run, on which targets, under which
// load and faults, and the budgets that judge it. Times in Faults and Phases
// count from the start of the load (the warm-up is its first part).
type Scenario struct {
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Targets     Targets    `yaml:"targets"`
	Upstreams   []Upstream `yaml:"upstreams"`
	Routes      []Route    `yaml:"routes"`
	Tiers       []Tier     `yaml:"tiers"`
	Redis       Redis      `yaml:"redis"`
	Load        Load       `yaml:"load"`
	Phases      []Phase    `yaml:"phases"`
	Faults      []Fault    `yaml:"faults"`
	Budgets     []Budget   `yaml:"budgets"`
	// Knee, when set, makes this an adaptive scenario: the load's rate is
	// searched per target for the highest rate meeting the bound.
	Knee *Knee `yaml:"knee"`

	// File is where the scenario was read from; SHA256 is its content hash.
	File   string `yaml:"-"`
	SHA256 string `yaml:"-"`
}

// Targets selects engine combinations and peers. An empty list or "all"
// means every registered engine of that kind.
type Targets struct {
	Server  []string `yaml:"server"`
	Router  []string `yaml:"router"`
	Limiter []string `yaml:"limiter"`
	// Peers are third-party gateways run beside gatelab: nginx, haproxy.
	Peers []string `yaml:"peers"`
	// Direct is the direct-to-upstream baseline (default true); overhead
	// metrics need it.
	Direct *bool `yaml:"direct"`
	// Nodes is the number of gateway processes per gatelab target (default
	// 1); load is spread round robin over them.
	Nodes int `yaml:"nodes"`
	// AccessLog makes gateways and peers log every request to a file
	// (default true); false measures the proxy path alone.
	AccessLog *bool `yaml:"access_log"`
	// AccessLogTwins runs every gatelab target a second time with its
	// access log on (named <target>-accesslog), beside the first, so the log's
	// cost is measured in the same run: rps.ratio{target:X-accesslog, vs:X}.
	AccessLogTwins bool `yaml:"access_log_twins"`
	// Containers runs each gatelab target's nodes in Docker containers
	// (traffic published on 127.0.0.1, memberlist on a network of their
	// own) so gateway.partition can cut a node off for real. Their routes
	// must be answered by the gateway itself (upstream: self): containers
	// cannot reach the host's loopback upstreams.
	Containers bool `yaml:"containers"`
	// ConfigSource is "file" (default: each node reads its own file and
	// takes admin API changes) or "etcd": the nodes share a config in etcd
	// (started by the lab, behind a toxiproxy), the file is only their
	// bootstrap, and a change PUT to one node's admin API reaches the
	// others through etcd.
	ConfigSource string `yaml:"config_source"`
}

// WantAccessLog reports whether targets log every request.
func (t Targets) WantAccessLog() bool { return t.AccessLog == nil || *t.AccessLog }

// WantDirect reports whether the direct baseline runs.
func (t Targets) WantDirect() bool { return t.Direct == nil || *t.Direct }

// Upstream is one backend: "gatelab upstream" processes, or nginx.
type Upstream struct {
	Name string `yaml:"name"`
	// Mode is "static" (gatelab upstream -static: a cheap fixed answer,
	// the default), "echo" (gatelab upstream echoing the request), or
	// "nginx": a real nginx, one worker, answering every request
	// 200 {"ok":true} itself (harness/peers' static responder), for a
	// fast upstream with a real server's keep-alive behaviour. Without
	// nginx installed the lab falls back to the static mode with the same
	// keep-alive limits and says so in the results, unless nginx is
	// required (GATELAB_REQUIRE_NGINX=1). Delay, error rates and the
	// upstream.delay, .error and .stall faults need a gatelab upstream.
	Mode string `yaml:"mode"`
	// Delay is a latency distribution: "fixed:1ms", "uniform:1ms-3ms",
	// "normal:5ms,1ms", "lognormal:2ms,0.5" ("" = none).
	Delay       string  `yaml:"delay"`
	ErrorRate   float64 `yaml:"error_rate"`
	ErrorStatus int     `yaml:"error_status"`
	// MaxConnRequests closes a keep-alive connection after N requests
	// (0: never; mode nginx: keepalive_requests, 0 = nginx's 1000).
	MaxConnRequests int `yaml:"max_conn_requests"`
	// IdleTimeout closes a keep-alive connection idle that long (0: the
	// server's default; mode nginx: keepalive_timeout, 0 = nginx's 75s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Instances is the number of processes behind this backend (default 1).
	Instances int `yaml:"instances"`
	// Proxy puts a toxiproxy in front of every instance (for the
	// network faults upstream.latency, .reset, .cut, .bandwidth); the
	// gateways, peers and the direct baseline all go through it.
	Proxy bool `yaml:"proxy"`
}

// Route is one gateway route and the request the load sends on it.
type Route struct {
	ID string `yaml:"id"`
	// Prefix is the path prefix, ending in "/" (e.g. /api/v2/users/); the
	// gatelab pattern is Prefix + "*".
	Prefix      string `yaml:"prefix"`
	StripPrefix string `yaml:"strip_prefix"`
	Upstream    string `yaml:"upstream"`
	// Auth: jwt (default) or none (the load sends no API keys).
	Auth string `yaml:"auth"`
	// Tier is a rate-limit tier (from Tiers, or the built-in "bench" that
	// never rejects); "" = not limited.
	Tier       string `yaml:"tier"`
	FailMode   string `yaml:"fail_mode"` // open (default) | closed
	DeadlineMS int    `yaml:"deadline_ms"`
	TimeoutMS  int    `yaml:"timeout_ms"`
	Priority   string `yaml:"priority"` // P0..P3 (default the gateway's, P2)
	// Request is what the load sends: "GET /api/v2/users/me".
	Request string `yaml:"request"`
	// Weight is the route's share of the load (default 1).
	Weight int `yaml:"weight"`
	// Users is how many distinct token subjects the load rotates through
	// (default 1); each trial uses fresh subjects so counters start empty.
	Users int `yaml:"users"`
	// Breaker makes the route's backend use fast resilience settings
	// instead of the chapter's: circuit breaker min_requests 10, window 5s,
	// open_for 2s, ramp 50 % for 1 s; passive ejection for 2 s; flap
	// hold-down 3 s.
	Breaker bool `yaml:"breaker"`
	// Copies > 0 makes this route a table of Copies routes, prefixes
	// Prefix + "<i>/" (i = 0..Copies-1); the load spreads over all of them
	// and budgets see them as one route.
	Copies int `yaml:"copies"`
}

// Instances returns the route's concrete prefixes: Prefix itself, or one
// per copy.
func (r Route) Instances() []string {
	if r.Copies == 0 {
		return []string{r.Prefix}
	}
	out := make([]string, r.Copies)
	for i := range out {
		out[i] = r.Prefix + strconv.Itoa(i) + "/"
	}
	return out
}

// Tier is a rate-limit tier the scenario adds. Key (default user_id) and
// Algorithm (default sliding_window) are spelt as in the gateway config,
// gateway/policy's words, and checked with policy's parsers.
type Tier struct {
	Name      string        `yaml:"name"`
	Limit     int64         `yaml:"limit"`
	Window    time.Duration `yaml:"window"`
	Key       string        `yaml:"key"`
	Algorithm string        `yaml:"algorithm"`
}

// Redis configures the Redis the redis limiter uses; it always sits behind
// a toxiproxy so faults can be injected.
type Redis struct {
	// Latency is added both ways in normal operation (default none).
	Latency time.Duration `yaml:"latency"`
}

// Load is the traffic shape.
type Load struct {
	// Mode is "open" (default: requests on a schedule) or "closed" (a fixed
	// number of workers, each sending when its previous request returned).
	Mode     string        `yaml:"mode"`
	Warmup   time.Duration `yaml:"warmup"`
	Stages   []Stage       `yaml:"stages"`
	Workers  int           `yaml:"workers"`  // closed loop
	Duration time.Duration `yaml:"duration"` // closed loop
	Timeout  time.Duration `yaml:"timeout"`
}

// Stage is one open-model stage: Rate req/s for Duration, or a linear ramp
// from Rate to To.
type Stage struct {
	Duration time.Duration `yaml:"duration"`
	Rate     float64       `yaml:"rate"`
	To       float64       `yaml:"to"`
}

// Phase is a named window for budgets, without a fault.
type Phase struct {
	Name string        `yaml:"name"`
	At   time.Duration `yaml:"at"`
	For  time.Duration `yaml:"for"`
}

// Fault is one entry of the fault timeline. Its window [At, At+For) is a
// phase named Name (default: Kind) that budgets can select.
type Fault struct {
	Name string        `yaml:"name"`
	Kind string        `yaml:"kind"`
	At   time.Duration `yaml:"at"`
	For  time.Duration `yaml:"for"`
	// Upstream names the upstream of upstream.* faults.
	Upstream string `yaml:"upstream"`
	// Latency and Jitter for redis.latency and upstream.latency; Delay
	// (a distribution) for upstream.delay.
	Latency time.Duration `yaml:"latency"`
	Jitter  time.Duration `yaml:"jitter"`
	Delay   string        `yaml:"delay"`
	// KBps is the bandwidth of upstream.bandwidth, in KB/s.
	KBps int64 `yaml:"kbps"`
	// ErrorRate and Status for upstream.error.
	ErrorRate float64 `yaml:"error_rate"`
	Status    int     `yaml:"status"`
	// Every is the period of config.churn.
	Every time.Duration `yaml:"every"`
	// Node is the gateway node (0-based) of gateway.partition and
	// gateway.freeze.
	Node int `yaml:"node"`
}

// Budget is one budget line: an expression, optionally aborting the run
// when it fails mid-run, optionally limited to some profiles.
type Budget struct {
	Expr     string   `yaml:"expr"`
	Abort    bool     `yaml:"abort"`
	Profiles []string `yaml:"profiles"`

	Line   int         `yaml:"-"`
	Parsed budget.Expr `yaml:"-"`
}

// Knee searches the highest rate whose bound holds.
type Knee struct {
	// Bound is a budget expression that must hold at the rate, e.g.
	// "overhead.p99 < 2ms".
	Bound string `yaml:"bound"`
	// From, To: the search range in req/s; Steps bounds the trials.
	From  float64       `yaml:"from"`
	To    float64       `yaml:"to"`
	Steps int           `yaml:"steps"`
	Trial time.Duration `yaml:"trial"`

	Parsed budget.Expr `yaml:"-"`
}

// Window is a named time window of the run.
type Window struct {
	Name     string
	From, To time.Duration
}

// Windows returns the named windows (phases and faults), in file order.
func (s *Scenario) Windows() []Window {
	var w []Window
	for _, p := range s.Phases {
		w = append(w, Window{p.Name, p.At, p.At + p.For})
	}
	for _, f := range s.Faults {
		w = append(w, Window{f.PhaseName(), f.At, f.At + f.For})
	}
	return w
}

// PhaseName is the fault's phase name.
func (f Fault) PhaseName() string {
	if f.Name != "" {
		return f.Name
	}
	return f.Kind
}

// TotalDuration is the load's length: warm-up included for the open model.
func (l Load) TotalDuration() time.Duration {
	if l.Mode == ModeClosed {
		return l.Warmup + l.Duration
	}
	var d time.Duration
	for _, s := range l.Stages {
		d += s.Duration
	}
	return d
}

// Load modes.
const (
	ModeOpen   = "open"
	ModeClosed = "closed"
)

// Fault kinds.
const (
	FaultRedisLatency      = "redis.latency"      // toxiproxy latency (+ jitter) on Redis
	FaultRedisDown         = "redis.down"         // toxiproxy refuses and cuts every Redis connection
	FaultRedisFreeze       = "redis.freeze"       // SIGSTOP of the Redis server: connections hang
	FaultRedisKill         = "redis.kill"         // Redis killed, restarted at the end
	FaultEtcdLatency       = "etcd.latency"       // toxiproxy latency (+ jitter) on etcd
	FaultEtcdDown          = "etcd.down"          // toxiproxy refuses and cuts every etcd connection
	FaultUpstreamDelay     = "upstream.delay"     // the upstream answers after a delay distribution
	FaultUpstreamError     = "upstream.error"     // the upstream answers Status at ErrorRate
	FaultUpstreamStall     = "upstream.stall"     // every request waits until the fault ends
	FaultUpstreamKill      = "upstream.kill"      // every instance killed, restarted at the end
	FaultUpstreamFreeze    = "upstream.freeze"    // SIGSTOP of every instance
	FaultUpstreamLatency   = "upstream.latency"   // network latency (+ jitter) through the upstream's toxiproxy
	FaultUpstreamReset     = "upstream.reset"     // every connection reset (RST) as data arrives
	FaultUpstreamCut       = "upstream.cut"       // connections refused and cut at the proxy
	FaultUpstreamBandwidth = "upstream.bandwidth" // answers limited to KBps
	FaultConfigChurn       = "config.churn"       // a new config every Every through the admin API
	FaultGatewayFreeze     = "gateway.freeze"     // SIGSTOP of gateway node Node
	FaultGatewayPartition  = "gateway.partition"  // node Node cut off from the other nodes' gossip (containers)
)

// FaultKinds lists every fault kind.
var FaultKinds = []string{
	FaultRedisLatency, FaultRedisDown, FaultRedisFreeze, FaultRedisKill, FaultEtcdLatency, FaultEtcdDown,
	FaultUpstreamDelay, FaultUpstreamError, FaultUpstreamStall, FaultUpstreamKill, FaultUpstreamFreeze,
	FaultUpstreamLatency, FaultUpstreamReset, FaultUpstreamCut, FaultUpstreamBandwidth,
	FaultConfigChurn, FaultGatewayFreeze, FaultGatewayPartition,
}

// Upstream modes.
const (
	UpstreamStatic = "static"
	UpstreamEcho   = "echo"
	UpstreamNginx  = "nginx"
)

// UpstreamModes lists the upstream modes.
var UpstreamModes = []string{UpstreamStatic, UpstreamEcho, UpstreamNginx}

// SelfUpstream is the route upstream answered by the gateway itself.
const SelfUpstream = "self"
