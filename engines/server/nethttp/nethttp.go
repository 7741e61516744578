package nethttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func init() { engines.RegisterServer("nethttp", New) }

var _ engines.Server = (*Server)(nil)

// Server is the net/http server engine.
type Server struct {
	g     *pipeline.Gateway
	srv   *http.Server
	pools sync.Map // host:port -> *pool
	bufs  sync.Pool

	maxIdle int
	idleFor time.Duration
}

// New builds the engine around g; listener limits come from g.Limits.
func New(g *pipeline.Gateway) (engines.Server, error) {
	l := g.Limits
	s := &Server{g: g}
	s.maxIdle = l.MaxConnsPerHost
	s.idleFor = l.UpstreamIdle
	// net/http adds 4096 bytes of slack to MaxHeaderBytes; subtract it so the
	// request line plus header block is limited to about limits.max_header_bytes.
	maxHdr := l.MaxHeaderBytes - 4096
	if maxHdr < 1024 {
		maxHdr = 1024
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    maxHdr,
		ErrorLog:          nil,
	}
	s.bufs.New = func() any { b := make([]byte, 32*1024); return &b }
	return s, nil
}

// Serve runs until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown drains: stops accepting, waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.pools.Range(func(_, v any) bool { v.(*pool).closeIdle(); return true })
	return err
}

// canonical header keys (already canonical so Header.Get does not allocate).
const (
	hAuthorization = "Authorization"
	hAPIKey        = "X-Api-Key"
	hRequestID     = "X-Request-Id"
	hTraceparent   = "Traceparent"
	hOrigin        = "Origin"
	hACRM          = "Access-Control-Request-Method"
	hUserAgent     = "User-Agent"
	hConnection    = "Connection"
)

// ServeHTTP runs decide, forward and record. Response header values are
// cloned: net/http serialises the header map after the handler returns, when
// the Decision (whose buffers the values point into) is already released.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := s.g
	d := g.Acquire(g.Now())
	defer g.Release(d)

	var req pipeline.Request
	fillRequest(&req, r)
	g.Decide(r.Context(), &req, d)

	if !d.Forward() {
		s.answer(w, d, &req, r)
		return
	}
	s.forward(w, r, d, &req)
}

func fillRequest(req *pipeline.Request, r *http.Request) {
	req.MethodText = r.Method
	req.Method = pipeline.ParseMethod(r.Method)
	raw := r.RequestURI
	if len(raw) > 0 && raw[0] == '/' {
		for i := 0; i < len(raw); i++ {
			if raw[i] == '?' {
				raw = raw[:i]
				break
			}
		}
	} else {
		// absolute-form or '*': use the parsed URL's escaped path.
		raw = r.URL.EscapedPath()
		if raw == "" {
			raw = "*"
		}
	}
	req.RawPath = raw
	req.Query = r.URL.RawQuery
	req.Host = r.Host
	req.ClientIP = hostOnly(r.RemoteAddr)
	req.ContentLength = r.ContentLength
	h := r.Header
	req.Authorization = h.Get(hAuthorization)
	req.APIKey = h.Get(hAPIKey)
	req.RequestID = h.Get(hRequestID)
	req.Traceparent = h.Get(hTraceparent)
	req.Via = h.Get(pipeline.HeaderVia)
	req.Origin = h.Get(hOrigin)
	req.PreflightMethod = h.Get(hACRM)
	req.UserAgent = h.Get(hUserAgent)
}

func hostOnly(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// answer writes a gateway-generated response.
func (s *Server) answer(w http.ResponseWriter, d *pipeline.Decision, req *pipeline.Request, r *http.Request) {
	g := s.g
	h := w.Header()
	now := g.Now()
	for _, kv := range g.ResponseHeaders(d, req, now) {
		h[kv.Key] = []string{strings.Clone(kv.Value)}
	}
	body := d.Body()
	if len(body) > 0 {
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(d.Status)
	if len(body) > 0 && r.Method != http.MethodHead {
		w.Write(body)
	}
	g.Record(d, req, &pipeline.Outcome{Status: d.Status, HeadersAt: now, End: g.Now(), ResponseBytes: int64(len(body))})
}

func (s *Server) pool(inst *pipeline.Instance) *pool {
	if p, ok := s.pools.Load(inst.Host); ok {
		return p.(*pool)
	}
	p, _ := s.pools.LoadOrStore(inst.Host, newPool(inst.Host, inst.Scheme == "https", s.maxIdle, s.idleFor))
	return p.(*pool)
}

// forward proxies the request to d.Target.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, d *pipeline.Decision, req *pipeline.Request) {
	g := s.g
	route := d.Route
	out := &http.Request{
		Method:     r.Method,
		URL:        &url.URL{Scheme: d.Target.Scheme, Host: d.Target.Host, Opaque: d.UpstreamPath, RawQuery: req.Query},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, len(r.Header)+8),
		Host:       d.Target.Host,
	}
	conn := r.Header.Get(hConnection)
	for k, v := range r.Header {
		if pipeline.DropInbound(k) || k == "Expect" || (conn != "" && pipeline.DropListed(conn, k)) {
			continue
		}
		out.Header[k] = v
	}
	setUpstreamHeaders(g, out.Header, d, req, r)

	var body *countingReader
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		body = &countingReader{r: http.MaxBytesReader(w, r.Body, route.MaxBodyBytes)}
		out.Body = body
		out.ContentLength = r.ContentLength
		if r.ContentLength < 0 {
			out.TransferEncoding = []string{"chunked"}
		}
	}

	sent := g.Now()
	up := s.pool(d.Target)
	resp, pc, err := up.roundTrip(r.Context(), out, sent.Add(route.Timeout))
	upstream := g.Now().Sub(sent)
	if err != nil {
		var mbe *http.MaxBytesError
		tooLarge := errors.As(err, &mbe) || (body != nil && body.tooLarge)
		timeout := errors.Is(err, errTimeout)
		errType := pipeline.UpstreamErrorType(err, timeout, tooLarge)
		if !tooLarge && body != nil && body.err != nil {
			// The client's body broke, not the backend.
			g.ClientBodyError(d)
			errType = pipeline.ErrClientBody
		} else {
			g.UpstreamError(d, timeout, tooLarge)
		}
		now := g.Now()
		s.writeError(w, d, req, r, now)
		g.Record(d, req, &pipeline.Outcome{Status: d.Status, Upstream: upstream, HeadersAt: now, End: g.Now(),
			RequestBytes: body.count(), ResponseBytes: int64(len(d.Body())), Error: errType})
		return
	}

	h := w.Header()
	rconn := resp.Header.Get(hConnection)
	for k, v := range resp.Header {
		if pipeline.DropOutbound(k) || (rconn != "" && pipeline.DropListed(rconn, k)) {
			continue
		}
		h[k] = v
	}
	now := g.Now()
	for _, kv := range g.ResponseHeaders(d, req, now) {
		h[kv.Key] = []string{strings.Clone(kv.Value)}
	}
	w.WriteHeader(resp.StatusCode)
	bp := s.bufs.Get().(*[]byte)
	n, copyErr := io.CopyBuffer(w, resp.Body, *bp)
	s.bufs.Put(bp)
	resp.Body.Close()
	up.release(pc, resp, copyErr == nil)
	errText := ""
	if copyErr != nil {
		// A client that went away has its request context cancelled by
		// the server; otherwise the upstream broke the body off, which is
		// the backend's failure.
		errText = "response_copy"
		if r.Context().Err() == nil {
			errText = pipeline.ErrUpstreamBody
		}
	}
	g.Record(d, req, &pipeline.Outcome{Status: resp.StatusCode, Upstream: upstream, HeadersAt: now, End: g.Now(),
		RequestBytes: body.count(), ResponseBytes: n, Error: errText})
}

func (s *Server) writeError(w http.ResponseWriter, d *pipeline.Decision, req *pipeline.Request, r *http.Request, now time.Time) {
	h := w.Header()
	for _, kv := range s.g.ResponseHeaders(d, req, now) {
		h[kv.Key] = []string{strings.Clone(kv.Value)}
	}
	body := d.Body()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	if d.Status == http.StatusRequestEntityTooLarge {
		h["Connection"] = []string{"close"}
	}
	w.WriteHeader(d.Status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func setUpstreamHeaders(g *pipeline.Gateway, h http.Header, d *pipeline.Decision, req *pipeline.Request, r *http.Request) {
	h[pipeline.HeaderRequestID] = []string{d.RequestID}
	h[pipeline.HeaderTraceparent] = []string{d.Traceparent}
	h[pipeline.HeaderXFF] = []string{req.ClientIP}
	h[pipeline.HeaderXFProto] = []string{d.Snap.ForwardedProto}
	h[pipeline.HeaderVia] = []string{string(g.AppendVia(make([]byte, 0, len(req.Via)+24), req.Via))}
	if req.Host != "" {
		h[pipeline.HeaderXFHost] = []string{req.Host}
	}
	if d.HasIdentity {
		id := &d.Identity
		if id.PartnerID != "" {
			h[pipeline.HeaderPartnerID] = []string{id.PartnerID}
		} else if id.Subject != "" {
			h[pipeline.HeaderUserID] = []string{id.Subject}
		}
		if id.ScopesHeader != "" {
			h[pipeline.HeaderUserScopes] = []string{id.ScopesHeader}
		}
	}
}

// countingReader counts request body bytes and notes a MaxBytesReader trip
// or any other failure to read the client's body (err).
type countingReader struct {
	r        io.ReadCloser
	n        int64
	tooLarge bool
	err      error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.tooLarge = true
		} else {
			c.err = err
		}
	}
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

func (c *countingReader) count() int64 {
	if c == nil {
		return 0
	}
	return c.n
}
