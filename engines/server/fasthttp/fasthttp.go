package fasthttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/server/internal/connlimit"
	"github.com/gatelab/gatelab/engines/server/internal/framing"
	"github.com/gatelab/gatelab/engines/server/internal/rawio"
	"github.com/gatelab/gatelab/engines/server/internal/uppool"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func init() { engines.RegisterServer("fasthttp", New) }

var _ engines.Server = (*Server)(nil)

// Server is the fasthttp server engine. It forwards on connections from
// one uppool.Pool per upstream instance, writing and reading with fasthttp's
// request and response types and reusing the server's request object, so a
// proxied request allocates nothing in steady state.
type Server struct {
	g      *pipeline.Gateway
	srv    *fasthttp.Server
	pools  sync.Map // host:port -> *uppool.Pool
	limits struct {
		maxConns int
		idle     time.Duration
	}
}

// New builds the engine around g; listener limits come from g.Limits.
func New(g *pipeline.Gateway) (engines.Server, error) {
	l := g.Limits
	s := &Server{g: g}
	s.limits.maxConns = l.MaxConnsPerHost
	s.limits.idle = l.UpstreamIdle
	s.srv = &fasthttp.Server{
		Handler: s.handle,
		// No Server header (as nethttp); an upstream's own passes through.
		Name: "",
		// The header block must fit the read buffer; a larger one is
		// answered 431 by fasthttp.
		ReadBufferSize: l.MaxHeaderBytes,
		// fasthttp has no separate header timeout: ReadTimeout bounds reading
		// a request (the header, and the body when it is not streamed), so
		// it takes limits.read_header_timeout (slow-loris defence).
		ReadTimeout: l.ReadHeaderTimeout,
		// ... and once the head is in, the body gets limits.read_timeout
		// (net/http's ReadTimeout counts from the request's start instead).
		HeaderReceived: func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: l.ReadTimeout}
		},
		WriteTimeout:                 l.WriteTimeout,
		IdleTimeout:                  l.IdleTimeout,
		MaxRequestBodySize:           int(l.MaxBodyBytes),
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		NoDefaultDate:                false,
		ReduceMemoryUsage:            false,
		CloseOnShutdown:              true,
		SecureErrorLogMessage:        true,
		ErrorHandler:                 s.errorHandler,
		ConnState:                    connState,
		Logger:                       slogPrintf{},
		// A body over the route limit is refused before "100 Continue"
		// (as net/http does): the pipeline answers 413 right away.
		ExpectHandler: func(ctx *fasthttp.RequestCtx) int {
			rh := &ctx.Request.Header
			_, path, _ := pipeline.SplitTarget(b2s(rh.RequestURI()))
			if g.ExpectContinue(b2s(rh.Method()), path, int64(rh.ContentLength())) {
				return fasthttp.StatusContinue
			}
			s.handle(ctx)
			return ctx.Response.StatusCode()
		},
	}
	g.Metrics().SetUpstreamConns(uppool.OpenConns(g, &s.pools))
	uppool.RetireOnApply(g, &s.pools)
	return s, nil
}

// Serve runs until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	// Counted below the cap, which closes the connections it refuses and
	// evicts itself.
	ln = s.g.Metrics().CountTrafficConns(framing.Listen(rawio.Listen(ln)))
	return s.srv.Serve(connlimit.Wrap(ln, s.g.Limits.MaxConnections))
}

// slogPrintf sends fasthttp's own messages (accept and connection errors)
// to the process's operational log.
type slogPrintf struct{}

func (slogPrintf) Printf(format string, args ...any) {
	slog.Warn("fasthttp: " + fmt.Sprintf(format, args...))
}

// connState tells the connection cap which connections are idle.
func connState(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateIdle:
		connlimit.Idle(c)
	case fasthttp.StateActive:
		connlimit.Active(c)
	}
}

// Shutdown stops accepting and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.ShutdownWithContext(ctx)
	s.pools.Range(func(_, v any) bool { v.(*uppool.Pool).Close(); return true })
	return err
}

func (s *Server) pool(inst *pipeline.Instance) *uppool.Pool {
	if p, ok := s.pools.Load(inst.Host); ok {
		return p.(*uppool.Pool)
	}
	p, _ := s.pools.LoadOrStore(inst.Host, uppool.New(uppool.Options{Addr: inst.Host, TLS: inst.Scheme == "https",
		MaxConns: s.limits.maxConns, IdleTimeout: s.limits.idle}))
	return p.(*uppool.Pool)
}

func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

var (
	hAuthorization = []byte("Authorization")
	hAPIKey        = []byte("X-API-Key")
	hRequestID     = []byte("X-Request-ID")
	hTraceparent   = []byte("traceparent")
	hOrigin        = []byte("Origin")
	hACRM          = []byte("Access-Control-Request-Method")
	hConnection    = []byte("Connection")
)

// exchange is the engine's side of one request (pipeline.Exchange); pooled.
type exchange struct {
	s   *Server
	ctx *fasthttp.RequestCtx
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	ex := exchanges.Get().(*exchange)
	ex.s, ex.ctx = s, ctx
	// Not ctx: a RequestCtx is recycled for the next request once the
	// handler returns, while a limiter deadline's timer may still touch its
	// parent context (data race).
	s.g.Serve(context.Background(), ex)
	*ex = exchange{}
	exchanges.Put(ex)
}

func (ex *exchange) ReadRequest(req *pipeline.Request, scratch *[64]byte) {
	fillRequest(req, ex.ctx, scratch)
}

func (ex *exchange) Answer(status int, headers []pipeline.Header, body []byte, close bool) {
	resp := &ex.ctx.Response
	resp.Reset()
	resp.SetStatusCode(status)
	for _, kv := range headers {
		resp.Header.Set(kv.Key, kv.Value)
	}
	if len(body) > 0 {
		resp.Header.SetContentType("application/json")
		resp.SetBody(body)
	}
	if close {
		ex.ctx.SetConnectionClose()
	}
}

func fillRequest(req *pipeline.Request, ctx *fasthttp.RequestCtx, scratch *[64]byte) {
	rh := &ctx.Request.Header
	req.MethodText = b2s(rh.Method())
	req.Method = pipeline.ParseMethod(req.MethodText)
	var authority string
	authority, req.RawPath, req.Query = pipeline.SplitTarget(b2s(rh.RequestURI()))
	req.Host = authority
	if authority == "" {
		req.Host = b2s(rh.Host())
	}
	req.ClientIP = ipString(ctx, scratch)
	req.ContentLength = int64(rh.ContentLength())
	if req.ContentLength < 0 {
		req.ContentLength = -1
	}
	req.Authorization = b2s(rh.PeekBytes(hAuthorization))
	req.APIKey = b2s(rh.PeekBytes(hAPIKey))
	req.RequestID = b2s(rh.PeekBytes(hRequestID))
	req.Traceparent = b2s(rh.PeekBytes(hTraceparent))
	req.Via = b2s(rh.PeekBytes(kVia))
	req.Origin = b2s(rh.PeekBytes(hOrigin))
	req.PreflightMethod = b2s(rh.PeekBytes(hACRM))
	req.UserAgent = b2s(rh.UserAgent())
	for k, v := range rh.All() {
		if len(k) == len(hConnection) && b2s(k) == "Connection" {
			req.AddConnection(b2s(v))
		}
	}
	req.Expect = b2s(rh.Peek("Expect"))
	req.Head = framing.Of(ctx.Conn()).Next()
}

// errorHandler answers a request fasthttp could not read, as net/http
// answers the same bytes (the engines answer alike):
//   - the body's first bytes (which fasthttp reads before the handler)
//     came slower than limits.read_timeout: the pipeline's 408;
//   - the head was not complete in time: no answer, the connection is
//     closed (net/http is silent there), unless its lines end in a bare LF,
//     which never ends a fasthttp head: 400, as net/http refuses them;
//   - a head too large: 431; an unsupported transfer coding: 501; any
//     other parse error: 400.
func (s *Server) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	op, isOp := err.(*net.OpError)
	switch {
	case errors.As(err, &small):
		ctx.Error("Request Header Fields Too Large", fasthttp.StatusRequestHeaderFieldsTooLarge)
	case isOp && op.Timeout():
		// A read that timed out by itself happens after the head: the
		// body's prefetch.
		ex := exchanges.Get().(*exchange)
		ex.s, ex.ctx = s, ctx
		s.g.BodyTimedOut(ex)
		*ex = exchange{}
		exchanges.Put(ex)
	case errors.As(err, &ne) && ne.Timeout() && !framing.Of(ctx.Conn()).Refusable():
		ctx.Conn().Close()
	case errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
		ctx.Error("Unsupported transfer encoding", fasthttp.StatusNotImplemented)
	default:
		ctx.Error("Bad Request", fasthttp.StatusBadRequest)
	}
}

// ipString formats the client IP into the request's scratch space.
func ipString(ctx *fasthttp.RequestCtx, buf *[64]byte) string {
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		var ip net.IP = ta.IP
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		addr, _ := netipAddr(ip)
		return b2s(addr.AppendTo(buf[:0]))
	}
	return ctx.RemoteAddr().String()
}

var kVia = []byte(pipeline.HeaderVia)

// Forward proxies the request to f.Target. The server's request object is
// rewritten in place and sent on a connection from the instance's pool
// (uppool, shared with the nethttp engine). A response body of up to
// wholeBody bytes with a Content-Length is read whole and the connection
// goes back to the pool before the client is answered; any other body is
// streamed after the handler returns: the body stream calls Gateway.Finish
// once fasthttp has written it, so the request counts as in flight (for the
// bulkhead, balancing and shedding) until its last byte.
func (ex *exchange) Forward(f *pipeline.Forward) pipeline.Forwarded {
	ctx := ex.ctx
	r := &ctx.Request
	rh := &r.Header
	// The values set below point into the header buffer being rewritten
	// (Host, client IP text, Via): render them into our own storage first.
	var hbuf [1024]byte
	set := hbuf[:0]
	var keys [10]string
	var vals [10][2]int
	ups := f.UpstreamHeaders()
	for i, kv := range ups {
		keys[i] = kv.Key
		start := len(set)
		set = append(set, kv.Value...)
		vals[i] = [2]int{start, len(set)}
	}
	stripInbound(rh, f)
	var uriBuf [1024]byte
	uri := append(uriBuf[:0], f.Path...)
	if f.Query != "" {
		uri = append(uri, '?')
		uri = append(uri, f.Query...)
	}
	// Setting the URI drops the parsed one; as long as nothing parses it
	// again (r.URI()) and the Host header is set, Request.Write sends these
	// bytes as they are: no path normalizing, no parse per request.
	r.SetRequestURIBytes(uri)
	rh.SetHost(f.Target.Host)
	r.UseHostHeader = true
	// The gateway speaks HTTP/1.1 upstream whatever the client spoke (RFC
	// 9110 6.2), and adds no Content-Type the client did not send.
	rh.SetProtocol("HTTP/1.1")
	rh.SetNoDefaultContentType(true)
	for i := range ups {
		rh.SetBytesKV(s2b(keys[i]), set[vals[i][0]:vals[i][1]])
	}

	// A streamed request body (no Content-Length, or larger than the read
	// buffer) is read through the pipeline's ClientBody, which bounds it
	// by the route limit and notes how the client failed, if it did. A
	// body fasthttp already read whole is counted the same way.
	// A request without Content-Length or Transfer-Encoding (-2 here) has
	// no body (RFC 9112 6.3).
	hasBody := rh.ContentLength() > 0 || rh.ContentLength() == -1
	if r.IsBodyStream() {
		r.SetBodyStream(f.Body.Wrap(ctx.RequestBodyStream(), int64(rh.ContentLength())), rh.ContentLength())
	} else {
		f.Body.Whole(int64(len(r.Body())))
		hasBody = hasBody || len(r.Body()) > 0
	}

	up := fasthttp.AcquireResponse()
	pl := ex.s.pool(f.Target)
	var ct uppool.Timing
	sent := f.Now()
	c, err := pl.Exchange(context.Background(), f.Deadline, &ct, b2s(rh.Method()), hasBody,
		func(c *uppool.Conn) error { return send(c, r, up, f.Deadline) })
	upstream := f.Now().Sub(sent)
	if err != nil {
		fasthttp.ReleaseResponse(up)
		return pipeline.Forwarded{Failure: failure(err), Upstream: upstream, Conn: ct}
	}
	// The connection may carry the next request once this response is read
	// to its end, unless either side asked to close or the body runs to
	// the close (a response without a body, to HEAD or a 204 or 304, never
	// does). After a 101 the connection speaks another protocol: never.
	keep := !up.ConnectionClose() && !rh.ConnectionClose() && (up.SkipBody || up.Header.ContentLength() != -2) &&
		up.StatusCode() != fasthttp.StatusSwitchingProtocols
	resp := &ctx.Response
	up.Header.CopyTo(&resp.Header)
	stripOutbound(&resp.Header, f)
	now := f.Now()
	for _, kv := range f.ResponseHeaders(now) {
		if kv.Add {
			resp.Header.Add(kv.Key, kv.Value)
		} else {
			resp.Header.Set(kv.Key, kv.Value)
		}
	}
	res := pipeline.Forwarded{Status: resp.StatusCode(), Upstream: upstream, HeadersAt: now, ResponseBytes: responseBytes(up),
		Conn: ct}
	if !up.IsBodyStream() {
		resp.SetBody(up.Body())
		res.ResponseBytes = int64(len(up.Body()))
		fasthttp.ReleaseResponse(up)
		putBack(pl, c, keep)
		return res
	}
	b := bodies.Get().(*streamedBody)
	b.g, b.d, b.up, b.r, b.pool, b.conn, b.keep = ex.s.g, f.Decision(), up, up.BodyStream(), pl, c, keep
	resp.SetBodyStream(b, up.Header.ContentLength())
	res.Streaming = true
	return res
}

// wholeBody is the largest response body (with a Content-Length) read
// whole before answering; larger and chunked bodies are streamed.
const wholeBody = 64 << 10

// send writes req and reads the response head; a body of up to wholeBody
// bytes with a Content-Length is read whole, any other becomes resp's body
// stream (nothing of it read yet).
func send(c *uppool.Conn, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	c.SetDeadline(deadline)
	err := req.Write(c.BW)
	if err == nil {
		err = c.BW.Flush()
	}
	if err != nil {
		return err
	}
	resp.Reset()
	resp.Header.SetNoDefaultContentType(true)
	for interim := 0; ; interim++ {
		if err := resp.Header.Read(c.BR); err != nil {
			return err
		}
		if sc := resp.StatusCode(); sc >= 200 || sc == fasthttp.StatusSwitchingProtocols {
			break
		}
		if interim == maxInterim {
			return errTooManyInterim
		}
	}
	if sc := resp.StatusCode(); req.Header.IsHead() || sc == fasthttp.StatusNoContent || sc == fasthttp.StatusNotModified || sc < 200 {
		resp.SkipBody = true
		return nil
	}
	cl := resp.Header.ContentLength()
	resp.StreamBody = cl < 0 || cl > wholeBody
	return resp.ReadBody(c.BR, 0)
}

// maxInterim bounds the 1xx responses skipped before the final one.
const maxInterim = 8

var errTooManyInterim = errors.New("upstream sent too many 1xx responses")

// putBack returns a connection whose response was read to its end.
func putBack(pl *uppool.Pool, c *uppool.Conn, keep bool) {
	if keep && c.BR.Buffered() == 0 {
		pl.Put(c)
		return
	}
	pl.Drop(c)
}

// streamedBody is an upstream response body on its way to the client. When
// fasthttp has written it (or given up) it calls CloseWithError: the
// upstream connection goes back to its pool if the body was read to its
// end, and the request ends with Gateway.Finish (a body the upstream broke
// off is the backend's failure).
type streamedBody struct {
	g       *pipeline.Gateway
	d       *pipeline.Decision
	up      *fasthttp.Response
	r       io.Reader
	pool    *uppool.Pool
	conn    *uppool.Conn
	keep    bool
	eof     bool
	readErr bool
}

var bodies = sync.Pool{New: func() any { return new(streamedBody) }}

func (b *streamedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil:
		b.readErr = true
	}
	return n, err
}

// CloseWithError is fasthttp.ReadCloserWithError: wErr is the error writing
// to the client, if any (not the backend's doing).
func (b *streamedBody) CloseWithError(error) error {
	err := b.up.CloseBodyStream()
	fasthttp.ReleaseResponse(b.up)
	putBack(b.pool, b.conn, b.keep && b.eof)
	b.g.Finish(b.d, b.readErr)
	*b = streamedBody{}
	bodies.Put(b)
	return err
}

// responseBytes is the response body size from Content-Length; 0 for a
// chunked body, whose size is not known before it has been streamed (reading
// it here would buffer it).
func responseBytes(resp *fasthttp.Response) int64 {
	if n := resp.Header.ContentLength(); n >= 0 {
		return int64(n)
	}
	return 0
}

func s2b(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// stripInbound removes every header the pipeline does not keep
// (Forward.KeepHeader), whatever its case or count.
func stripInbound(rh *fasthttp.RequestHeader, f *pipeline.Forward) {
	var del [16][]byte
	var names [16][64]byte
	n := 0
	overflow := false
	for k := range rh.All() {
		if !f.KeepHeader(b2s(k)) {
			if n < len(del) && len(k) <= 64 {
				del[n] = append(names[n][:0], k...)
				n++
			} else {
				overflow = true
			}
		}
	}
	for i := 0; i < n; i++ {
		// DelBytes removes every occurrence with that exact name; names
		// are compared case-insensitively by fasthttp for known headers and
		// exactly for others, so each spelling seen is deleted by itself.
		rh.DelBytes(del[i])
	}
	if overflow {
		// Pathological request with very many or very long headers to
		// drop: fall back to an allocating sweep until none is left.
		for {
			var victim []byte
			for k := range rh.All() {
				if !f.KeepHeader(b2s(k)) {
					victim = append([]byte(nil), k...)
					break
				}
			}
			if victim == nil {
				break
			}
			rh.DelBytes(victim)
		}
	}
	rh.ResetConnectionClose()
}

func stripOutbound(h *fasthttp.ResponseHeader, f *pipeline.Forward) {
	var connBuf [256]byte
	conn := append(connBuf[:0], h.Peek("Connection")...)
	var del [8][]byte
	var names [8][64]byte
	n := 0
	for k := range h.All() {
		if !f.KeepResponseHeader(b2s(k), b2s(conn)) {
			if n < len(del) && len(k) <= 64 {
				del[n] = append(names[n][:0], k...)
				n++
			}
		}
	}
	for i := 0; i < n; i++ {
		h.DelBytes(del[i])
	}
	h.ResetConnectionClose()
}

// failure names what a failed round trip reported.
func failure(err error) pipeline.UpstreamFailure {
	switch {
	case errors.Is(err, uppool.ErrNoFreeConns):
		return pipeline.FailNoFreeConns
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, context.DeadlineExceeded), pipeline.IsTimeout(err):
		return pipeline.FailTimeout
	case pipeline.DialFailed(err):
		return pipeline.FailDial
	}
	return pipeline.FailOther
}

func netipAddr(ip net.IP) (netip.Addr, bool) { return netip.AddrFromSlice(ip) }
