package nethttp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/server/internal/connlimit"
	"github.com/gatelab/gatelab/engines/server/internal/framing"
	"github.com/gatelab/gatelab/engines/server/internal/rawio"
	"github.com/gatelab/gatelab/engines/server/internal/uppool"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func init() { engines.RegisterServer("nethttp", New) }

var _ engines.Server = (*Server)(nil)

// Server is the net/http server engine.
type Server struct {
	g     *pipeline.Gateway
	srv   *http.Server
	pools sync.Map // host:port -> *uppool.Pool
	bufs  sync.Pool

	maxConns int
	idleFor  time.Duration
}

// New builds the engine around g; listener limits come from g.Limits.
func New(g *pipeline.Gateway) (engines.Server, error) {
	l := g.Limits
	s := &Server{g: g}
	s.maxConns = l.MaxConnsPerHost
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
		// net/http's own messages (accept errors, panics) go to the
		// process's operational log.
		ErrorLog:    slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
		ConnContext: connContext,
		ConnState:   connState,
		// "OPTIONS *" goes to the pipeline like any request (and gets 400
		// there, as on fasthttp) instead of net/http's built-in 200.
		DisableGeneralOptionsHandler: true,
	}
	s.bufs.New = func() any { b := make([]byte, 32*1024); return &b }
	g.Metrics().SetUpstreamConns(uppool.OpenConns(g, &s.pools))
	uppool.RetireOnApply(g, &s.pools)
	return s, nil
}

// Serve runs until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	// Counted below the cap, which closes the connections it refuses and
	// evicts itself.
	ln = s.g.Metrics().CountTrafficConns(framing.Listen(rawio.Listen(ln)))
	err := s.srv.Serve(connlimit.Wrap(ln, s.g.Limits.MaxConnections))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown drains: stops accepting, waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.pools.Range(func(_, v any) bool { v.(*uppool.Pool).Close(); return true })
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

// exchange is the engine's side of one request (pipeline.Exchange); pooled.
type exchange struct {
	s *Server
	w http.ResponseWriter
	r *http.Request
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// ServeHTTP hands the request to the pipeline. Response header values are
// cloned: net/http serialises the header map after the handler returns,
// when the Decision (whose buffers the values point into) is already
// released.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchanges.Get().(*exchange)
	ex.s, ex.w, ex.r = s, w, r
	s.g.Serve(r.Context(), ex)
	*ex = exchange{}
	exchanges.Put(ex)
}

func (ex *exchange) ReadRequest(req *pipeline.Request, _ *[64]byte) {
	r := ex.r
	req.MethodText = r.Method
	req.Method = pipeline.ParseMethod(r.Method)
	var authority string
	authority, req.RawPath, req.Query = pipeline.SplitTarget(r.RequestURI)
	req.Host = r.Host
	if authority != "" {
		req.Host = authority
	}
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
	for _, v := range h[hConnection] {
		req.AddConnection(v)
	}
	req.Expect = h.Get("Expect")
	req.Head = framing.Of(connOf(r.Context())).Next()
}

type connKey struct{}

// connContext keeps each request's connection in its context, for the
// framing verdict of its head.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func connOf(ctx context.Context) net.Conn {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	return c
}

// canonicalKeys are the canonical forms of the header names the pipeline
// sets, so they replace (not sit beside) an upstream's spelling of the same
// header in the map, and are written as fasthttp writes them. Read-only.
var canonicalKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		pipeline.HeaderRequestID, pipeline.HeaderTraceparent, pipeline.HeaderXFF, pipeline.HeaderXFProto,
		pipeline.HeaderXFHost, pipeline.HeaderVia, pipeline.HeaderUserID, pipeline.HeaderUserScopes,
		pipeline.HeaderPartnerID, "X-Response-Time-Ms", "X-RateLimit-Limit", "X-RateLimit-Remaining",
		"X-RateLimit-Reset", "RateLimit-Policy", "RateLimit", "Retry-After", "WWW-Authenticate", "Allow",
		"Deprecation", "Sunset", "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age", "Vary",
		"X-Gatelab-Config-Version", "Connection",
	} {
		m[k] = http.CanonicalHeaderKey(k)
	}
	return m
}()

func canonical(k string) string {
	if c, ok := canonicalKeys[k]; ok {
		return c
	}
	return http.CanonicalHeaderKey(k)
}

// connState tells the connection cap which connections are idle.
func connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateIdle:
		connlimit.Idle(c)
	case http.StateActive:
		connlimit.Active(c)
	}
}

func hostOnly(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

func (ex *exchange) Answer(status int, headers []pipeline.Header, body []byte, close bool) {
	h := ex.w.Header()
	clear(h)
	for _, kv := range headers {
		h[canonical(kv.Key)] = []string{strings.Clone(kv.Value)}
	}
	if len(body) > 0 {
		// An empty body gets no Content-Length: net/http adds "0" where
		// it belongs, and none on HEAD (whose GET body is not empty).
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	if close {
		h["Connection"] = []string{"close"}
	}
	ex.w.WriteHeader(status)
	if len(body) > 0 {
		ex.w.Write(body)
	}
}

func (s *Server) pool(inst *pipeline.Instance) *uppool.Pool {
	if p, ok := s.pools.Load(inst.Host); ok {
		return p.(*uppool.Pool)
	}
	p, _ := s.pools.LoadOrStore(inst.Host, uppool.New(uppool.Options{Addr: inst.Host, TLS: inst.Scheme == "https",
		MaxConns: s.maxConns, IdleTimeout: s.idleFor}))
	return p.(*uppool.Pool)
}

// Forward proxies the request to f.Target on a pooled connection.
func (ex *exchange) Forward(f *pipeline.Forward) pipeline.Forwarded {
	r, w := ex.r, ex.w
	out := &http.Request{
		Method:     r.Method,
		URL:        &url.URL{Scheme: f.Target.Scheme, Host: f.Target.Host, Opaque: f.Path, RawQuery: f.Query},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, len(r.Header)+8),
		Host:       f.Target.Host,
	}
	for k, v := range r.Header {
		if f.KeepHeader(k) {
			out.Header[k] = v
		}
	}
	ups := f.UpstreamHeaders()
	vals := headerValues(ups)
	for i, kv := range ups {
		out.Header[canonical(kv.Key)] = vals[i : i+1 : i+1]
	}
	if _, ok := out.Header[hUserAgent]; !ok {
		// Request.Write would add Go's default; send none, as the client.
		out.Header[hUserAgent] = noUserAgent
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		out.Body = io.NopCloser(f.Body.Wrap(r.Body, r.ContentLength))
		out.ContentLength = r.ContentLength
		if r.ContentLength < 0 {
			out.TransferEncoding = []string{"chunked"}
		}
	}

	sent := f.Now()
	up := ex.s.pool(f.Target)
	var ct uppool.Timing
	resp, pc, err := roundTrip(r.Context(), up, out, f.Deadline, &ct)
	upstream := f.Now().Sub(sent)
	if err != nil {
		fail := pipeline.FailOther
		switch {
		case errors.Is(err, errTimeout):
			fail = pipeline.FailTimeout
		case errors.Is(err, uppool.ErrNoFreeConns):
			fail = pipeline.FailNoFreeConns
		case pipeline.DialFailed(err):
			fail = pipeline.FailDial
		}
		return pipeline.Forwarded{Failure: fail, Upstream: upstream, Conn: ct}
	}

	h := w.Header()
	rconn := strings.Join(resp.Header[hConnection], ", ")
	for k, v := range resp.Header {
		if f.KeepResponseHeader(k, rconn) {
			h[k] = v
		}
	}
	now := f.Now()
	rhs := f.ResponseHeaders(now)
	vals = headerValues(rhs)
	for i, kv := range rhs {
		k := canonical(kv.Key)
		if kv.Add {
			h[k] = append(h[k], vals[i])
		} else {
			h[k] = vals[i : i+1 : i+1]
		}
	}
	w.WriteHeader(resp.StatusCode)
	bp := ex.s.bufs.Get().(*[]byte)
	n, copyErr := copyBody(w, resp.Body, *bp)
	ex.s.bufs.Put(bp)
	resp.Body.Close()
	release(up, pc, resp, copyErr == nil)
	res := pipeline.Forwarded{Status: resp.StatusCode, Upstream: upstream, HeadersAt: now, ResponseBytes: n, Conn: ct}
	switch copyErr.(type) {
	case nil:
	case readError:
		res.BodyFailed = true
	default:
		res.ClientGone = true
	}
	return res
}

// noUserAgent is the User-Agent value of a request the client sent without
// one (read-only: Request.Write only reads it).
var noUserAgent = []string{""}

// headerValues copies the values of kvs (which point into buffers the
// pipeline reuses after the request) into one string and one slice: two
// allocations for all of them, where a slice and a clone each would cost
// two per header. Each value is vals[i]; vals[i:i+1:i+1] is a one-value
// header that an append copies instead of overwriting its neighbour.
func headerValues(kvs []pipeline.Header) []string {
	n := 0
	for _, kv := range kvs {
		n += len(kv.Value)
	}
	var b strings.Builder
	b.Grow(n)
	for _, kv := range kvs {
		b.WriteString(kv.Value)
	}
	all := b.String()
	vals := make([]string, len(kvs))
	off := 0
	for i, kv := range kvs {
		vals[i] = all[off : off+len(kv.Value)]
		off += len(kv.Value)
	}
	return vals
}

// readError marks a failure reading the upstream's body (vs writing it to
// the client).
type readError struct{ error }

// copyBody streams src to dst, telling a read failure (the upstream's) from
// a write failure (the client's).
func copyBody(dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, readError{rerr}
		}
	}
}
