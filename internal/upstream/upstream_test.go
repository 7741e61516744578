package upstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func decode[T any](t *testing.T, r io.Reader) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(r).Decode(&v); err != nil {
		t.Fatalf("decoding response: %v", err)
	}
	return v
}

// rawRequest writes req verbatim on a fresh connection to addr and reads one
// response, so tests control the exact bytes on the wire.
func rawRequest(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestEchoContent(t *testing.T) {
	ts := httptest.NewServer(New("alpha").Handler())
	defer ts.Close()
	addr := ts.Listener.Addr().String()

	body := strings.Repeat("x", 12345)
	req := "POST /a%20b/c%2Fd?q=1&q=2&s=%20 HTTP/1.1\r\n" +
		"Host: example.test:8080\r\n" +
		"X-Dup: one\r\n" +
		"x-dup: two\r\n" +
		"x_under: u1\r\n" +
		"X_Under: u2\r\n" +
		"X-Under: dash\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n", len(body)) +
		"Connection: close\r\n" +
		"\r\n" + body
	resp, raw := rawRequest(t, addr, req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.ContentLength != int64(len(raw)) {
		t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(raw))
	}
	e := decode[Echo](t, bytes.NewReader(raw))

	want := Echo{
		Name:      "alpha",
		Method:    "POST",
		Path:      "/a b/c/d",
		RawPath:   "/a%20b/c%2Fd",
		Query:     "q=1&q=2&s=%20",
		Host:      "example.test:8080",
		BodyBytes: int64(len(body)),
		Proto:     "HTTP/1.1",
	}
	got := e
	got.Headers, got.RemoteAddr = nil, ""
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("echo\n got %+v\nwant %+v", got, want)
	}
	if host, _, err := net.SplitHostPort(e.RemoteAddr); err != nil || host != "127.0.0.1" {
		t.Errorf("remote_addr %q", e.RemoteAddr)
	}
	for k, want := range map[string]string{
		"X-Dup":          "[one two]",
		"X_under":        "[u1 u2]", // net/http canonicalises underscore names too...
		"X-Under":        "[dash]",  // ...but keeps them apart from the dash form
		"Content-Length": "[12345]",
		"Connection":     "[close]",
	} {
		if got := fmt.Sprint(e.Headers[k]); got != want {
			t.Errorf("headers[%q] = %s, want %s (all: %v)", k, got, want, e.Headers)
		}
	}
	if _, ok := e.Headers["Host"]; ok {
		t.Errorf("Host should be in host, not headers: %v", e.Headers)
	}
}

func TestEchoChunkedBody(t *testing.T) {
	ts := httptest.NewServer(New("alpha").Handler())
	defer ts.Close()
	// A body of unknown length goes out chunked; it must still be counted.
	pr, pw := io.Pipe()
	go func() {
		for range 10 {
			pw.Write(make([]byte, 1000))
		}
		pw.Close()
	}()
	resp, err := http.Post(ts.URL+"/up", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	e := decode[Echo](t, resp.Body)
	if e.BodyBytes != 10000 {
		t.Errorf("body_bytes %d, want 10000", e.BodyBytes)
	}
}

func do(t *testing.T, h http.Handler, method, target string, hdr map[string][]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, vs := range hdr {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestControlStatus(t *testing.T) {
	h := New("s").Handler()
	w := do(t, h, "GET", "/x", map[string][]string{HeaderStatus: {"503"}})
	if w.Code != 503 {
		t.Fatalf("status %d", w.Code)
	}
	if e := decode[Echo](t, w.Body); e.Path != "/x" {
		t.Errorf("echo path %q", e.Path)
	}
	w = do(t, h, "GET", "/x", map[string][]string{HeaderStatus: {"204"}})
	if w.Code != 204 || w.Body.Len() != 0 {
		t.Errorf("204: status %d, %d body bytes", w.Code, w.Body.Len())
	}
}

func TestControlBodyBytes(t *testing.T) {
	ts := httptest.NewServer(New("s").Handler())
	defer ts.Close()
	for _, n := range []int{0, 1, 63, 64, 65, 32 << 10, 100000} {
		req, _ := http.NewRequest("GET", ts.URL+"/big", nil)
		req.Header.Set(HeaderBodyBytes, fmt.Sprint(n))
		req.Header.Set(HeaderStatus, "201")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 201 {
			t.Errorf("n=%d: status %d", n, resp.StatusCode)
		}
		if resp.ContentLength != int64(n) {
			t.Errorf("n=%d: Content-Length %d", n, resp.ContentLength)
		}
		if !bytes.Equal(b, Payload(n)) {
			t.Errorf("n=%d: body differs from Payload(n) (got %d bytes)", n, len(b))
		}
	}
}

func TestControlHeader(t *testing.T) {
	h := New("s").Handler()
	w := do(t, h, "GET", "/x", map[string][]string{HeaderAddHeader: {
		"Keep-Alive: timeout=5",
		"X-Multi: a, b",
		"X-Multi: c",
		"X-Empty:",
		"Content-Type: text/plain",
		"Content-Length: 1", // ignored: the server frames the body
	}})
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := w.Header()
	if v := got.Get("Keep-Alive"); v != "timeout=5" {
		t.Errorf("Keep-Alive %q", v)
	}
	if v := fmt.Sprint(got["X-Multi"]); v != "[a, b c]" {
		t.Errorf("X-Multi %s", v)
	}
	if v, ok := got["X-Empty"]; !ok || fmt.Sprint(v) != "[]" {
		t.Errorf("X-Empty %q present=%v", v, ok)
	}
	if v := fmt.Sprint(got["Content-Type"]); v != "[text/plain]" {
		t.Errorf("Content-Type %s", v)
	}
	if v := got.Get("Content-Length"); v != fmt.Sprint(w.Body.Len()) {
		t.Errorf("Content-Length %q for %d bytes", v, w.Body.Len())
	}
}

func TestControlClose(t *testing.T) {
	ts := httptest.NewServer(New("s").Handler())
	defer ts.Close()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: h\r\n%s: 1\r\n\r\n", HeaderClose)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if !resp.Close {
		t.Errorf("response does not announce close: %v", resp.Header)
	}
	// The server must then close its side: the next read sees EOF.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after response: read %d, %v; want EOF", n, err)
	}

	// "0" is a no-op: the connection stays open for a second request.
	resp, _ = rawRequest(t, ts.Listener.Addr().String(),
		"GET /x HTTP/1.1\r\nHost: h\r\n"+HeaderClose+": 0\r\n\r\n")
	if resp.Close {
		t.Errorf("%s: 0 closed the connection", HeaderClose)
	}
}

func TestControlDelay(t *testing.T) {
	h := New("s").Handler()
	start := time.Now()
	w := do(t, h, "GET", "/x", map[string][]string{HeaderDelay: {"30ms"}})
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("answered after %v, want >= 30ms", d)
	}
}

func TestDelayReturnsWhenClientGoes(t *testing.T) {
	entered := make(chan struct{})
	finished := make(chan struct{})
	inner := New("s").Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(finished)
		close(entered)
		inner.ServeHTTP(w, r)
	}))
	defer ts.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/slow", nil)
	req.Header.Set(HeaderDelay, "1h")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	cancel()
	if err := <-errc; err == nil {
		t.Error("request succeeded; want it cancelled")
	}
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still waiting 10s after the client went away")
	}
}

func TestInvalidControls(t *testing.T) {
	h := New("s").Handler()
	for _, tc := range []struct{ header, value string }{
		{HeaderDelay, "soon"},
		{HeaderDelay, "-1s"},
		{HeaderStatus, "abc"},
		{HeaderStatus, "99"},
		{HeaderStatus, "600"},
		{HeaderBodyBytes, "-1"},
		{HeaderBodyBytes, "1e3"},
		{HeaderBodyBytes, fmt.Sprint(MaxBodyBytes + 1)},
		{HeaderAddHeader, "no colon"},
		{HeaderAddHeader, ": empty name"},
		{HeaderAddHeader, "Bad Name: v"},
		{HeaderClose, "maybe"},
	} {
		w := do(t, h, "GET", "/x", map[string][]string{
			tc.header:    {tc.value},
			HeaderStatus: {"201"}, // not applied when another control is bad
		})
		if tc.header == HeaderStatus {
			w = do(t, h, "GET", "/x", map[string][]string{tc.header: {tc.value}})
		}
		if w.Code != 400 {
			t.Errorf("%s: %q: status %d, want 400", tc.header, tc.value, w.Code)
			continue
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.header, ct)
		}
		e := decode[ControlError](t, w.Body)
		if e.Header != tc.header || !strings.Contains(e.Error, tc.header) {
			t.Errorf("%s: %q: error %+v does not name the header", tc.header, tc.value, e)
		}
	}
	// A single-value control given twice is ambiguous: rejected.
	w := do(t, h, "GET", "/x", map[string][]string{HeaderStatus: {"201", "202"}})
	if w.Code != 400 {
		t.Errorf("repeated %s: status %d, want 400", HeaderStatus, w.Code)
	}
}

func TestHealthAndControl(t *testing.T) {
	s := New("hc")
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	health := func() (int, Health) {
		t.Helper()
		resp, err := http.Get(ts.URL + HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, decode[Health](t, resp.Body)
	}
	control := func(method, query string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+ControlHealthPath+query, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}

	if code, h := health(); code != 200 || h != (Health{Status: "ok", Name: "hc"}) {
		t.Fatalf("healthz: %d %+v", code, h)
	}
	if code, body := control("POST", "?status=503"); code != 200 || body != `{"health_status":503}` {
		t.Fatalf("control: %d %s", code, body)
	}
	if code, h := health(); code != 503 || h != (Health{Status: "unhealthy", Name: "hc"}) {
		t.Errorf("healthz after 503: %d %+v", code, h)
	}
	if code, body := control("GET", ""); code != 200 || body != `{"health_status":503}` {
		t.Errorf("control GET: %d %s", code, body)
	}
	for _, q := range []string{"", "?status=abc", "?status=42", "?status=600"} {
		if code, _ := control("POST", q); code != 400 {
			t.Errorf("control POST %q: %d, want 400", q, code)
		}
	}
	if code, _ := control("DELETE", ""); code != 405 {
		t.Errorf("control DELETE: %d, want 405", code)
	}
	if s.HealthStatus() != 503 {
		t.Errorf("bad control requests changed the status to %d", s.HealthStatus())
	}
	if code, _ := control("POST", "?status=200"); code != 200 {
		t.Fatalf("control back to 200: %d", code)
	}
	if code, h := health(); code != 200 || h.Status != "ok" {
		t.Errorf("healthz after recovery: %d %+v", code, h)
	}
	resp, err := http.Get(ts.URL + "/_control/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown control endpoint: %d", resp.StatusCode)
	}
	// /healthz is only special for GET and HEAD; a POST is echoed.
	resp, err = http.Post(ts.URL+HealthPath, "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	e := decode[Echo](t, resp.Body)
	resp.Body.Close()
	if e.Method != "POST" || e.BodyBytes != 2 {
		t.Errorf("POST /healthz: %+v", e)
	}
}

func TestStartServeClose(t *testing.T) {
	s, err := Start("127.0.0.1:0", "started")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || s.URL() != "http://"+s.Addr() {
		t.Errorf("URL %q Addr %q", s.URL(), s.Addr())
	}
	resp, err := http.Get(s.URL() + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	e := decode[Echo](t, resp.Body)
	resp.Body.Close()
	if e.Name != "started" || e.Path != "/hello" {
		t.Errorf("echo %+v", e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	default:
		t.Error("Done not closed after Shutdown")
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err after Shutdown: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Shutdown: %v", err)
	}
	if _, err := http.Get(s.URL() + "/hello"); err == nil {
		t.Error("still serving after Shutdown")
	}

	// Close interrupts a delayed request and does not wait for it.
	s = New("started")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, finished := make(chan struct{}), make(chan struct{})
	s.serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(finished)
		close(entered)
		s.ServeHTTP(w, r)
	}))
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", s.URL()+"/slow", nil)
		req.Header.Set(HeaderDelay, "1h")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Error("delayed request succeeded after Close")
	}
	<-finished
}

func TestNewNotStarted(t *testing.T) {
	s := New("n")
	if s.Addr() != "" || s.URL() != "" || s.Done() != nil {
		t.Errorf("unstarted server reports an address")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if s.Name() != "n" || s.HealthStatus() != 200 {
		t.Errorf("name %q health %d", s.Name(), s.HealthStatus())
	}
	if err := s.SetHealthStatus(42); err == nil {
		t.Error("SetHealthStatus(42) accepted")
	}
}

func BenchmarkEcho(b *testing.B) {
	h := New("bench").Handler()
	r := httptest.NewRequest("GET", "/api/v1/users/42?verbose=1", nil)
	r.Header.Set("User-Agent", "gatelab-bench")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("X-Request-Id", "0123456789abcdef")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

func BenchmarkEchoHTTP(b *testing.B) {
	ts := httptest.NewServer(New("bench").Handler())
	defer ts.Close()
	client := ts.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(ts.URL + "/api/v1/users/42")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
