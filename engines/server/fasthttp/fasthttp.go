package fasthttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func init() { engines.RegisterServer("fasthttp", New) }

var _ engines.Server = (*Server)(nil)

// Server is the fasthttp server engine. It forwards with one fasthttp
// HostClient per upstream instance (keep-alive pool), reusing the server's
// request and response objects so a proxied request allocates nothing in
// steady state.
type Server struct {
	g       *pipeline.Gateway
	srv     *fasthttp.Server
	clients sync.Map // host:port -> *fasthttp.HostClient
	limits  struct {
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
		Name:    "gatelab",
		// The header block must fit the read buffer; a larger one is
		// answered 431 by fasthttp.
		ReadBufferSize: l.MaxHeaderBytes,
		// fasthttp has no separate header timeout: ReadTimeout bounds reading
		// a request (the header, and the body when it is not streamed), so
		// it takes limits.read_header_timeout (slow-loris defence).
		ReadTimeout:                  l.ReadHeaderTimeout,
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
	}
	return s, nil
}

// Serve runs until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// Shutdown stops accepting and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.ShutdownWithContext(ctx) }

func (s *Server) client(inst *pipeline.Instance) *fasthttp.HostClient {
	if c, ok := s.clients.Load(inst.Host); ok {
		return c.(*fasthttp.HostClient)
	}
	c := &fasthttp.HostClient{
		Addr:                      inst.Host,
		IsTLS:                     inst.Scheme == "https",
		MaxConns:                  s.limits.maxConns,
		MaxIdleConnDuration:       s.limits.idle,
		MaxIdemponentCallAttempts: 1, // never retry: the request may have reached the backend
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		DisablePathNormalizing:    true,
		NoDefaultUserAgentHeader:  true,
		ReadBufferSize:            16 * 1024,
		// Response bodies are streamed to the client, not buffered whole:
		// memory per request stays bounded whatever the upstream sends.
		StreamResponseBody: true,
		Dial:               (&fasthttp.TCPDialer{Concurrency: 0}).Dial,
	}
	actual, _ := s.clients.LoadOrStore(inst.Host, c)
	return actual.(*fasthttp.HostClient)
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

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	g := s.g
	d := g.Acquire(g.Now())
	streaming := false
	defer func() {
		if !streaming { // else the response body stream releases d when it is done
			g.Release(d)
		}
	}()

	var req pipeline.Request
	fillRequest(&req, ctx, d)
	// Not ctx: a RequestCtx is recycled for the next request once the
	// handler returns, while a limiter deadline's timer may still touch its
	// parent context (data race).
	g.Decide(context.Background(), &req, d)
	if !d.Forward() {
		s.answer(ctx, d, &req)
		return
	}
	streaming = s.forward(ctx, d, &req)
}

func fillRequest(req *pipeline.Request, ctx *fasthttp.RequestCtx, d *pipeline.Decision) {
	rh := &ctx.Request.Header
	req.MethodText = b2s(rh.Method())
	req.Method = pipeline.ParseMethod(req.MethodText)
	raw := b2s(rh.RequestURI())
	if len(raw) > 0 && raw[0] == '/' {
		q := len(raw)
		for i := 0; i < len(raw); i++ {
			if raw[i] == '?' {
				q = i
				break
			}
		}
		req.RawPath = raw[:q]
		if q < len(raw) {
			req.Query = raw[q+1:]
		}
	} else {
		// absolute-form: fasthttp's parsed URI keeps the path as sent when
		// normalisation is off; '*' and others fail the path check.
		u := ctx.URI()
		u.DisablePathNormalizing = true
		req.RawPath = b2s(u.PathOriginal())
		if i := indexByte(req.RawPath, '?'); i >= 0 {
			req.RawPath = req.RawPath[:i]
		}
		req.Query = b2s(u.QueryString())
		if len(req.RawPath) > 0 && req.RawPath[0] != '/' {
			// "http://host/path" form: skip scheme and authority.
			if i := indexAfterAuthority(req.RawPath); i >= 0 {
				req.RawPath = req.RawPath[i:]
			}
		}
	}
	req.Host = b2s(rh.Host())
	req.ClientIP = ipString(ctx, d)
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
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func indexAfterAuthority(s string) int {
	i := indexByte(s, ':')
	if i < 0 || len(s) < i+3 || s[i+1] != '/' || s[i+2] != '/' {
		return -1
	}
	rest := s[i+3:]
	j := indexByte(rest, '/')
	if j < 0 {
		return -1
	}
	return i + 3 + j
}

// ipString formats the client IP into the decision's scratch space.
func ipString(ctx *fasthttp.RequestCtx, d *pipeline.Decision) string {
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		buf := d.Scratch()
		var ip net.IP = ta.IP
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		addr, _ := netipAddr(ip)
		return b2s(addr.AppendTo(buf[:0]))
	}
	return ctx.RemoteAddr().String()
}

func (s *Server) setHeaders(ctx *fasthttp.RequestCtx, d *pipeline.Decision, req *pipeline.Request, now time.Time) {
	rh := &ctx.Response.Header
	for _, kv := range s.g.ResponseHeaders(d, req, now) {
		rh.Set(kv.Key, kv.Value)
	}
}

func (s *Server) answer(ctx *fasthttp.RequestCtx, d *pipeline.Decision, req *pipeline.Request) {
	g := s.g
	now := g.Now()
	ctx.Response.SetStatusCode(d.Status)
	s.setHeaders(ctx, d, req, now)
	body := d.Body()
	if len(body) > 0 {
		ctx.Response.Header.SetContentType("application/json")
		ctx.Response.SetBody(body)
	}
	if d.Status == fasthttp.StatusRequestEntityTooLarge {
		ctx.SetConnectionClose()
	}
	g.Record(d, req, &pipeline.Outcome{Status: d.Status, HeadersAt: now, End: g.Now(), ResponseBytes: int64(len(body))})
}

var (
	kRequestID   = []byte(pipeline.HeaderRequestID)
	kTraceparent = []byte(pipeline.HeaderTraceparent)
	kXFF         = []byte(pipeline.HeaderXFF)
	kXFProto     = []byte(pipeline.HeaderXFProto)
	kXFHost      = []byte(pipeline.HeaderXFHost)
	kVia         = []byte(pipeline.HeaderVia)
	kUserID      = []byte(pipeline.HeaderUserID)
	kUserScopes  = []byte(pipeline.HeaderUserScopes)
	kPartnerID   = []byte(pipeline.HeaderPartnerID)
)

// forward proxies the request to d.Target. It reports whether the response
// body is streamed after the handler returns: then the body stream releases
// d once fasthttp has written it, so the request counts as in flight (for
// the bulkhead, balancing and shedding) until its last byte.
func (s *Server) forward(ctx *fasthttp.RequestCtx, d *pipeline.Decision, req *pipeline.Request) bool {
	g := s.g
	r := &ctx.Request
	rh := &r.Header
	route := d.Route

	// Original Host goes to X-Forwarded-Host; copy it before the header is
	// rewritten (req.Host points into the header buffer).
	var hostBuf [256]byte
	origHost := append(hostBuf[:0], req.Host...)
	var ipb [64]byte
	clientIP := append(ipb[:0], req.ClientIP...)

	// Via: the incoming value plus this gateway, copied out of the header
	// buffer before the header is rewritten.
	var viaBuf [256]byte
	via := g.AppendVia(viaBuf[:0], req.Via)

	stripInbound(rh)
	// Path and query are rewritten in place: the path is canonical (checked
	// by decide), the prefix is stripped.
	var uriBuf [1024]byte
	uri := append(uriBuf[:0], d.UpstreamPath...)
	if req.Query != "" {
		uri = append(uri, '?')
		uri = append(uri, req.Query...)
	}
	r.SetRequestURIBytes(uri) // resets the parsed URI too
	r.URI().DisablePathNormalizing = true
	rh.SetHost(d.Target.Host)
	r.UseHostHeader = true
	rh.SetBytesKV(kRequestID, s2b(d.RequestID))
	rh.SetBytesKV(kTraceparent, s2b(d.Traceparent))
	rh.SetBytesKV(kXFF, clientIP)
	rh.SetBytesKV(kXFProto, s2b(d.Snap.ForwardedProto))
	rh.SetBytesKV(kVia, via)
	if len(origHost) > 0 {
		rh.SetBytesKV(kXFHost, origHost)
	}
	if d.HasIdentity {
		id := &d.Identity
		if id.PartnerID != "" {
			rh.SetBytesKV(kPartnerID, s2b(id.PartnerID))
		} else if id.Subject != "" {
			rh.SetBytesKV(kUserID, s2b(id.Subject))
		}
		if id.ScopesHeader != "" {
			rh.SetBytesKV(kUserScopes, s2b(id.ScopesHeader))
		}
	}

	// Streamed request bodies (no Content-Length, or larger than the read
	// buffer) are bounded by the route limit while they are forwarded.
	var lim *limitedReader
	if r.IsBodyStream() {
		lim = &limitedReader{r: ctx.RequestBodyStream(), max: route.MaxBodyBytes, want: int64(rh.ContentLength())}
		r.SetBodyStream(lim, rh.ContentLength())
	}

	resp := &ctx.Response
	up := fasthttp.AcquireResponse()
	hc := s.client(d.Target)
	sent := g.Now()
	err := hc.DoTimeout(r, up, route.Timeout)
	upstream := g.Now().Sub(sent)
	if err != nil {
		fasthttp.ReleaseResponse(up)
		tooLarge := lim != nil && lim.tooLarge
		timeout := errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
		errType := errType(err, timeout, tooLarge)
		resp.Reset()
		if !tooLarge && lim != nil && lim.err != nil {
			// The client's body broke, not the backend.
			g.ClientBodyError(d)
			errType = pipeline.ErrClientBody
		} else {
			g.UpstreamError(d, timeout, tooLarge)
		}
		now := g.Now()
		resp.SetStatusCode(d.Status)
		s.setHeaders(ctx, d, req, now)
		resp.Header.SetContentType("application/json")
		resp.SetBody(d.Body())
		if tooLarge {
			ctx.SetConnectionClose()
		}
		g.Record(d, req, &pipeline.Outcome{Status: d.Status, Upstream: upstream, HeadersAt: now, End: g.Now(),
			RequestBytes: lim.count(), ResponseBytes: int64(len(d.Body())), Error: errType})
		return false
	}
	up.Header.CopyTo(&resp.Header)
	stripOutbound(&resp.Header)
	now := g.Now()
	s.setHeaders(ctx, d, req, now)
	reqBytes := int64(len(r.Body()))
	if lim != nil {
		reqBytes = lim.n
	}
	g.Record(d, req, &pipeline.Outcome{Status: resp.StatusCode(), Upstream: upstream, HeadersAt: now, End: g.Now(),
		RequestBytes: reqBytes, ResponseBytes: responseBytes(up)})
	if !up.IsBodyStream() {
		resp.SetBody(up.Body())
		fasthttp.ReleaseResponse(up)
		return false
	}
	b := bodies.Get().(*streamedBody)
	b.g, b.d, b.up, b.r = g, d, up, up.BodyStream()
	resp.SetBodyStream(b, up.Header.ContentLength())
	return true
}

// streamedBody is an upstream response body on its way to the client. When
// fasthttp has written it (or given up) it calls CloseWithError: the
// upstream connection goes back to its pool, a body the upstream broke off
// counts as the backend's failure, and the request's Decision is released.
type streamedBody struct {
	g       *pipeline.Gateway
	d       *pipeline.Decision
	up      *fasthttp.Response
	r       io.Reader
	readErr bool
}

var bodies = sync.Pool{New: func() any { return new(streamedBody) }}

func (b *streamedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.readErr = true
	}
	return n, err
}

// CloseWithError is fasthttp.ReadCloserWithError: wErr is the error writing
// to the client, if any (not the backend's doing).
func (b *streamedBody) CloseWithError(error) error {
	err := b.up.CloseBodyStream()
	fasthttp.ReleaseResponse(b.up)
	if b.readErr {
		b.g.UpstreamBodyFailed(b.d)
	}
	b.g.Release(b.d)
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

// stripInbound removes every header pipeline.DropInbound names, plus those
// listed in Connection, whatever their case or count.
func stripInbound(rh *fasthttp.RequestHeader) {
	var connBuf [256]byte
	conn := append(connBuf[:0], rh.PeekBytes(hConnection)...)
	var del [16][]byte
	var names [16][64]byte
	n := 0
	overflow := false
	for k := range rh.All() {
		name := b2s(k)
		if pipeline.DropInbound(name) || (len(conn) > 0 && pipeline.DropListed(b2s(conn), name)) {
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
		// Pathological request with very many or very long identity-like
		// headers: fall back to an allocating sweep until none is left.
		for {
			var victim []byte
			for k := range rh.All() {
				name := b2s(k)
				if pipeline.DropInbound(name) || (len(conn) > 0 && pipeline.DropListed(b2s(conn), name)) {
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

func stripOutbound(h *fasthttp.ResponseHeader) {
	var connBuf [256]byte
	conn := append(connBuf[:0], h.Peek("Connection")...)
	var del [8][]byte
	var names [8][64]byte
	n := 0
	for k := range h.All() {
		name := b2s(k)
		if pipeline.DropOutbound(name) || (len(conn) > 0 && pipeline.DropListed(b2s(conn), name)) {
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

func errType(err error, timeout, tooLarge bool) string {
	if !timeout && !tooLarge && errors.Is(err, fasthttp.ErrNoFreeConns) {
		return "no_free_connections"
	}
	return pipeline.UpstreamErrorType(err, timeout, tooLarge)
}

// limitedReader bounds a streamed request body and notes a failure to
// read it from the client (err).
type limitedReader struct {
	r        io.Reader
	n, max   int64
	want     int64 // Content-Length, -1 when chunked
	tooLarge bool
	err      error
}

var errBodyTooLarge = errors.New("request body over the route limit")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n > l.max {
		l.tooLarge = true
		return 0, errBodyTooLarge
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		l.tooLarge = true
		return n, errBodyTooLarge
	}
	if err == io.EOF && l.want >= 0 && l.n < l.want {
		// The client hung up before its declared length: fasthttp's
		// stream reports a plain EOF, which would send the upstream a
		// short body and leave it waiting.
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

func (l *limitedReader) count() int64 {
	if l == nil {
		return 0
	}
	return l.n
}

func netipAddr(ip net.IP) (netip.Addr, bool) { return netip.AddrFromSlice(ip) }
