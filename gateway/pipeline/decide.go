package pipeline

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/auth"
	"github.com/gatelab/gatelab/gateway/observe"
	"github.com/gatelab/gatelab/gateway/resilience"
)

// Request is the read-only view of an incoming request that decide needs.
// Server engines fill it from their native request without copying: every
// string may point into the engine's buffers and is valid only until the
// engine's handler returns. Header fields hold the first value of the header
// ("" when absent).
type Request struct {
	Method        Method
	MethodText    string // as received, for logs
	RawPath       string // request-target path as received, before '?' (SplitTarget)
	Query         string // raw query without '?'
	Host          string
	ClientIP      string
	ContentLength int64 // -1 when unknown (chunked)
	Authorization string
	APIKey        string
	RequestID     string
	Traceparent   string
	Via           string // first Via header value: proxies the request has passed
	Origin        string
	// PreflightMethod is Access-Control-Request-Method (CORS preflight).
	PreflightMethod string
	UserAgent       string
	// Head is the engine's verdict on the request's head as sent on the
	// wire (what its parser accepted but the gateway refuses).
	Head HeadProblem
	// Expect is the Expect header ("" when absent).
	Expect string
	// Connection holds every Connection header value, comma-joined (see
	// AddConnection): the fields it names are hop-by-hop.
	Connection string

	conn []byte // Connection's storage, reused
}

// AddConnection appends one Connection header value to Connection. Engines
// call it for every Connection field line of the request.
func (r *Request) AddConnection(v string) {
	if len(r.conn) > 0 {
		r.conn = append(r.conn, ", "...)
	}
	r.conn = append(r.conn, v...)
	r.Connection = bytesView(r.conn)
}

// Outcome codes: stable short strings used in JSON error bodies and logs.
const (
	CodeBadRequest          = "bad_request"
	CodeRequestTimeout      = "request_timeout"
	CodeNotImplemented      = "not_implemented"
	CodeVersionNotSupported = "http_version_not_supported"
	CodeExpectationFailed   = "expectation_failed"
	CodeNotFound            = "not_found"
	CodeMethodNotAllowed    = "method_not_allowed"
	CodePayloadTooLarge     = "payload_too_large"
	CodeForbidden           = "insufficient_scope"
	CodeRateLimited         = "rate_limit_exceeded"
	CodeRateLimitDown       = "rate_limiter_unavailable"
	CodeNoBackend           = "no_healthy_backend"
	CodeUpstreamTimeout     = "upstream_timeout"
	CodeUpstreamUnavailable = "upstream_unavailable"
	CodeOverloaded          = "overloaded"
	CodeCircuitOpen         = "circuit_open"
	CodeBackendBusy         = "backend_busy"
	CodeLoopDetected        = "loop_detected"
)

// Header is one header to set. With Add the value is added to any the
// upstream sent (Vary) instead of replacing them.
type Header struct {
	Key, Value string
	Add        bool
}

// Decision is the outcome of decide for one request, and the scratch space the
// pipeline needs for it. Engines get one from Gateway.Acquire and return it
// with Release; all buffers are reused so a request allocates nothing here.
type Decision struct {
	Start time.Time
	Snap  *Snapshot
	Route *Route // nil when no route matched

	// Status is 0 when the request must be forwarded to Target, otherwise the
	// status the gateway answers with (Body, Headers).
	Status int
	Code   string
	reason observe.Reason

	Target       *Instance
	UpstreamPath string // path to send upstream (prefix stripped)
	// acquired is the backend Target was acquired from (nil: none); Release
	// hands it back with result, which Record sets from the outcome.
	acquired *resilience.Backend
	ticket   resilience.Ticket
	result   resilience.Result
	endAt    time.Time // Outcome.End, set by Record

	Identity    auth.Identity
	HasIdentity bool

	Limit    LimitDecision
	HasLimit bool
	tier     *Tier // the tier Limit was decided under
	// NoDecision is true when the limiter failed and the route failed open.
	NoDecision bool
	RetryAfter int // seconds, for 429/503; 0 none

	// inFlight is the node's in-flight count when this request started,
	// itself included (the load-shedding signal).
	inFlight int64

	RequestID   string // incoming (validated) or generated
	Traceparent string // to send upstream

	// The request view (filled by the engine), the copy of its logged
	// strings, and the forwarding state: kept here so a request
	// allocates nothing in the pipeline.
	req       Request
	reqCopy   []byte
	fwd       Forward
	up        [10]Header
	nu        int
	via       []byte
	closeConn bool // close the client connection after the answer

	scratch [64]byte
	idBuf   [36]byte
	tpBuf   [55]byte
	keyBuf  []byte
	body    []byte
	hbuf    []byte
	hdrs    [16]Header
	nh      int
	allow   string
	wwwAuth string
}

func (d *Decision) reset() {
	keyBuf, body, hbuf := d.keyBuf[:0], d.body[:0], d.hbuf[:0]
	reqCopy, via, conn := d.reqCopy[:0], d.via[:0], d.req.conn[:0]
	*d = Decision{}
	d.keyBuf, d.body, d.hbuf = keyBuf, body, hbuf
	d.reqCopy, d.via, d.req.conn = reqCopy, via, conn
}

func (d *Decision) addUp(k, v string) {
	pushHeader(d.up[:], &d.nu, Header{Key: k, Value: v})
}

// Forward reports whether the request goes to an upstream.
func (d *Decision) Forward() bool { return d.Status == 0 }

// Body is the JSON body of a gateway answer ({"error","request_id"}).
func (d *Decision) Body() []byte { return d.body }

// Decide runs the engine-neutral policy for one request: request id, trace
// context, path check, route lookup, CORS preflight, body limit, authn,
// authz, rate limit, upstream selection. It never blocks except in the
// limiter (bounded by ctx) and never allocates on the forward path with a
// cached token and the local limiter.
func (g *Gateway) Decide(ctx context.Context, req *Request, d *Decision) {
	s := d.Snap

	d.setRequestID(req)
	// Trace context: continue a valid incoming trace, else start one.
	traceID, _, flags, ok := observe.ParseTraceparent(req.Traceparent)
	if !ok {
		traceID, flags = observe.NewTraceID(), 1
	}
	tp := observe.AppendTraceparent(d.tpBuf[:0], traceID, observe.NewSpanID(), flags)
	d.Traceparent = bytesView(tp)

	// A request that already passed through this gateway is a routing
	// loop (a backend pointing back at the gateway): refused at once
	// instead of proxied around until the bulkhead refuses it.
	if req.Via != "" && strings.Contains(req.Via, g.viaToken) {
		g.reject(d, 508, CodeLoopDetected, observe.ReasonLoopDetected)
		return
	}

	// A head the engine read in a shape with more than one meaning is
	// refused, and its connection closed, rather than forwarded in a shape
	// the backend may read differently. That includes a client naming a
	// framing field or Host in Connection: it asks for the message's
	// length or target to be dropped on the way.
	switch {
	case req.Head == HeadUnsupportedCoding:
		g.refuse(d, 501, CodeNotImplemented)
		return
	case req.Head == HeadBadVersion:
		g.refuse(d, 505, CodeVersionNotSupported)
		return
	case req.Head == HeadAmbiguous, req.Connection != "" && namesFraming(req.Connection):
		g.refuse(d, 400, CodeBadRequest)
		return
	case req.Expect != "" && !asciiEqualFold(req.Expect, "100-continue"):
		// An expectation the gateway cannot meet (as net/http answers).
		g.refuse(d, 417, CodeExpectationFailed)
		return
	}

	path, ok := CanonicalPath(req.RawPath)
	if !ok {
		g.reject(d, 400, CodeBadRequest, observe.ReasonBadRequest)
		return
	}
	m := s.Router.Match(req.Method, path)
	switch m.Status {
	case NotFound:
		if req.Method == MethodOptions && req.PreflightMethod != "" {
			// A preflight for a path whose route does not allow OPTIONS.
			if g.preflight(d, req, path) {
				return
			}
		}
		g.reject(d, 404, CodeNotFound, observe.ReasonNotFound)
		return
	case MethodNotAllowed:
		if req.Method == MethodOptions && req.PreflightMethod != "" && g.preflight(d, req, path) {
			return
		}
		d.allow = m.Allow.Allow()
		g.reject(d, 405, CodeMethodNotAllowed, observe.ReasonMethodNotAllowed)
		return
	}
	r := &s.Routes[m.Route]
	d.Route = r

	// Load shedding comes first after the route is known: under overload
	// the cheapest answer is the best one, so a shed request costs no token
	// verification and no limiter round trip. P0 routes have no threshold.
	if r.ShedAt > 0 && d.inFlight > r.ShedAt {
		d.RetryAfter = 1
		g.reject(d, 503, CodeOverloaded, observe.ReasonShed)
		return
	}

	if req.ContentLength > r.MaxBodyBytes {
		// The body is never read: the connection cannot be reused.
		d.closeConn = true
		g.reject(d, 413, CodePayloadTooLarge, observe.ReasonPayloadTooLarge)
		return
	}

	// Authentication. Identity headers from the client are stripped by the
	// engine whatever happens here; only a verified identity is sent.
	switch r.Auth {
	case AuthJWT:
		tok, ok := auth.BearerToken(req.Authorization)
		if !ok {
			d.wwwAuth = `Bearer realm="gatelab"`
			g.rejectAuth(d, auth.ErrMissingCredentials)
			return
		}
		id, err := s.JWT.Verify(tok)
		if err != nil {
			d.wwwAuth = `Bearer realm="gatelab", error="invalid_token"`
			g.rejectAuth(d, err)
			return
		}
		d.Identity, d.HasIdentity = id, true
	case AuthAPIKey:
		if req.APIKey == "" {
			d.wwwAuth = `APIKey realm="gatelab"`
			g.rejectAuth(d, auth.ErrMissingCredentials)
			return
		}
		id, err := s.APIKeys.Lookup(req.APIKey)
		if err != nil {
			d.wwwAuth = `APIKey realm="gatelab", error="invalid_key"`
			g.rejectAuth(d, err)
			return
		}
		d.Identity, d.HasIdentity = id, true
	}
	if len(r.RequiredScopes) > 0 && !d.Identity.HasScopes(r.RequiredScopes) {
		d.wwwAuth = `Bearer realm="gatelab", error="insufficient_scope"`
		g.reject(d, 403, CodeForbidden, observe.ReasonForbidden)
		return
	}

	// Rate limit.
	if t := g.tierFor(s, r, d); t != nil {
		if !g.limit(ctx, d, req, r, t) {
			return
		}
	}

	if r.Self {
		d.Status = 200
		d.Code = ""
		d.body = append(d.body[:0], `{"status":"ok"}`...)
		return
	}
	// Breaker admission, bulkhead and balancing: a backend that cannot take
	// the request answers 503 at once, never after a wait.
	inst, ticket, rej := r.Backend.R.Acquire()
	if rej.Rejected() {
		d.RetryAfter = ceilSeconds(rej.RetryAfter)
		switch rej.Reason {
		case resilience.CircuitOpen:
			g.reject(d, 503, CodeCircuitOpen, observe.ReasonCircuitOpen)
		case resilience.BulkheadFull:
			g.reject(d, 503, CodeBackendBusy, observe.ReasonBulkheadFull)
		default:
			g.reject(d, 503, CodeNoBackend, observe.ReasonUpstreamUnavailable)
		}
		return
	}
	d.Target, d.ticket, d.acquired, d.result = inst, ticket, r.Backend.R, resilience.Neutral
	d.UpstreamPath = stripPrefix(path, r.StripPrefix)
}

// setRequestID keeps a well-formed client request id, else generates one.
func (d *Decision) setRequestID(req *Request) {
	if req.RequestID != "" && observe.ValidRequestID(req.RequestID) {
		d.RequestID = req.RequestID
	} else {
		d.RequestID = bytesView(observe.AppendRequestID(d.idBuf[:0]))
	}
}

// tierFor picks the tier: an API key's own tier overrides the route's.
func (g *Gateway) tierFor(s *Snapshot, r *Route, d *Decision) *Tier {
	if d.HasIdentity && d.Identity.Tier != "" {
		if t := s.Tiers[d.Identity.Tier]; t != nil {
			return t
		}
	}
	return r.Tier
}

// limit consults the limiter; it returns false when the request was rejected.
func (g *Gateway) limit(ctx context.Context, d *Decision, req *Request, r *Route, t *Tier) bool {
	key := append(d.keyBuf[:0], t.keyPrefix...)
	switch t.Key {
	case KeyUserID:
		key = append(key, d.Identity.Subject...)
	case KeyAPIKey:
		key = append(key, d.Identity.KeyHash...)
	case KeyClientIP:
		key = append(key, req.ClientIP...)
	}
	d.keyBuf = key
	p := t.Policy
	p.Deadline = r.LimitDeadline
	began := g.now()
	dec, err := g.limiter.Allow(ctx, bytesView(key), p)
	t.Metrics.ObserveLatency(g.now().Sub(began))
	if err != nil {
		t.Metrics.Record(observe.LimitNoDecision)
		if r.FailClosed {
			d.RetryAfter = 1
			g.reject(d, 503, CodeRateLimitDown, observe.ReasonRateLimitUnavailable)
			return false
		}
		d.NoDecision = true
		return true
	}
	d.Limit, d.HasLimit, d.tier = dec, true, t
	if !dec.Allowed {
		t.Metrics.Record(observe.LimitLimited)
		// Never earlier than the reset the RateLimit header reports (t):
		// body, Retry-After and t all name the same second.
		d.RetryAfter = max(ceilSeconds(dec.RetryAfter), int(dec.Reset.Unix()-began.Unix()))
		g.reject(d, 429, CodeRateLimited, observe.ReasonRateLimited)
		return false
	}
	t.Metrics.Record(observe.LimitAllowed)
	return true
}

// preflight answers a CORS preflight for the route that would serve the
// preflighted method. It reports whether it answered.
func (g *Gateway) preflight(d *Decision, req *Request, path string) bool {
	s := d.Snap
	pm := ParseMethod(req.PreflightMethod)
	m := s.Router.Match(pm, path)
	if m.Status != Found {
		return false
	}
	r := &s.Routes[m.Route]
	if r.CORS == nil || !r.CORS.allows(req.Origin) {
		return false
	}
	d.Route = r
	d.Status = 204
	d.body = d.body[:0]
	return true
}

func (c *CORSPolicy) allows(origin string) bool {
	if origin == "" {
		return false
	}
	if c.AnyOrigin {
		return true
	}
	_, ok := c.Origins[origin]
	return ok
}

func (g *Gateway) rejectAuth(d *Decision, err error) {
	if errors.Is(err, auth.ErrKeyStoreUnavailable) {
		// Never accept a token we could not check: 503, not 200, not 401.
		d.wwwAuth = ""
		d.RetryAfter = 5
		g.reject(d, 503, auth.Code(err), observe.ReasonAuthUnavailable)
		return
	}
	g.reject(d, 401, auth.Code(err), observe.ReasonUnauthorized)
}

// refuse rejects a request whose head the gateway will not read a body
// after: the connection is closed after the answer.
func (g *Gateway) refuse(d *Decision, status int, code string) {
	d.closeConn = true
	g.reject(d, status, code, observe.ReasonBadRequest)
}

// reject sets a gateway answer with the JSON error body.
func (g *Gateway) reject(d *Decision, status int, code string, reason observe.Reason) {
	d.Status = status
	d.Code = code
	d.reason = reason
	b := append(d.body[:0], `{"error":"`...)
	b = append(b, code...)
	b = append(b, `","request_id":"`...)
	b = append(b, d.RequestID...)
	b = append(b, '"')
	if status == 429 {
		b = append(b, `,"retry_after":`...)
		b = strconv.AppendInt(b, int64(d.RetryAfter), 10)
	}
	b = append(b, '}')
	d.body = b
}

// backendResultOf classifies a forwarded request's outcome for the
// backend's breaker and passive health: only the backend's faults
// (ErrorKind.Blame) and its 5xx answers count against it; the client's
// faults and the gateway's own limits are nobody's verdict on it.
func backendResultOf(kind ErrorKind, status int) resilience.Result {
	switch kind.Blame() {
	case BlameBackend:
		return resilience.Failure
	case BlameClient, BlameNone:
		if kind != KindNone {
			return resilience.Neutral
		}
	}
	switch {
	case status == 501 || status == 505:
		// "Not implemented" and "version not supported" answer what the
		// client asked for, not the backend's health.
		return resilience.Neutral
	case status >= 500:
		return resilience.Failure
	}
	return resilience.Success
}

// stripPrefix removes a segment prefix; the result always starts with '/'.
func stripPrefix(path, prefix string) string {
	if prefix == "" || len(path) < len(prefix) || path[:len(prefix)] != prefix {
		return path
	}
	rest := path[len(prefix):]
	if rest == "" {
		return "/"
	}
	return rest
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// HeadProblem is a server engine's verdict on a request head as it was
// read from the wire, for what the engine's parser accepts but the gateway
// must not (so both engines answer the same bytes alike).
type HeadProblem uint8

const (
	HeadOK HeadProblem = iota
	// HeadAmbiguous: more than one reading of the message's framing or
	// target (Content-Length with Transfer-Encoding, a repeated
	// Content-Length, obs-fold, bare LF line ends, an empty Host): 400.
	HeadAmbiguous
	// HeadUnsupportedCoding: a transfer coding other than a lone chunked,
	// or Transfer-Encoding on HTTP/1.0: 501.
	HeadUnsupportedCoding
	// HeadBadVersion: an HTTP version other than 1.0 and 1.1: 505.
	HeadBadVersion
)

// namesFraming reports whether a Connection value lists Content-Length,
// Transfer-Encoding or Host.
func namesFraming(connection string) bool {
	return DropListed(connection, "content-length") || DropListed(connection, "transfer-encoding") ||
		DropListed(connection, "host")
}
