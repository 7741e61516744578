package pipeline

import (
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/observe"
	"github.com/gatelab/gatelab/gateway/resilience"
)

// Options are a Gateway's dependencies.
type Options struct {
	RouterFactory RouterFactory
	Limiter       Limiter
	Metrics       *observe.Metrics   // required
	AccessLog     *observe.AccessLog // nil: no access log
	Instance      string             // gateway_instance in logs
	Version       string             // gateway_version in logs
	Now           func() time.Time   // nil: time.Now
}

// Gateway is the engine-neutral request pipeline shared by every server
// engine: Decide before forwarding, Record after. It holds the current
// Snapshot behind an atomic pointer; Apply swaps it.
type Gateway struct {
	routerFactory RouterFactory
	limiter       Limiter
	metrics       *observe.Metrics
	log           *observe.AccessLog
	now           func() time.Time
	instance      string
	version       string

	applyMu sync.Mutex
	closed  bool // set by Close (under applyMu): Apply refuses
	snap    atomic.Pointer[Snapshot]
	noRoute *observe.RouteMetrics
	pool    sync.Pool
	// inFlight counts Decisions acquired and not released: requests on
	// this node between their start and their answer. It is the load
	// shedding pressure signal.
	inFlight atomic.Int64
	draining atomic.Bool
	hooks    resilience.Hooks
	onApply  []func(*Snapshot) // guarded by applyMu
	// viaToken is "1.1 gatelab-<random>", this gateway's entry in the Via
	// header of requests it forwards (RFC 9110 7.6.3); seeing it on an
	// incoming request means a loop.
	viaToken      string
	probeClient   *http.Client
	inFlightGauge interface {
		Inc()
		Dec()
	}

	// Limits of the traffic listener, fixed at start (listener settings
	// cannot change under a running server).
	Limits config.Limits
}

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("gateway closed")

// ErrStaleVersion is returned by Apply for a version older than the served one.
var ErrStaleVersion = errors.New("config version older than the one being served")

// New builds a Gateway serving cfg (already validated).
func New(cfg *config.Config, opts Options) (*Gateway, error) {
	if opts.Metrics == nil {
		return nil, errors.New("pipeline: Metrics is required")
	}
	if opts.Limiter == nil {
		return nil, errors.New("pipeline: Limiter is required")
	}
	g := &Gateway{
		routerFactory: opts.RouterFactory,
		limiter:       opts.Limiter,
		metrics:       opts.Metrics,
		log:           opts.AccessLog,
		now:           opts.Now,
		instance:      opts.Instance,
		version:       opts.Version,
		Limits:        cfg.Limits,
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.noRoute = g.metrics.ForRoute(observe.UnmatchedRoute, "")
	var rnd [4]byte
	crand.Read(rnd[:])
	g.viaToken = "1.1 gatelab-" + hex.EncodeToString(rnd[:])
	m := g.metrics
	g.hooks = resilience.Hooks{
		InstanceHealth: func(backend, url string, healthy bool, _ string) { m.InstanceHealth(backend, url, healthy) },
		BreakerState:   func(backend string, s resilience.State) { m.BreakerState(backend, int(s), s.String(), true) },
	}
	// Health probes get their own client: no keep-alive pool shared with
	// traffic, per-probe timeouts from each backend's settings.
	g.probeClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute, DisableCompression: true}}
	g.inFlightGauge = g.metrics.InFlight()
	g.pool.New = func() any {
		return &Decision{keyBuf: make([]byte, 0, 128), body: make([]byte, 0, 256), hbuf: make([]byte, 0, 512)}
	}
	if err := g.Apply(cfg, cfg.Version); err != nil {
		return nil, err
	}
	return g, nil
}

// Apply compiles cfg and swaps it in atomically. Requests in flight finish on
// the snapshot they started with. A version of 0 means "next version"; a
// version lower than the served one is refused with ErrStaleVersion. On any
// error the current snapshot keeps serving.
func (g *Gateway) Apply(cfg *config.Config, version int64) error {
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	if g.closed {
		return ErrClosed
	}
	prev := g.snap.Load()
	if prev != nil {
		if version == 0 {
			version = prev.Version + 1
		} else if version < prev.Version {
			g.metrics.ConfigReloaded(false)
			return ErrStaleVersion
		}
	} else if version == 0 {
		version = 1
	}
	s, err := Build(cfg, version, BuildOptions{RouterFactory: g.routerFactory, Metrics: g.metrics, Now: g.now, Previous: prev, Hooks: g.hooks})
	if err != nil {
		g.metrics.ConfigReloaded(false)
		return err
	}
	g.snap.Store(s)
	g.metrics.ConfigReloaded(true)
	g.metrics.SetConfigVersion(version)
	// Series of routes this snapshot removed, and the upstream series of
	// the backend a route had before, stop being exported.
	keep := make([]*observe.RouteMetrics, len(s.Routes))
	for i := range s.Routes {
		keep[i] = s.Routes[i].Metrics
	}
	g.metrics.RetainRoutes(keep...)
	// The previous snapshot's background work (JWKS refresh, health probes)
	// stops; requests still running on it only read what is already loaded.
	// The new snapshot's probes start after the old ones stopped, so the
	// instances' shared health state has one prober at a time.
	if prev != nil {
		prev.close()
	}
	g.publishHealth(s)
	s.start(g.probeClient)
	for _, f := range g.onApply {
		f(s)
	}
	return nil
}

// OnApply registers f to run after every snapshot Apply swaps in (not for
// the one served when f is registered), with Apply's lock held: f must be
// quick and must not call Apply. Engines use it to let go of what a reload
// removed (the pools of instances no config names any more).
func (g *Gateway) OnApply(f func(*Snapshot)) {
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	g.onApply = append(g.onApply, f)
}

// Snapshot returns the snapshot being served.
func (g *Gateway) Snapshot() *Snapshot { return g.snap.Load() }

// Metrics returns the gateway's metrics.
func (g *Gateway) Metrics() *observe.Metrics { return g.metrics }

// Close stops background work of the served snapshot.
func (g *Gateway) Close() {
	g.applyMu.Lock()
	defer g.applyMu.Unlock()
	g.closed = true
	if s := g.snap.Load(); s != nil {
		s.close()
	}
}

// Acquire returns a Decision bound to the current snapshot, with Start set.
// The engine must Release it when the request is done.
func (g *Gateway) Acquire(start time.Time) *Decision {
	d := g.pool.Get().(*Decision)
	d.Start = start
	d.Snap = g.snap.Load()
	d.inFlight = g.inFlight.Add(1)
	g.inFlightGauge.Inc()
	return d
}

// Release returns a Decision to the pool. Nothing of it may be used after.
func (g *Gateway) Release(d *Decision) {
	if d.acquired != nil {
		if d.endAt.IsZero() {
			d.acquired.Release(d.Target, d.ticket, d.result)
		} else {
			// The engine's end-of-response time saves a clock read.
			d.acquired.ReleaseAt(d.Target, d.ticket, d.result, d.endAt)
		}
	}
	g.inFlight.Add(-1)
	g.inFlightGauge.Dec()
	d.reset()
	g.pool.Put(d)
}

// publishHealth sets the health and breaker gauges to a new snapshot's
// state (backends and instances added by a reload start at their current
// values, not absent), and creates the backends' health-change and breaker
// transition counters at 0.
func (g *Gateway) publishHealth(s *Snapshot) {
	for name, b := range s.Backends {
		for _, in := range b.R.Instances() {
			g.metrics.InstanceKnown(name, in.URL, in.Healthy())
		}
		st := b.R.State()
		g.metrics.BreakerState(name, int(st), st.String(), false)
		g.metrics.BreakerKnown(name, breakerStates[:]...)
	}
}

// breakerStates are the names of every breaker state, whose transition
// counters exist from a backend's first config on.
var breakerStates = [...]string{resilience.Closed.String(), resilience.Open.String(),
	resilience.HalfOpen.String(), resilience.Ramping.String()}

// HealthyBackends reports how many of the served snapshot's backends have at
// least one instance in rotation, and how many backends there are.
func (g *Gateway) HealthyBackends() (healthy, total int) {
	s := g.snap.Load()
	if s == nil {
		return 0, 0
	}
	for _, b := range s.Backends {
		if b.R.Healthy() > 0 {
			healthy++
		}
	}
	return healthy, len(s.Backends)
}

// AppendVia appends the Via value to send upstream to b: the incoming value
// (if any) followed by this gateway's entry.
func (g *Gateway) AppendVia(b []byte, incoming string) []byte {
	if incoming != "" {
		b = append(b, incoming...)
		b = append(b, ", "...)
	}
	return append(b, g.viaToken...)
}

// InFlight is the number of requests on this node between Acquire and
// Release.
func (g *Gateway) InFlight() int64 { return g.inFlight.Load() }

// SetDraining marks the node as draining: responses carry Connection: close
// from now on.
func (g *Gateway) SetDraining() { g.draining.Store(true) }

// Draining reports whether SetDraining was called.
func (g *Gateway) Draining() bool { return g.draining.Load() }

// Now is the gateway clock.
func (g *Gateway) Now() time.Time { return g.now() }

// ResponseHeaders lists the headers the gateway adds to every response, for
// gateway answers and forwarded responses alike. headersAt is when the
// response headers are being written (for X-Response-Time-Ms). The returned
// slice and its strings live in d and are valid until Release.
func (g *Gateway) ResponseHeaders(d *Decision, req *Request, headersAt time.Time) []Header {
	d.nh = 0
	b := d.hbuf[:0]
	// Header values below are views into b. If an append outgrows b, earlier
	// views keep pointing at the old array, which stays alive through them.
	d.add("X-Request-ID", d.RequestID)
	start := len(b)
	b = appendMillis(b, headersAt.Sub(d.Start))
	d.add("X-Response-Time-Ms", bytesView(b[start:]))

	if d.HasLimit {
		if t := d.tier; t != nil {
			lim := d.Limit
			d.add("X-RateLimit-Limit", t.limitText)
			start = len(b)
			b = strconv.AppendInt(b, lim.Remaining, 10)
			d.add("X-RateLimit-Remaining", bytesView(b[start:]))
			start = len(b)
			reset := lim.Reset.Unix()
			b = strconv.AppendInt(b, reset, 10)
			d.add("X-RateLimit-Reset", bytesView(b[start:]))
			d.add("RateLimit-Policy", t.policyHeader)
			// RateLimit: "tier";r=<remaining>;t=<seconds until reset>
			secs := reset - headersAt.Unix()
			if secs < 0 {
				secs = 0
			}
			if d.RetryAfter > int(secs) {
				secs = int64(d.RetryAfter)
			}
			// On 429, Retry-After is never earlier than the RateLimit
			// header's t (the draft's rule): both say the same second.
			if d.Status == 429 && int(secs) > d.RetryAfter {
				d.RetryAfter = int(secs)
			}
			start = len(b)
			b = append(b, '"')
			b = append(b, t.Name...)
			b = append(b, `";r=`...)
			b = strconv.AppendInt(b, lim.Remaining, 10)
			b = append(b, ";t="...)
			b = strconv.AppendInt(b, secs, 10)
			d.add("RateLimit", bytesView(b[start:]))
		}
	}
	if d.RetryAfter > 0 {
		start = len(b)
		b = strconv.AppendInt(b, int64(d.RetryAfter), 10)
		d.add("Retry-After", bytesView(b[start:]))
	}
	if d.wwwAuth != "" && (d.Status == 401 || d.Status == 403) {
		d.add("WWW-Authenticate", d.wwwAuth)
	}
	if d.allow != "" {
		d.add("Allow", d.allow)
	}
	if r := d.Route; r != nil {
		if r.Deprecation != "" {
			d.add("Deprecation", r.Deprecation)
			if r.Sunset != "" {
				d.add("Sunset", r.Sunset)
			}
		}
		if c := r.CORS; c != nil && c.allows(req.Origin) {
			d.add("Access-Control-Allow-Origin", req.Origin)
			d.addTo("Vary", "Origin") // merged with the upstream's Vary
			if c.AllowCredentials {
				d.add("Access-Control-Allow-Credentials", "true")
			}
			if d.Status == 204 && req.PreflightMethod != "" {
				d.add("Access-Control-Allow-Methods", c.AllowMethods)
				d.add("Access-Control-Allow-Headers", c.AllowHeaders)
				if c.MaxAge != "" {
					d.add("Access-Control-Max-Age", c.MaxAge)
				}
			}
		}
	}
	d.hbuf = b
	if d.Snap.versionHeader != "" {
		d.add("X-Gatelab-Config-Version", d.Snap.versionHeader)
	}
	if g.draining.Load() {
		// Draining: every response asks the client to close its
		// connection, so keep-alive clients move to other nodes before the
		// listener closes.
		d.add("Connection", "close")
	}
	return d.hdrs[:d.nh]
}

func (d *Decision) add(k, v string) { d.push(Header{Key: k, Value: v}) }

// addTo adds a header whose value joins the upstream's values.
func (d *Decision) addTo(k, v string) { d.push(Header{Key: k, Value: v, Add: true}) }

func (d *Decision) push(h Header) { pushHeader(d.hdrs[:], &d.nh, h) }

// pushHeader sets dst[*n] = h and counts it, unless dst is full (the lists
// are sized for every header the pipeline sets).
func pushHeader(dst []Header, n *int, h Header) {
	if *n < len(dst) {
		dst[*n] = h
		*n++
	}
}

// Outcome is what the engine observed after answering.
type Outcome struct {
	Status        int
	Upstream      time.Duration // time spent waiting for the upstream (0 when not forwarded)
	HeadersAt     time.Time     // when response headers were written
	End           time.Time     // when the response was complete
	RequestBytes  int64
	ResponseBytes int64
	Kind          ErrorKind // what went wrong, if anything (decided by Serve)
}

// Record updates metrics and writes the access-log entry. It never blocks:
// the access log drops (and counts) when its buffer is full.
func (g *Gateway) Record(d *Decision, req *Request, o *Outcome) {
	if d.acquired != nil {
		d.result, d.endAt = backendResultOf(o.Kind, o.Status), o.End
	}
	total := o.End.Sub(d.Start)
	rm := g.noRoute
	routeID := ""
	if d.Route != nil {
		rm = d.Route.Metrics
		routeID = d.Route.ID
	}
	overhead := o.HeadersAt.Sub(d.Start) - o.Upstream
	if overhead < 0 {
		overhead = 0
	}
	if rm != nil {
		rm.Observe(uint8(req.Method), o.Status, total, o.Upstream)
		if d.Status != 0 && d.reason != 0 {
			rm.Reject(d.reason)
		}
	}
	if g.log == nil {
		return
	}
	e := observe.Entry{
		Time:               d.Start,
		RequestID:          d.RequestID,
		Method:             req.MethodText,
		Path:               req.RawPath,
		Query:              req.Query,
		Status:             o.Status,
		ClientIP:           req.ClientIP,
		UserAgent:          req.UserAgent,
		RouteID:            routeID,
		ConfigVersion:      d.Snap.Version,
		TotalLatency:       total,
		UpstreamLatency:    o.Upstream,
		RateLimitRemaining: -1,
		RateLimited:        d.Status == 429,
		RequestBytes:       o.RequestBytes,
		ResponseBytes:      o.ResponseBytes,
		ErrorType:          o.Kind.String(),
	}
	if d.HasIdentity {
		if d.Identity.PartnerID != "" {
			e.PartnerID = d.Identity.PartnerID
		} else {
			e.UserID = d.Identity.Subject
		}
	}
	if d.Route != nil && d.Route.Backend != nil {
		e.BackendService = d.Route.Backend.Name
	}
	if d.Target != nil {
		e.BackendInstance = d.Target.Host
	}
	if d.HasLimit {
		e.RateLimitRemaining = d.Limit.Remaining
	}
	if e.ErrorType == "" && d.Status >= 400 {
		e.ErrorType = d.Code
	}
	g.log.Log(&e)
}

// bytesView returns a string sharing b's memory. b must not be modified while
// the string is in use.
func bytesView(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// appendMillis appends d in milliseconds with three decimals ("1.234").
func appendMillis(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	us := int64(d / time.Microsecond)
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return b
}
