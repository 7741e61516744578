package pipeline

import (
	"context"
	"time"

	"github.com/gatelab/gatelab/gateway/observe"
)

// Exchange is a server engine's handle on one request. The engine does the
// I/O and nothing else; Gateway.Serve decides what happens and calls the
// methods below, each at most once, in this order: ReadRequest, then Answer
// or Forward (and Answer again when Forward fails before a response head was
// written).
//
// Every string and slice the pipeline passes in is valid only during the
// call. An Exchange must be heap memory the engine reuses (a pooled object):
// Serve holds it only until it returns.
type Exchange interface {
	// ReadRequest fills the request view from the engine's native request.
	// Strings may point into the engine's buffers. scratch is 64 bytes for
	// a request-scoped string (the client IP text).
	ReadRequest(req *Request, scratch *[64]byte)
	// Answer writes a response the gateway generated. The body (JSON, may
	// be empty) is not written for HEAD. With Close the connection is
	// closed after the response.
	Answer(status int, headers []Header, body []byte, close bool)
	// Forward sends the request upstream as f describes, writes the
	// upstream's response head with f.ResponseHeaders added and its body,
	// and reports what happened. When it returns with Status 0 nothing was
	// written to the client.
	Forward(f *Forward) Forwarded
}

// Forward is what an engine needs to send one request upstream. It lives in
// the Decision; its methods allocate nothing.
type Forward struct {
	g   *Gateway
	d   *Decision
	req *Request

	Target *Instance
	Path   string // path to send (canonical, prefix stripped)
	Query  string // raw query without '?', "" for none
	// Deadline bounds the round trip up to the response head (the route
	// timeout from the request's start).
	Deadline time.Time
	// Body wraps the client's body; engines read the body only through it.
	Body ClientBody
}

// KeepHeader reports whether an incoming request header goes upstream. It
// is false for every header DropInbound names, those the request's
// Connection header lists, and the snapshot's gateway.strip_inbound_headers.
// Expect is never forwarded either: the gateway answers it itself.
func (f *Forward) KeepHeader(name string) bool {
	if DropInbound(name) || foldEq(name, "expect") {
		return false
	}
	if c := f.req.Connection; c != "" && DropListed(c, name) {
		return false
	}
	return !f.d.Snap.stripsHeader(name)
}

// UpstreamHeaders lists the headers the gateway sets on the upstream request
// (after dropping those KeepHeader refuses): X-Request-ID, traceparent,
// X-Forwarded-For/-Proto/-Host, Via and the verified identity.
func (f *Forward) UpstreamHeaders() []Header {
	d, req := f.d, f.req
	d.nu = 0
	d.addUp(HeaderRequestID, d.RequestID)
	d.addUp(HeaderTraceparent, d.Traceparent)
	d.addUp(HeaderXFF, req.ClientIP)
	d.addUp(HeaderXFProto, d.Snap.ForwardedProto)
	d.via = f.g.AppendVia(d.via[:0], req.Via)
	d.addUp(HeaderVia, bytesView(d.via))
	if req.Host != "" {
		d.addUp(HeaderXFHost, req.Host)
	}
	if d.HasIdentity {
		id := &d.Identity
		if id.PartnerID != "" {
			d.addUp(HeaderPartnerID, id.PartnerID)
		} else if id.Subject != "" {
			d.addUp(HeaderUserID, id.Subject)
		}
		if id.ScopesHeader != "" {
			d.addUp(HeaderUserScopes, id.ScopesHeader)
		}
	}
	return d.up[:d.nu]
}

// KeepResponseHeader reports whether an upstream response header goes to
// the client: hop-by-hop headers and those the response's Connection header
// (connection) lists do not.
func (f *Forward) KeepResponseHeader(name, connection string) bool {
	return !DropOutbound(name) && (connection == "" || !DropListed(connection, name))
}

// ResponseHeaders are the gateway's headers for the forwarded response (see
// Gateway.ResponseHeaders); at is when the head is being written.
func (f *Forward) ResponseHeaders(at time.Time) []Header {
	return f.g.ResponseHeaders(f.d, f.req, at)
}

// Now is the gateway clock.
func (f *Forward) Now() time.Time { return f.g.now() }

// Decision is the request's Decision, for Gateway.Finish.
func (f *Forward) Decision() *Decision { return f.d }

// Forwarded is what an engine reports after Forward.
type Forwarded struct {
	// Status is the upstream's status as written to the client; 0 when no
	// response head arrived (Failure says why) and nothing was written.
	Status int
	// Failure is the engine's view of a round trip with no response head.
	Failure UpstreamFailure
	// Upstream is the time from sending to the response head (or failure).
	Upstream time.Duration
	// HeadersAt is when the response head was written to the client.
	HeadersAt time.Time
	// ResponseBytes is the body size written (or declared, when streamed).
	ResponseBytes int64
	// BodyFailed: the upstream broke the response body off (backend's
	// fault); ClientGone: writing to the client failed or the client left.
	BodyFailed, ClientGone bool
	// Streaming: the body is still being written after Forward returned;
	// the engine calls Gateway.Finish when it is done.
	Streaming bool
	// Conn is what getting the upstream connection cost (zero when the
	// engine does not know).
	Conn ConnTiming
}

// ConnTiming is what obtaining an upstream connection cost one request;
// engines fill it from their connection pool.
type ConnTiming struct {
	Wait    time.Duration // all of it: the pool pick, waiting at the cap, dialing
	Dial    time.Duration // the part spent dialing
	Dialed  bool          // a new connection was dialed
	Stale   int           // pooled connections found closed by the upstream
	Retried bool          // the request was sent again on a fresh connection
}

// Serve runs one request: the engine's handler calls it with its Exchange.
// Serve decides, asks the engine to answer or forward, records, and returns
// the Decision to the pool unless the response body is still streaming
// (then the engine calls Finish).
func (g *Gateway) Serve(ctx context.Context, ex Exchange) {
	d := g.Acquire(g.now())
	req := &d.req
	ex.ReadRequest(req, &d.scratch)
	g.Decide(ctx, req, d)
	if !d.Forward() {
		g.answer(ex, d, req, KindNone, 0, 0)
		g.Release(d)
		return
	}
	if g.log != nil {
		// The engine may rewrite its request buffers in place to send the
		// request upstream; the log records what the client sent.
		req.keep(&d.reqCopy)
	}
	f := &d.fwd
	*f = Forward{g: g, d: d, req: req, Target: d.Target, Path: d.UpstreamPath, Query: req.Query,
		Deadline: d.Start.Add(d.Route.Timeout)}
	f.Body.max = d.Route.MaxBodyBytes
	res := ex.Forward(f)
	if d.Route != nil {
		c := &res.Conn
		d.Route.Metrics.ObserveConn(c.Wait, c.Dial, c.Dialed, c.Stale, c.Retried)
	}
	if res.Status == 0 {
		kind := classify(res.Failure, &f.Body, ctx.Err() != nil)
		g.forwardFailed(d, kind, res.Failure)
		g.answer(ex, d, req, kind, res.Upstream, f.Body.n)
		g.Release(d)
		return
	}
	var kind ErrorKind
	switch {
	case res.BodyFailed:
		kind = KindUpstreamBody
	case res.ClientGone:
		kind = KindClientWrite
	}
	g.Record(d, req, &Outcome{Status: res.Status, Upstream: res.Upstream, HeadersAt: res.HeadersAt, End: g.now(),
		RequestBytes: f.Body.n, ResponseBytes: res.ResponseBytes, Kind: kind})
	if !res.Streaming {
		g.Release(d)
	}
}

// Finish ends a request whose response body was streamed after Forward
// returned. bodyFailed reports that the upstream broke the body off.
func (g *Gateway) Finish(d *Decision, bodyFailed bool) {
	if bodyFailed && d.acquired != nil {
		d.result = backendResultOf(KindUpstreamBody, 0)
	}
	g.Release(d)
}

// answer writes the Decision's answer through the engine and records it.
func (g *Gateway) answer(ex Exchange, d *Decision, req *Request, kind ErrorKind, upstream time.Duration, reqBytes int64) {
	now := g.now()
	body := d.Body()
	if req.Method == MethodHead {
		body = nil
	}
	ex.Answer(d.Status, g.ResponseHeaders(d, req, now), body, d.closeConn || g.draining.Load())
	status := d.Status
	if kind == KindClientClosed {
		status = 499
	}
	g.Record(d, req, &Outcome{Status: status, Upstream: upstream, HeadersAt: now, End: g.now(),
		RequestBytes: reqBytes, ResponseBytes: int64(len(body)), Kind: kind})
}

// forwardFailed turns a failed round trip into the gateway's answer.
func (g *Gateway) forwardFailed(d *Decision, kind ErrorKind, f UpstreamFailure) {
	switch kind {
	case KindBodyTooLarge:
		g.reject(d, 413, CodePayloadTooLarge, observe.ReasonPayloadTooLarge)
		d.closeConn = true
	case KindClientBodyTimeout:
		g.reject(d, 408, CodeRequestTimeout, observe.ReasonClientTimeout)
		d.closeConn = true
	case KindClientBody, KindClientClosed:
		g.reject(d, 400, CodeBadRequest, observe.ReasonClientClosed)
		d.closeConn = true
	case KindNoFreeConns:
		d.RetryAfter = 1
		g.reject(d, 503, CodeBackendBusy, observe.ReasonBulkheadFull)
	case KindUpstreamTimeout:
		g.reject(d, 504, CodeUpstreamTimeout, observe.ReasonUpstreamTimeout)
	case KindUpstreamMidUpload:
		if f == FailTimeout {
			g.reject(d, 504, CodeUpstreamTimeout, observe.ReasonUpstreamTimeout)
		} else {
			g.reject(d, 502, CodeUpstreamUnavailable, observe.ReasonUpstreamUnavailable)
		}
		// The rest of the client's body was never read.
		d.closeConn = true
	default:
		g.reject(d, 502, CodeUpstreamUnavailable, observe.ReasonUpstreamUnavailable)
	}
}

// keep copies the strings the access log reads into buf and points req at
// the copies.
func (r *Request) keep(buf *[]byte) {
	b := (*buf)[:0]
	n := len(r.MethodText) + len(r.RawPath) + len(r.Query) + len(r.UserAgent)
	if cap(b) < n {
		b = make([]byte, 0, n)
	}
	take := func(s string) string {
		start := len(b)
		b = append(b, s...)
		return bytesView(b[start:])
	}
	r.MethodText = take(r.MethodText)
	r.RawPath = take(r.RawPath)
	r.Query = take(r.Query)
	r.UserAgent = take(r.UserAgent)
	*buf = b
}

// ExpectContinue reports whether a request announcing "Expect:
// 100-continue" may be told to send its body: false when the declared
// length is over its route's limit (the request is then answered 413
// without a 100 Continue, as Serve would answer it). For engines that ask
// before running the handler.
func (g *Gateway) ExpectContinue(method, rawPath string, contentLength int64) bool {
	s := g.snap.Load()
	if s == nil {
		return true
	}
	r := s.routeOf(ParseMethod(method), rawPath)
	return r == nil || contentLength <= r.MaxBodyBytes
}

// routeOf is the route a request-target path matches (nil: no route, or a
// path the path check refuses). For answers given before Decide runs.
func (s *Snapshot) routeOf(m Method, rawPath string) *Route {
	path, ok := CanonicalPath(rawPath)
	if !ok {
		return nil
	}
	if match := s.Router.Match(m, path); match.Status == Found {
		return &s.Routes[match.Route]
	}
	return nil
}

// BodyTimedOut answers a request whose body the engine's own reader gave up
// on before the handler ran (fasthttp reads the start of a body before it),
// exactly as Serve answers a body slower than limits.read_timeout: 408 with
// the gateway's JSON error and headers, recorded, and the connection
// closed.
func (g *Gateway) BodyTimedOut(ex Exchange) {
	d := g.Acquire(g.now())
	req := &d.req
	ex.ReadRequest(req, &d.scratch)
	d.setRequestID(req)
	d.Route = d.Snap.routeOf(req.Method, req.RawPath) // counted and logged under its route, as Serve would
	g.reject(d, 408, CodeRequestTimeout, observe.ReasonClientTimeout)
	d.closeConn = true
	g.answer(ex, d, req, KindClientBodyTimeout, 0, 0)
	g.Release(d)
}
