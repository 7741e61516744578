package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustStart(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := StartWith(context.Background(), "127.0.0.1:0", "t", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// get does one request with client and reports whether it went on a reused
// connection.
func get(t *testing.T, client *http.Client, method, url string, body io.Reader, hdr ...string) (*http.Response, []byte, bool) {
	t.Helper()
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, b, reused
}

func TestStaticBodyAndHeaders(t *testing.T) {
	s := mustStart(t, Options{Static: true})
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	resp, b, _ := get(t, client, "GET", s.URL()+"/api/v1/users/42?x=1", nil,
		HeaderStatus, "503", HeaderBodyBytes, "10") // ignored in static mode
	if resp.StatusCode != 200 || string(b) != `{"ok":true}` {
		t.Fatalf("status %d body %q", resp.StatusCode, b)
	}
	if ct, cl := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"); ct != "application/json" || cl != "11" {
		t.Errorf("Content-Type %q Content-Length %q", ct, cl)
	}
	if resp.Header.Get("Date") == "" || resp.Close {
		t.Errorf("headers %v close %v", resp.Header, resp.Close)
	}
	if len(resp.Header) != 3 {
		t.Errorf("headers beyond Content-Type, Content-Length and Date: %v", resp.Header)
	}

	// A large body is drained: the connection is reused for the next request.
	resp, b, _ = get(t, client, "POST", s.URL()+"/upload", bytes.NewReader(make([]byte, 1<<20)))
	if resp.StatusCode != 200 || string(b) != `{"ok":true}` {
		t.Fatalf("POST: status %d body %q", resp.StatusCode, b)
	}
	if _, _, reused := get(t, client, "GET", s.URL()+"/next", nil); !reused {
		t.Error("the connection was not reused after a POST with a 1 MiB body")
	}

	resp, b, _ = get(t, client, "HEAD", s.URL()+"/x", nil)
	if resp.StatusCode != 200 || len(b) != 0 || resp.ContentLength != 11 {
		t.Errorf("HEAD: status %d, %d body bytes, Content-Length %d", resp.StatusCode, len(b), resp.ContentLength)
	}

	// A parity probe (X-Upstream-Echo) is echoed: the path and headers
	// a proxy forwarded are visible even in static mode.
	resp, b, _ = get(t, client, "GET", s.URL()+"/users/me?q=1", nil, HeaderEcho, "1", "X-Probe", "p")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"path":"/users/me"`) || !strings.Contains(string(b), `"X-Probe":["p"]`) {
		t.Fatalf("echo probe in static mode: status %d body %s", resp.StatusCode, b)
	}

	// /healthz and /_control/ keep their meaning.
	resp, b, _ = get(t, client, "GET", s.URL()+HealthPath, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"ok"`) {
		t.Errorf("healthz: %d %s", resp.StatusCode, b)
	}
	resp, _, _ = get(t, client, "GET", s.URL()+ControlBehaviorPath, nil)
	if resp.StatusCode != 200 {
		t.Errorf("control: %d", resp.StatusCode)
	}
}

func TestStaticBodyBytes(t *testing.T) {
	s := mustStart(t, Options{Static: true, BodyBytes: 100000})
	resp, b, _ := get(t, http.DefaultClient, "GET", s.URL()+"/big", nil)
	if resp.StatusCode != 200 || !bytes.Equal(b, Payload(100000)) {
		t.Errorf("status %d, %d bytes equal to Payload: %v", resp.StatusCode, len(b), bytes.Equal(b, Payload(100000)))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" || resp.ContentLength != 100000 {
		t.Errorf("Content-Type %q Content-Length %d", ct, resp.ContentLength)
	}
}

func TestOptionsValidate(t *testing.T) {
	_, err := NewWith("bad", Options{
		BodyBytes:   -1,
		IdleTimeout: -time.Second,
		Behavior:    Behavior{ErrorRate: 1.5, ErrorStatus: 200, MaxConnRequests: -1, Delay: FixedDelay(-time.Second)},
	})
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"upstream bad", "body bytes", "idle timeout", "error_rate", "error_status", "max_conn_requests", "delay"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := NewWith("b", Options{BodyBytes: 10}); err == nil || !strings.Contains(err.Error(), "static") {
		t.Errorf("BodyBytes without Static: %v", err)
	}
	if _, err := StartWith(context.Background(), "127.0.0.1:-1", "b", Options{}); err == nil || !strings.Contains(err.Error(), "listening on") {
		t.Errorf("bad address: %v", err)
	}
}

// TestStaticAllocs holds the static handler to zero allocations of its own
// (net/http's per-request work is not measured here), with the behaviour's
// draws and the connection count on.
func TestStaticAllocs(t *testing.T) {
	for _, b := range []Behavior{
		{},
		{ErrorRate: 0.5, ErrorStatus: 503, MaxConnRequests: 1000000},
		{Delay: UniformDelay(0, 0)}, // draws, waits for nothing
		{Delay: NormalDelay(0, 0)},  // idem, through norm()
	} {
		s, err := NewWith("a", Options{Static: true, Behavior: b})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/api/v1/users/42", nil)
		r = r.WithContext(s.ConnContext(r.Context(), nil))
		w := &discardWriter{h: http.Header{}}
		n := testing.AllocsPerRun(1000, func() {
			clear(w.h)
			s.ServeHTTP(w, r)
		})
		if n != 0 {
			t.Errorf("behaviour %+v: %v allocs per request, want 0", b, n)
		}
	}
}

func BenchmarkStatic(b *testing.B) {
	s, _ := NewWith("bench", Options{Static: true})
	r := httptest.NewRequest("GET", "/api/v1/users/42?verbose=1", nil)
	r.Header.Set("User-Agent", "gatelab-bench")
	r.Header.Set("Accept", "application/json")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		s.ServeHTTP(w, r)
	}
}

func BenchmarkStaticHTTP(b *testing.B) {
	s := mustStart(b, Options{Static: true})
	benchHTTP(b, s.URL()+"/api/v1/users/42", 1)
}

func BenchmarkStaticHTTPParallel(b *testing.B) {
	s := mustStart(b, Options{Static: true})
	benchHTTP(b, s.URL()+"/api/v1/users/42", 16)
}

func BenchmarkEchoHTTPParallel(b *testing.B) {
	s := mustStart(b, Options{})
	benchHTTP(b, s.URL()+"/api/v1/users/42", 16)
}

// benchHTTP sends GETs to url over keep-alive connections from par
// goroutines per core (par 1: one goroutine).
func benchHTTP(b *testing.B, url string, par int) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	one := func() {
		resp, err := client.Get(url)
		if err != nil {
			b.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportAllocs()
	if par == 1 {
		for b.Loop() {
			one()
		}
		return
	}
	b.SetParallelism(par)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			one()
		}
	})
}

// Raw benchmarks: a minimal keep-alive HTTP/1.1 client (pre-built request,
// header lines scanned for Content-Length, body discarded) that allocates
// nothing, so the numbers are mostly the server's.
func BenchmarkStaticRaw(b *testing.B) {
	benchRaw(b, mustStart(b, Options{Static: true}))
}

func BenchmarkEchoRaw(b *testing.B) {
	benchRaw(b, mustStart(b, Options{}))
}

func benchRaw(b *testing.B, s *Server) {
	req := []byte("GET /api/v1/users/42 HTTP/1.1\r\nHost: bench\r\nUser-Agent: gatelab-bench\r\nAccept: application/json\r\n\r\n")
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 16<<10)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if err := readRawResponse(br); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// readRawResponse reads one 200 response with a Content-Length.
func readRawResponse(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status line %q", line)
	}
	n := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, err = strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return err
			}
		}
	}
	if n < 0 {
		return errors.New("no Content-Length")
	}
	_, err = br.Discard(n)
	return err
}
