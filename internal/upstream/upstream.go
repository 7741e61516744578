package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Names of the per-request control headers (see the package documentation).
const (
	HeaderDelay     = "X-Upstream-Delay"
	HeaderStatus    = "X-Upstream-Status"
	HeaderBodyBytes = "X-Upstream-Body-Bytes"
	HeaderAddHeader = "X-Upstream-Header"
	HeaderClose     = "X-Upstream-Close"
	// HeaderEcho makes a static server echo this request (parity probes).
	HeaderEcho = "X-Upstream-Echo"
)

// Reserved paths.
const (
	HealthPath        = "/healthz"
	ControlHealthPath = "/_control/health"
	controlPrefix     = "/_control/"
)

// MaxBodyBytes is the largest X-Upstream-Body-Bytes accepted.
const MaxBodyBytes = 1 << 30

// Echo is the JSON document answered to an echoed request.
type Echo struct {
	Name       string              `json:"name"`
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	RawPath    string              `json:"raw_path"`
	Query      string              `json:"query"`
	Host       string              `json:"host"`
	Headers    map[string][]string `json:"headers"`
	BodyBytes  int64               `json:"body_bytes"`
	RemoteAddr string              `json:"remote_addr"`
	Proto      string              `json:"proto"`
}

// Health is the JSON document answered by /healthz.
type Health struct {
	Status string `json:"status"`
	Name   string `json:"name"`
}

// ControlError is the JSON document answered to a request with an invalid
// control header.
type ControlError struct {
	Error  string `json:"error"`
	Header string `json:"header,omitempty"`
}

// Options configure a server beyond its name. The zero value is the echo
// server with no behaviour.
type Options struct {
	// Static answers every request (but /healthz and /_control/) with a fixed
	// body instead of the echo; per-request control headers are ignored.
	Static bool
	// BodyBytes is the static body's size: 0 answers {"ok":true}
	// (application/json), n > 0 answers Payload(n)
	// (application/octet-stream). Only with Static.
	BodyBytes int
	// Behavior is the behaviour the server starts with, and the one a
	// "reset" control goes back to.
	Behavior Behavior
	// IdleTimeout closes a keep-alive connection idle for this long (Start
	// only: it is http.Server.IdleTimeout). 0 never does.
	IdleTimeout time.Duration
	// Seed seeds the delay and error draws (see Stats.Requests).
	Seed uint64
}

// Validate returns every problem with o, or nil.
func (o Options) Validate() error {
	var errs []error
	if o.BodyBytes < 0 || o.BodyBytes > MaxBodyBytes {
		errs = append(errs, fmt.Errorf("body bytes %d out of range 0..%d", o.BodyBytes, MaxBodyBytes))
	}
	if o.BodyBytes != 0 && !o.Static {
		errs = append(errs, errors.New("body bytes is for the static mode only"))
	}
	if o.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle timeout %v is negative", o.IdleTimeout))
	}
	if err := o.Behavior.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Server is the fake backend. Build one with New or NewWith (handler only)
// or Start or StartWith (listening). Its methods are safe for concurrent use.
type Server struct {
	name   string
	health atomic.Int32 // 0 means 200

	static      *staticAnswer // nil: echo mode
	seed        uint64
	idleTimeout time.Duration
	initial     Behavior // for "reset"
	beh         atomic.Pointer[behavior]
	setMu       sync.Mutex // serialises SetBehavior
	ctr         counters
	stallHook   func() // tests: called as a request starts waiting in a stall

	// Set by Start only.
	ln      net.Listener
	srv     *http.Server
	done    chan struct{}
	serveMu sync.Mutex
	err     error
}

// New returns an echo server named name that is not listening; mount Handler.
func New(name string) *Server {
	s, _ := NewWith(name, Options{}) // the zero Options are valid
	return s
}

// NewWith returns a server named name built from o that is not listening;
// mount Handler (and ConnContext, for MaxConnRequests).
func NewWith(name string, o Options) (*Server, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("building upstream %s: %w", name, err)
	}
	s := &Server{name: name, seed: o.Seed, idleTimeout: o.IdleTimeout}
	if o.Static {
		s.static = newStaticAnswer(o.BodyBytes)
	}
	if err := s.SetBehavior(o.Behavior); err != nil {
		return nil, fmt.Errorf("building upstream %s: %w", name, err)
	}
	s.initial = s.Behavior()
	return s, nil
}

// Start listens on addr (host:port; port 0 picks a free one), serves the echo
// server in the background and returns once the listener is open.
func Start(addr, name string) (*Server, error) {
	return StartWith(context.Background(), addr, name, Options{})
}

// StartWith is Start for a server built from o; ctx bounds the listen only.
func StartWith(ctx context.Context, addr, name string, o Options) (*Server, error) {
	s, err := NewWith(name, o)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	s.serve(ln, s)
	return s, nil
}

// serve serves h on ln in the background (h is s itself except in tests).
func (s *Server) serve(ln net.Listener, h http.Handler) {
	s.ln = ln
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       s.idleTimeout,
		ConnContext:       s.ConnContext,
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveMu.Lock()
			s.err = err
			s.serveMu.Unlock()
		}
	}()
}

// Name returns the server's name.
func (s *Server) Name() string { return s.name }

// Handler returns the server's HTTP handler (the Server itself).
func (s *Server) Handler() http.Handler { return s }

// Addr returns the listening address (host:port), or "" for a server from New.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL returns "http://" + Addr(), or "" for a server from New.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.Addr()
}

// Done is closed when a started server has stopped serving (nil for a server
// from New). Err then tells why.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns the error that stopped serving, or nil if serving stopped because
// of Shutdown or Close (or has not stopped).
func (s *Server) Err() error {
	s.serveMu.Lock()
	defer s.serveMu.Unlock()
	return s.err
}

// Shutdown stops a started server gracefully: it stops accepting, ends a
// stall (stalled requests are answered), waits for in-flight requests until
// ctx ends, and waits for the serve loop to return. It is a no-op for a
// server from New.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	s.releaseStall()
	err := s.srv.Shutdown(ctx)
	if err == nil {
		<-s.done
	}
	return err
}

// Close stops a started server at once, closing every connection (delayed
// requests give up), and waits for the serve loop to return. It is a no-op for
// a server from New.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	<-s.done
	return err
}

// SetHealthStatus sets the status /healthz answers (200..599); it is what
// POST /_control/health does.
func (s *Server) SetHealthStatus(code int) error {
	if code < 200 || code > 599 {
		return fmt.Errorf("health status %d out of range 200..599", code)
	}
	s.health.Store(int32(code))
	return nil
}

// HealthStatus returns the status /healthz currently answers.
func (s *Server) HealthStatus() int {
	if c := s.health.Load(); c != 0 {
		return int(c)
	}
	return http.StatusOK
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if strings.HasPrefix(p, controlPrefix) {
		s.serveControl(w, r)
		return
	}
	b := s.beh.Load()
	switch {
	case b.Down:
		s.drop(w)
	case p == HealthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.serveHealth(w)
	case s.static != nil && r.Header[HeaderEcho] == nil:
		s.serveStatic(w, r, b)
	default:
		s.serveEcho(w, r, b)
	}
}

func (s *Server) serveHealth(w http.ResponseWriter) {
	code := s.HealthStatus()
	h := Health{Status: "ok", Name: s.name}
	if code < 200 || code > 299 {
		h.Status = "unhealthy"
	}
	writeJSON(w, code, h)
}

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case ControlHealthPath:
	case ControlBehaviorPath:
		s.serveBehavior(w, r)
		return
	case ControlStatsPath:
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			writeJSON(w, http.StatusMethodNotAllowed, ControlError{Error: "method " + r.Method + " not allowed"})
			return
		}
		writeJSON(w, http.StatusOK, s.Stats())
		return
	default:
		writeJSON(w, http.StatusNotFound, ControlError{Error: "unknown control endpoint " + r.URL.Path})
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		v := r.URL.Query().Get("status")
		code, err := strconv.Atoi(v)
		if err == nil {
			err = s.SetHealthStatus(code)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, ControlError{Error: fmt.Sprintf("invalid status %q: want an integer 200..599", v)})
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, ControlError{Error: "method " + r.Method + " not allowed"})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		HealthStatus int `json:"health_status"`
	}{s.HealthStatus()})
}

// controls is the parsed set of per-request control headers.
type controls struct {
	delay     time.Duration
	status    int
	bodyBytes int64 // -1: answer with the echo
	close     bool
	headers   [][2]string
}

// parseControls reads the control headers. On error it returns the name of the
// offending header.
func parseControls(h http.Header) (c controls, header string, err error) {
	c.status = http.StatusOK
	c.bodyBytes = -1
	if v, ok := single(h, HeaderDelay); ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return c, HeaderDelay, fmt.Errorf("want a non-negative duration such as 50ms, got %q", v)
		}
		c.delay = d
	}
	if v, ok := single(h, HeaderStatus); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 200 || n > 599 {
			return c, HeaderStatus, fmt.Errorf("want an integer 200..599, got %q", v)
		}
		c.status = n
	}
	if v, ok := single(h, HeaderBodyBytes); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 || n > MaxBodyBytes {
			return c, HeaderBodyBytes, fmt.Errorf("want an integer 0..%d, got %q", MaxBodyBytes, v)
		}
		c.bodyBytes = n
	}
	if v, ok := single(h, HeaderClose); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return c, HeaderClose, fmt.Errorf("want 1 or 0, got %q", v)
		}
		c.close = b
	}
	for _, v := range h[HeaderAddHeader] {
		name, value, ok := strings.Cut(v, ":")
		name = strings.TrimSpace(name)
		if !ok || !httpguts.ValidHeaderFieldName(name) {
			return c, HeaderAddHeader, fmt.Errorf(`want "Name: value" with a valid header name, got %q`, v)
		}
		c.headers = append(c.headers, [2]string{name, strings.TrimSpace(value)})
	}
	return c, "", nil
}

// single returns the value of a control header that may appear at most once;
// a repeated one is reported as present with a value that fails to parse.
func single(h http.Header, name string) (string, bool) {
	vs := h[name]
	switch len(vs) {
	case 0:
		return "", false
	case 1:
		return vs[0], true
	}
	return strings.Join(vs, ", "), true
}

func (s *Server) serveEcho(w http.ResponseWriter, r *http.Request, b *behavior) {
	// Read the body first, whatever happens next, so the connection stays
	// reusable and body_bytes is exact.
	n, readErr := io.Copy(io.Discard, r.Body)

	var c controls
	if hasControls(r.Header) {
		var header string
		var err error
		c, header, err = parseControls(r.Header)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, ControlError{Error: "invalid " + header + ": " + err.Error(), Header: header})
			return
		}
	} else {
		c = controls{status: http.StatusOK, bodyBytes: -1}
	}
	if readErr != nil {
		writeJSON(w, http.StatusBadRequest, ControlError{Error: "reading request body: " + readErr.Error()})
		return
	}

	status, closeConn, ok := s.admit(w, r, b, c.status, c.delay)
	if !ok {
		return
	}
	c.status = status
	c.close = c.close || closeConn

	h := w.Header()
	for _, kv := range c.headers {
		h.Add(kv[0], kv[1])
	}
	h.Del("Content-Length")
	if c.close {
		h.Set("Connection", "close")
	}
	bodyAllowed := c.status != http.StatusNoContent && c.status != http.StatusNotModified

	if c.bodyBytes >= 0 {
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/octet-stream")
		}
		if !bodyAllowed {
			w.WriteHeader(c.status)
			return
		}
		h.Set("Content-Length", strconv.FormatInt(c.bodyBytes, 10))
		w.WriteHeader(c.status)
		writePayload(w, c.bodyBytes)
		return
	}

	eb := encPool.Get().(*encBuf)
	defer eb.put()
	eb.buf.Reset()
	rawPath := r.RequestURI
	if i := strings.IndexByte(rawPath, '?'); i >= 0 {
		rawPath = rawPath[:i]
	}
	_ = eb.enc.Encode(&Echo{ // cannot fail: strings, ints and a string map
		Name:       s.name,
		Method:     r.Method,
		Path:       r.URL.Path,
		RawPath:    rawPath,
		Query:      r.URL.RawQuery,
		Host:       r.Host,
		Headers:    r.Header,
		BodyBytes:  n,
		RemoteAddr: r.RemoteAddr,
		Proto:      r.Proto,
	})
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	if !bodyAllowed {
		w.WriteHeader(c.status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(eb.buf.Len()))
	w.WriteHeader(c.status)
	_, _ = w.Write(eb.buf.Bytes())
}

// hasControls is a cheap check that lets the common request skip parsing.
func hasControls(h http.Header) bool {
	for _, k := range [...]string{HeaderDelay, HeaderStatus, HeaderBodyBytes, HeaderAddHeader, HeaderClose} {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

// encBuf is a pooled echo buffer with its encoder.
type encBuf struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encPool = sync.Pool{New: func() any {
	eb := new(encBuf)
	eb.enc = json.NewEncoder(&eb.buf)
	eb.enc.SetEscapeHTML(false)
	return eb
}}

func (eb *encBuf) put() {
	if eb.buf.Cap() > 64<<10 { // do not keep the odd huge echo around
		return
	}
	encPool.Put(eb)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// The X-Upstream-Body-Bytes payload: byte i is alphabet[i%64]. chunk is a
// whole number of alphabet periods, so writing it repeatedly keeps the pattern.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

var chunk = func() []byte {
	b := make([]byte, 32<<10)
	for i := range b {
		b[i] = alphabet[i%len(alphabet)]
	}
	return b
}()

// Payload returns the n bytes a request with X-Upstream-Body-Bytes: n is
// answered with, for checking that a body came through intact.
func Payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[i%len(alphabet)]
	}
	return b
}

func writePayload(w io.Writer, n int64) {
	for n > 0 {
		k := min(n, int64(len(chunk)))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		n -= k
	}
}
