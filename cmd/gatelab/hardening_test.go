package main

// Hardening (issue 9) end to end: real "gatelab serve" processes on both
// server engines, raw request bytes on TCP connections, and a fake upstream
// in echo mode that shows what was forwarded. Each table runs one body per
// engine; where the engines answered differently, the stricter answer is the
// target. Every test logs what each engine answered (go test -v), so a
// failure shows the whole picture, not just the first difference.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/testproc"
	"github.com/gatelab/gatelab/internal/upstream"
)

// Config keys the hardening adds. Only these tests use them: if the keys
// land under other names, change them here.
const (
	// hardeningStripInboundKey, under gateway:, lists the client headers
	// stripped before forwarding (absent: the default list).
	hardeningStripInboundKey = "strip_inbound_headers"
	// hardeningMaxConnsKey, under limits:, caps the open client connections
	// of the traffic listener.
	hardeningMaxConnsKey = "max_connections"
)

// hardeningServers are the server engines every test here runs against.
var hardeningServers = []string{"nethttp", "fasthttp"}

// Bounds on every network wait of these tests.
const (
	hardeningDial = 2 * time.Second
	// hardeningResponse bounds the wait for a response; it is above every
	// read timeout configured here, so a server that waits for bytes that
	// never come still answers (408) within it.
	hardeningResponse = 5 * time.Second
	// hardeningCloseWait is how long a connection may take to be closed by
	// the server after a response before it counts as kept open.
	hardeningCloseWait = 500 * time.Millisecond
	// hardeningRepeats is how many times a bad request is sent before the
	// backend's health is checked: twice the default passive_failures.
	hardeningRepeats = 10
)

// forEachServer runs body once per server engine, the engines in parallel.
func forEachServer(t *testing.T, body func(t *testing.T, server string)) {
	for _, server := range hardeningServers {
		t.Run(server, func(t *testing.T) {
			t.Parallel()
			body(t, server)
		})
	}
}

// startHardening writes cfg to a file and runs "gatelab serve" on it with
// the given server engine.
func startHardening(t *testing.T, server, cfg string) *testproc.Serve {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return testproc.StartServe(t, "-config", path, "-server", server, "-watch=false")
}

// hardeningBackend renders one backend on the upstream url. The active
// probe interval is long, so an instance the passive checks eject stays out
// for the whole test: a request shape that hurts the backend shows.
func hardeningBackend(name, url string) string {
	return fmt.Sprintf("  - {name: %s, instances: [{url: %q}], health_check: {interval: 30s}}\n", name, url)
}

// --- raw exchanges ------------------------------------------------------------

// exchange is what the server did with one raw request.
type exchange struct {
	status  int   // final status; 0 when no response came
	interim []int // 1xx statuses before it
	header  http.Header
	body    []byte
	closed  bool   // the server closed the connection after the response (or said Connection: close)
	extra   string // bytes the server sent after the response: a second answer to one request
	err     error  // reading the response failed
}

// String is the exchange as one table cell: "400 closed", "200 open",
// "none closed (EOF)", "400 open +extra".
func (x exchange) String() string {
	s := "none"
	if x.status != 0 {
		s = strconv.Itoa(x.status)
	}
	for _, c := range x.interim {
		s = strconv.Itoa(c) + "+" + s
	}
	if x.closed {
		s += " closed"
	} else {
		s += " open"
	}
	if x.extra != "" {
		s += " +extra"
	}
	if x.status == 0 && x.err != nil {
		s += " (" + shortErr(x.err) + ")"
	}
	return s
}

func shortErr(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection reset"):
		return "reset"
	}
	return err.Error()
}

// rawDo sends req on a new connection to addr and reads the answer. With
// checkClose it then waits up to hardeningCloseWait for the server to close
// the connection.
func rawDo(addr, req string, checkClose bool) exchange {
	c, err := net.DialTimeout("tcp", addr, hardeningDial)
	if err != nil {
		return exchange{err: err}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hardeningResponse))
	// A server may answer and close before reading everything: a failed
	// write still leaves its answer to read.
	_, _ = io.WriteString(c, req)
	return readExchange(c, bufio.NewReader(c), checkClose)
}

// readExchange reads one final response (after any 1xx) from br, the reader
// of c, and with checkClose whether the server then closes c.
func readExchange(c net.Conn, br *bufio.Reader, checkClose bool) exchange {
	var x exchange
	for {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			x.err = err
			x.closed = !isTimeout(err) // EOF or reset before an answer
			return x
		}
		if res.StatusCode >= 100 && res.StatusCode < 200 {
			x.interim = append(x.interim, res.StatusCode)
			continue
		}
		x.status, x.header = res.StatusCode, res.Header
		x.body, err = io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			x.err = err
		}
		x.closed = res.Close
		break
	}
	if !checkClose {
		return x
	}
	extra, closed := afterAnswer(c, br, hardeningCloseWait)
	x.extra, x.closed = extra, x.closed || closed
	return x
}

// afterAnswer reads what follows an answer on c for up to wait: more bytes
// (extra: a response that should not be there), nothing (the connection is
// still open), or EOF or an error (closed by the server).
func afterAnswer(c net.Conn, br *bufio.Reader, wait time.Duration) (extra string, closed bool) {
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, err := br.Read(buf)
	switch {
	case n > 0:
		return string(buf[:n]), false
	case isTimeout(err):
		return "", false
	}
	return "", true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// --- backend health -------------------------------------------------------------

// healthAfter is what a well-formed request and /metrics say about a backend.
type healthAfter struct {
	status  int    // a normal GET through the backend's route
	body    string // its body (the 503's code when not 200)
	healthy string // gatelab_backend_instance_healthy, "?" when absent
	breaker string // gatelab_circuit_breaker_state, "?" when absent
}

func (h healthAfter) ok() bool { return h.status == 200 && h.healthy == "1" && h.breaker == "0" }

func (h healthAfter) String() string {
	if h.ok() {
		return "ok"
	}
	return fmt.Sprintf("HURT(get %d healthy %s breaker %s)", h.status, h.healthy, h.breaker)
}

var hardeningClient = &http.Client{
	Timeout:   hardeningResponse,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// checkHealth sends a normal GET to url (a path on the backend's route) and
// reads the backend's health and breaker gauges.
func checkHealth(s *testproc.Serve, path, backend string) healthAfter {
	h := healthAfter{healthy: "?", breaker: "?"}
	res, err := hardeningClient.Get("http://" + s.Traffic + path)
	if err != nil {
		h.body = err.Error()
	} else {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		h.status, h.body = res.StatusCode, string(b)
	}
	res, err = hardeningClient.Get("http://" + s.Admin + "/metrics")
	if err != nil {
		return h
	}
	defer res.Body.Close()
	want := `backend="` + backend + `"`
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok || !slices.Contains(strings.Split(labels, ","), want) {
			continue
		}
		switch name {
		case "gatelab_backend_instance_healthy":
			h.healthy = value
		case "gatelab_circuit_breaker_state":
			h.breaker = value
		}
	}
	return h
}

// --- the request-shape table (findings 1 and 4) ------------------------------------

// connWant is what must happen to the connection after the answer.
type connWant int

const (
	connAny     connWant = iota
	connOpen             // kept alive: a well-formed request
	connClosed           // closed: the framing cannot be trusted any more
	connFraming          // kept alive when answered 2xx, closed when rejected
)

// shapeCase is one request shape. Its route is /cN/* on its own backend bN,
// so what one shape does to its backend's health shows on that backend only.
// Whatever the answer, both engines must give the same status.
type shapeCase struct {
	name string
	// req renders the raw request for the route prefix p ("/c3").
	req    func(p string) string
	status int
	// alt are other acceptable statuses, where the RFC leaves a choice: the
	// engines must still agree.
	alt     []int
	conn    connWant
	no100   bool  // no "100 Continue" may precede the answer
	maxBody int64 // the route's max_body_bytes (0: the default)
}

const hostLine = "Host: gatelab.test\r\n"

func rawPost(p, headers, body string) string {
	return "POST " + p + "/x HTTP/1.1\r\n" + hostLine + headers + "\r\n" + body
}

func rawGet(p, headers string) string {
	return "GET " + p + "/x HTTP/1.1\r\n" + hostLine + headers + "\r\n"
}

func chunked(p, body string) string { return rawPost(p, "Transfer-Encoding: chunked\r\n", body) }

const chunkedHello = "5\r\nhello\r\n0\r\n\r\n"

// smuggled is a whole request, sent as another request's body: a server
// that reads it as the next request answers twice on one connection.
func smuggled(p string) string { return "GET " + p + "/smuggled HTTP/1.1\r\n" + hostLine + "\r\n" }

// shapeCases: where the engines answered differently before the hardening,
// the stricter answer is the target.
var shapeCases = []shapeCase{
	// Well-formed: answered and kept alive, so the closes below are the
	// gateway's choice.
	{name: "ok-get", req: func(p string) string { return rawGet(p, "") }, status: 200, conn: connOpen},
	{name: "ok-post-content-length", req: func(p string) string { return rawPost(p, "Content-Length: 5\r\n", "hello") }, status: 200, conn: connOpen},
	{name: "ok-post-chunked", req: func(p string) string { return chunked(p, chunkedHello) }, status: 200, conn: connOpen},
	{name: "ok-chunked-capitalised", req: func(p string) string {
		return rawPost(p, "Transfer-Encoding: Chunked\r\n", chunkedHello)
	}, status: 200, conn: connOpen},
	{name: "ok-chunked-trailer", req: func(p string) string {
		return chunked(p, "5\r\nhello\r\n0\r\nX-Trailer: a\r\n\r\n")
	}, status: 200, conn: connOpen},
	{name: "ok-content-length-leading-zero", req: func(p string) string {
		return rawPost(p, "Content-Length: 05\r\n", "hello")
	}, status: 200, conn: connOpen},
	{name: "ok-expect-100-within-limit", req: func(p string) string {
		return rawPost(p, "Content-Length: 5\r\nExpect: 100-continue\r\n", "hello")
	}, status: 200, conn: connOpen},
	{name: "ok-absolute-form-same-host", req: func(p string) string {
		return "GET http://gatelab.test" + p + "/x HTTP/1.1\r\n" + hostLine + "\r\n"
	}, status: 200, conn: connOpen},
	{name: "ok-connection-names-ordinary-header", req: func(p string) string {
		return rawPost(p, "Connection: keep-alive, Content-Type\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n", "hello")
	}, status: 200, conn: connOpen},

	// Finding 1: framing or Host named in Connection. One meaning or 400,
	// and never the backend's failure.
	{name: "connection-content-length", req: func(p string) string {
		return rawPost(p, "Connection: Content-Length\r\nContent-Length: 5\r\n", "hello")
	}, status: 400, conn: connClosed},
	{name: "connection-close-content-length", req: func(p string) string {
		return rawPost(p, "Connection: close, Content-Length\r\nContent-Length: 5\r\n", "hello")
	}, status: 400, conn: connClosed},
	{name: "connection-transfer-encoding", req: func(p string) string {
		return rawPost(p, "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n", chunkedHello)
	}, status: 400, conn: connClosed},
	{name: "connection-host", req: func(p string) string {
		return rawPost(p, "Connection: Host\r\nContent-Length: 5\r\n", "hello")
	}, status: 400, conn: connClosed},
	// Naming an absent framing header: rejecting is as good as ignoring.
	{name: "connection-content-length-no-body", req: func(p string) string {
		return rawGet(p, "Connection: Content-Length\r\n")
	}, status: 400, alt: []int{200}, conn: connFraming},
	{name: "connection-transfer-encoding-no-body", req: func(p string) string {
		return rawGet(p, "Connection: Transfer-Encoding\r\n")
	}, status: 400, alt: []int{200}, conn: connFraming},

	// Finding 4: unambiguous framing (RFC 9112 6.1, 6.3, 7.1).
	{name: "content-length-and-chunked", req: func(p string) string {
		return rawPost(p, "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", chunkedHello)
	}, status: 400, conn: connClosed},
	{name: "content-length-twice-same", req: func(p string) string {
		return rawPost(p, "Content-Length: 5\r\nContent-Length: 5\r\n", "hello")
	}, status: 400, conn: connClosed},
	{name: "content-length-twice-differ", req: func(p string) string {
		return rawPost(p, "Content-Length: 5\r\nContent-Length: 6\r\n", "hello!")
	}, status: 400, conn: connClosed},
	{name: "content-length-list", req: func(p string) string { return rawPost(p, "Content-Length: 5, 5\r\n", "hello") }, status: 400, conn: connClosed},
	{name: "content-length-plus-sign", req: func(p string) string { return rawPost(p, "Content-Length: +5\r\n", "hello") }, status: 400, conn: connClosed},
	// An unknown coding before chunked: 501 (RFC 9112 6.1) or 400.
	{name: "transfer-encoding-gzip-chunked", req: func(p string) string {
		return rawPost(p, "Transfer-Encoding: gzip, chunked\r\n", chunkedHello)
	}, status: 501, alt: []int{400}, conn: connClosed},
	{name: "transfer-encoding-identity-with-content-length", req: func(p string) string {
		return rawPost(p, "Transfer-Encoding: identity\r\nContent-Length: 5\r\n", "hello")
	}, status: 501, alt: []int{400}, conn: connClosed},
	// chunked not last, or applied twice: the length is unknown (400, RFC
	// 9112 6.3), though 501 names the unknown coding.
	{name: "transfer-encoding-unknown", req: func(p string) string {
		return rawPost(p, "Transfer-Encoding: foo\r\n", "hello")
	}, status: 400, alt: []int{501}, conn: connClosed},
	{name: "transfer-encoding-chunked-twice", req: func(p string) string {
		return rawPost(p, "Transfer-Encoding: chunked, chunked\r\n", chunkedHello)
	}, status: 400, alt: []int{501}, conn: connClosed},
	{name: "transfer-encoding-header-twice", req: func(p string) string {
		return rawPost(p, "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunkedHello)
	}, status: 400, alt: []int{501}, conn: connClosed},
	{name: "transfer-encoding-in-http10", req: func(p string) string {
		return "POST " + p + "/x HTTP/1.0\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n" + chunkedHello
	}, status: 501, alt: []int{400}, conn: connClosed},
	// Chunk extensions are legal; accepting or refusing them, the engines
	// agree. One too long for a line is refused.
	{name: "chunk-extension", req: func(p string) string {
		return chunked(p, "5;foo=bar\r\nhello\r\n0\r\n\r\n")
	}, status: 200, alt: []int{400}, conn: connFraming},
	{name: "chunk-extension-quoted", req: func(p string) string {
		return chunked(p, "5;foo=\"b a r\"\r\nhello\r\n0\r\n\r\n")
	}, status: 200, alt: []int{400}, conn: connFraming},
	{name: "chunk-extension-on-last-chunk", req: func(p string) string {
		return chunked(p, "5\r\nhello\r\n0;x=y\r\n\r\n")
	}, status: 200, alt: []int{400}, conn: connFraming},
	{name: "chunk-extension-ctl", req: func(p string) string {
		return chunked(p, "5;a=\x01\r\nhello\r\n0\r\n\r\n")
	}, status: 400, alt: []int{200}, conn: connFraming},
	{name: "chunk-extension-8000-bytes", req: func(p string) string {
		return chunked(p, "5;a="+strings.Repeat("b", 8000)+"\r\nhello\r\n0\r\n\r\n")
	}, status: 400, conn: connClosed},
	{name: "chunk-extension-tab-before", req: func(p string) string {
		return chunked(p, "5\t;a=b\r\nhello\r\n0\r\n\r\n")
	}, status: 400, conn: connClosed},
	{name: "chunk-extension-bare-lf", req: func(p string) string {
		return chunked(p, "5;a=b\nc\r\nhello\r\n0\r\n\r\n")
	}, status: 400, conn: connClosed},
	{name: "chunk-size-overflow", req: func(p string) string {
		return chunked(p, "fffffffffffffffff\r\nhello\r\n0\r\n\r\n")
	}, status: 400, conn: connClosed},
	{name: "chunk-bare-lf", req: func(p string) string { return chunked(p, "5\nhello\n0\n\n") }, status: 400, conn: connClosed},
	{name: "chunk-data-longer-than-size", req: func(p string) string {
		return chunked(p, "5\r\nhelloXX\r\n0\r\n\r\n")
	}, status: 400, conn: connClosed},

	{name: "options-asterisk", req: func(string) string { return "OPTIONS * HTTP/1.1\r\n" + hostLine + "\r\n" }, status: 400},
	{name: "expect-100-over-max-body", req: func(p string) string {
		return rawPost(p, "Content-Length: 100\r\nExpect: 100-continue\r\n", "")
	}, status: 413, conn: connClosed, no100: true, maxBody: 16},
	{name: "over-max-body-request-as-body", req: func(p string) string {
		return rawPost(p, "Content-Length: "+strconv.Itoa(len(smuggled(p)))+"\r\n", smuggled(p))
	}, status: 413, conn: connClosed, maxBody: 16},
	{name: "expect-unknown-request-as-body", req: func(p string) string {
		return rawPost(p, "Content-Length: "+strconv.Itoa(len(smuggled(p)))+"\r\nExpect: foo\r\n", smuggled(p))
	}, status: 417, conn: connClosed},

	// Header and request-line syntax.
	{name: "obs-fold", req: func(p string) string { return rawGet(p, "X-Folded: a\r\n  b\r\n") }, status: 400, conn: connClosed},
	{name: "space-before-colon", req: func(p string) string { return rawGet(p, "X-Spaced : a\r\n") }, status: 400, conn: connClosed},
	{name: "bare-lf", req: func(p string) string {
		return "GET " + p + "/x HTTP/1.1\nHost: gatelab.test\nX-A: b\n\n"
	}, status: 400, conn: connClosed},
	{name: "nul-in-value", req: func(p string) string { return rawGet(p, "X-Bad: a\x00b\r\n") }, status: 400, conn: connClosed},
	{name: "ctl-in-value", req: func(p string) string { return rawGet(p, "X-Bad: a\x07b\r\n") }, status: 400, conn: connClosed},
	{name: "header-without-colon", req: func(p string) string { return rawGet(p, "X-NoColon\r\n") }, status: 400, conn: connClosed},
	{name: "header-empty-name", req: func(p string) string { return rawGet(p, ": v\r\n") }, status: 400, conn: connClosed},
	{name: "host-twice", req: func(p string) string { return rawGet(p, "Host: other.test\r\n") }, status: 400, conn: connClosed},
	{name: "host-missing", req: func(p string) string { return "GET " + p + "/x HTTP/1.1\r\n\r\n" }, status: 400, conn: connClosed},
	{name: "host-empty", req: func(p string) string { return "GET " + p + "/x HTTP/1.1\r\nHost:\r\n\r\n" }, status: 400, conn: connClosed},
	{name: "host-invalid", req: func(p string) string { return "GET " + p + "/x HTTP/1.1\r\nHost: a b\r\n\r\n" }, status: 400, conn: connClosed},
	// RFC 9112 3.2.2: the target's authority is the host, Host is ignored;
	// both engines forward it with X-Forwarded-Host: other.test.
	{name: "absolute-form-other-host", req: func(p string) string {
		return "GET http://other.test" + p + "/x HTTP/1.1\r\n" + hostLine + "\r\n"
	}, status: 200},
	{name: "http09-request-line", req: func(p string) string { return "GET " + p + "/x\r\n\r\n" }, status: 400, conn: connClosed},
	{name: "space-in-target", req: func(p string) string { return "GET " + p + "/x y HTTP/1.1\r\n" + hostLine + "\r\n" }, status: 400, conn: connClosed},
	{name: "fragment-in-target", req: func(p string) string { return "GET " + p + "/x#frag HTTP/1.1\r\n" + hostLine + "\r\n" }, status: 400},
	{name: "http2-version-on-http1", req: func(p string) string { return "GET " + p + "/x HTTP/2.0\r\n" + hostLine + "\r\n" }, status: 505, conn: connClosed},
}

// shapeConfig gives every case its route /cN/* on its own backend bN.
func shapeConfig(up string) string {
	var b strings.Builder
	b.WriteString(`access_log: {output: "off"}
limits: {read_timeout: 2s, read_header_timeout: 2s}
backends:
`)
	for i := range shapeCases {
		b.WriteString(hardeningBackend(fmt.Sprintf("b%d", i), up))
	}
	b.WriteString("routes:\n")
	for i, c := range shapeCases {
		extra := ""
		if c.maxBody > 0 {
			extra = fmt.Sprintf(", max_body_bytes: %d", c.maxBody)
		}
		fmt.Fprintf(&b, "  - {id: r%d, pattern: /c%d/*, backend: b%d, auth: none%s}\n", i, i, i, extra)
	}
	return b.String()
}

// table collects one cell per case and engine and logs them as a table when
// the test ends.
type table struct {
	mu    sync.Mutex
	cells map[string]map[string]string // case -> server -> cell
	order []string
}

func newTable(t *testing.T, title string) *table {
	tb := &table{cells: map[string]map[string]string{}}
	t.Cleanup(func() {
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n%-46s", title, "case")
		for _, s := range hardeningServers {
			fmt.Fprintf(&b, " | %-44s", s)
		}
		for _, name := range tb.order {
			fmt.Fprintf(&b, "\n%-46s", name)
			for _, s := range hardeningServers {
				fmt.Fprintf(&b, " | %-44s", tb.cells[name][s])
			}
		}
		t.Log(b.String())
	})
	return tb
}

// rows fixes the row order.
func (tb *table) rows(names ...string) { tb.order = append(tb.order, names...) }

func (tb *table) set(name, server, cell string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.cells[name] == nil {
		tb.cells[name] = map[string]string{}
	}
	tb.cells[name][server] = cell
}

// shapeResult is what one engine did with one shape.
type shapeResult struct {
	first  exchange    // the first of the repeats, with the close check
	health healthAfter // the backend after all of them
}

// runShape sends c's request hardeningRepeats times (the first with the
// close check, the others at once) and then checks its backend.
func runShape(s *testproc.Serve, i int, c shapeCase) shapeResult {
	p := fmt.Sprintf("/c%d", i)
	req := c.req(p)
	var r shapeResult
	r.first = rawDo(s.Traffic, req, true)
	var wg sync.WaitGroup
	for range hardeningRepeats - 1 {
		wg.Add(1)
		go func() { defer wg.Done(); rawDo(s.Traffic, req, false) }()
	}
	wg.Wait()
	r.health = checkHealth(s, p+"/ok", fmt.Sprintf("b%d", i))
	return r
}

// Each request shape: the status, what happens to the connection, no
// second answer on it, and after hardeningRepeats of them the backend is
// still healthy and serves a normal request. Both engines answer every
// shape with the same status.
func TestHardeningRequestShapes(t *testing.T) {
	tb := newTable(t, "request shapes: first answer, then the backend after "+strconv.Itoa(hardeningRepeats)+" of them")
	for _, c := range shapeCases {
		tb.rows(c.name)
	}
	var mu sync.Mutex
	statuses := map[string]map[string]int{} // case -> server -> status
	t.Cleanup(func() {
		for _, c := range shapeCases {
			got := statuses[c.name]
			if len(got) == len(hardeningServers) && got[hardeningServers[0]] != got[hardeningServers[1]] {
				t.Errorf("%s: the engines disagree: %v", c.name, got)
			}
		}
	})
	forEachServer(t, func(t *testing.T, server string) {
		up := testproc.StartUpstream(t, "shapes-"+server)
		s := startHardening(t, server, shapeConfig(up))
		// All shapes at once (each on its own backend), then the verdicts.
		results := make([]shapeResult, len(shapeCases))
		var wg sync.WaitGroup
		for i, c := range shapeCases {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = runShape(s, i, c) }()
		}
		wg.Wait()
		for i, c := range shapeCases {
			r := results[i]
			x, h := r.first, r.health
			tb.set(c.name, server, x.String()+"; "+h.String())
			mu.Lock()
			if statuses[c.name] == nil {
				statuses[c.name] = map[string]int{}
			}
			statuses[c.name][server] = x.status
			mu.Unlock()
			t.Run(c.name, func(t *testing.T) {
				if x.status != c.status && !slices.Contains(c.alt, x.status) {
					t.Errorf("status %d, want %d (%s); body %q", x.status, c.status, x, x.body)
				}
				conn := c.conn
				if conn == connFraming {
					conn = connClosed
					if x.status >= 200 && x.status < 300 {
						conn = connOpen
					}
				}
				switch {
				case conn == connClosed && !x.closed:
					t.Errorf("connection kept open after %d, want it closed", x.status)
				case conn == connOpen && x.closed:
					t.Errorf("connection closed after %d, want it kept alive", x.status)
				}
				if x.extra != "" {
					t.Errorf("a second answer followed the first on the connection: %q", x.extra)
				}
				if c.no100 && len(x.interim) > 0 {
					t.Errorf("interim responses %v before the %d, want none", x.interim, x.status)
				}
				if !h.ok() {
					t.Errorf("after %d of these the backend is hurt: GET /c%d/ok answered %d %q, healthy gauge %s, breaker %s",
						hardeningRepeats, i, h.status, h.body, h.healthy, h.breaker)
				}
			})
		}
	})
}

// --- credentials named in Connection (finding 1) --------------------------------------

const hardeningAPIKey = "hardening-test-key-not-a-secret"

// mintToken returns a fixture-signed JWT for sub (the token command).
func mintToken(t *testing.T, sub string) string {
	t.Helper()
	code, out, stderr := runCLI("token", "-sub", sub, "-key", "../../fixtures/keys/rsa.pem")
	if code != 0 {
		t.Fatalf("gatelab token: exit %d: %s", code, stderr)
	}
	return strings.TrimSpace(out)
}

func authConfig(t *testing.T, up string) string {
	t.Helper()
	jwks, err := filepath.Abs("../../fixtures/keys/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(hardeningAPIKey))
	return fmt.Sprintf(`access_log: {output: "off"}
auth:
  jwt: {jwks_file: %q, issuers: ["https://issuer.gatelab.test"], audiences: [gatelab]}
  api_keys: [{id: hardening, sha256: %s, partner_id: partner-h}]
backends:
%sroutes:
  - {id: jwt, pattern: /jwt/*, backend: up, auth: jwt}
  - {id: key, pattern: /key/*, backend: up, auth: api_key}
`, jwks, hex.EncodeToString(sum[:]), hardeningBackend("up", up))
}

// echoed decodes the upstream's echo of a forwarded request, with header
// names lower-cased and '_' read as '-' (as CGI-style backends read them).
func echoed(t *testing.T, x exchange) (upstream.Echo, map[string][]string) {
	t.Helper()
	var e upstream.Echo
	if err := json.Unmarshal(x.body, &e); err != nil {
		t.Fatalf("not an upstream echo (%s): %q", x, x.body)
	}
	h := map[string][]string{}
	for k, v := range e.Headers {
		k = strings.ReplaceAll(strings.ToLower(k), "_", "-")
		h[k] = append(h[k], v...)
	}
	return e, h
}

// A credential header named in Connection is still verified, and never
// forwarded; Connection cannot make the gateway drop the identity it sets.
func TestHardeningConnectionNamesCredential(t *testing.T) {
	type authCase struct {
		name    string
		path    string
		headers string
		status  int
		// upstream: header (lower-case) -> value it must arrive with, "" for absent.
		upstream map[string]string
	}
	tok := mintToken(t, "alice")
	cases := []authCase{
		{"jwt-valid", "/jwt", "Connection: Authorization\r\nAuthorization: Bearer " + tok + "\r\n", 200,
			map[string]string{"authorization": "", "x-user-id": "alice"}},
		{"jwt-missing", "/jwt", "Connection: Authorization\r\n", 401, nil},
		{"jwt-invalid", "/jwt", "Connection: Authorization\r\nAuthorization: Bearer not.a.token\r\n", 401, nil},
		{"jwt-spoofed-identity", "/jwt", "Connection: X-User-ID\r\nX-User-ID: mallory\r\nAuthorization: Bearer " + tok + "\r\n", 200,
			map[string]string{"x-user-id": "alice"}},
		{"key-valid", "/key", "Connection: X-API-Key\r\nX-API-Key: " + hardeningAPIKey + "\r\n", 200,
			map[string]string{"x-api-key": "", "x-partner-id": "partner-h"}},
		{"key-missing", "/key", "Connection: X-API-Key\r\n", 401, nil},
		{"key-invalid", "/key", "Connection: X-API-Key\r\nX-API-Key: wrong-key\r\n", 401, nil},
		{"key-spoofed-partner", "/key", "Connection: X-Partner-ID\r\nX-Partner-ID: evil\r\nX-API-Key: " + hardeningAPIKey + "\r\n", 200,
			map[string]string{"x-partner-id": "partner-h"}},
	}
	tb := newTable(t, "credentials named in Connection")
	for _, c := range cases {
		tb.rows(c.name)
	}
	forEachServer(t, func(t *testing.T, server string) {
		up := testproc.StartUpstream(t, "auth-"+server)
		s := startHardening(t, server, authConfig(t, up))
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				x := rawDo(s.Traffic, rawGet(c.path, c.headers), false)
				tb.set(c.name, server, x.String())
				if x.status != c.status {
					t.Fatalf("status %d, want %d; body %q", x.status, c.status, x.body)
				}
				if c.upstream == nil {
					return
				}
				_, h := echoed(t, x)
				if strings.Contains(string(x.body), tok) || strings.Contains(string(x.body), hardeningAPIKey) {
					t.Errorf("the credential reached the upstream: %s", x.body)
				}
				for name, want := range c.upstream {
					got := h[name]
					switch {
					case want == "" && len(got) > 0:
						t.Errorf("upstream got %s (%d values), want it absent", name, len(got))
					case want != "" && !slices.Equal(got, []string{want}):
						t.Errorf("upstream got %s %q, want [%q]", name, got, want)
					}
				}
			})
		}
	})
}

// --- slow and short bodies (finding 1) ---------------------------------------------------

func slowConfig(up string) string {
	// The header comes at once: its timeout is generous, so a loaded
	// machine is never mistaken for a slow client; the body's is short.
	return `access_log: {output: "off"}
limits: {read_timeout: 500ms, read_header_timeout: 2s}
backends:
` + hardeningBackend("slow", up) + hardeningBackend("half", up) + `routes:
  - {id: slow, pattern: /slow/*, backend: slow, auth: none}
  - {id: half, pattern: /half/*, backend: half, auth: none}
`
}

// slowClient is a client that sends its body to /slow slower than the
// 500 ms read timeout allows.
type slowClient struct {
	name  string
	head  string // request line and header block
	first string // body bytes sent at once with the header
	piece string // then one of these every 100 ms...
	count int    // ...this many times (3 s, above both timeouts); 0: nothing more
}

var slowClients = []slowClient{
	{name: "trickled-body", head: rawPost("/slow", "Content-Length: 30\r\n", ""), piece: "x", count: 30},
	{name: "trickled-chunked-body", head: rawPost("/slow", "Transfer-Encoding: chunked\r\n", ""), piece: "1\r\nx\r\n", count: 30},
	{name: "stalled-large-body", head: rawPost("/slow", "Content-Length: 200000\r\n", ""), first: strings.Repeat("x", 100000)},
}

// run sends sc's request and returns the answer.
func (sc slowClient) run(addr string) exchange {
	c, err := net.DialTimeout("tcp", addr, hardeningDial)
	if err != nil {
		return exchange{err: err}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hardeningResponse))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The server may answer (and stop reading) before all of this is
		// written: a failed write ends the client's sending.
		if _, err := io.WriteString(c, sc.head+sc.first); err != nil {
			return
		}
		tick := time.NewTicker(100 * time.Millisecond) // the slow client's pace
		defer tick.Stop()
		for range sc.count {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := io.WriteString(c, sc.piece); err != nil {
				return
			}
		}
	}()
	x := readExchange(c, bufio.NewReader(c), false)
	close(stop)
	<-done
	return x
}

// halfBody declares 10 body bytes, sends 5, shuts its sending side and
// returns whatever answer comes.
func halfBody(addr string) exchange {
	c, err := net.DialTimeout("tcp", addr, hardeningDial)
	if err != nil {
		return exchange{err: err}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hardeningResponse))
	if _, err := io.WriteString(c, rawPost("/half", "Content-Length: 10\r\n", "hello")); err != nil {
		return exchange{err: err}
	}
	c.(*net.TCPConn).CloseWrite()
	return readExchange(c, bufio.NewReader(c), false)
}

// A client slower than read_timeout gets 408 (its fault), and neither it
// nor one that hangs up mid-body counts against the backend.
func TestHardeningSlowBody(t *testing.T) {
	tb := newTable(t, "slow and short bodies ("+strconv.Itoa(hardeningRepeats)+" clients each), then the backend")
	for _, sc := range slowClients {
		tb.rows(sc.name)
	}
	tb.rows("half-body-then-close")
	forEachServer(t, func(t *testing.T, server string) {
		up := testproc.StartUpstream(t, "slow-"+server)
		s := startHardening(t, server, slowConfig(up))
		run := func(client func(string) exchange) []exchange {
			xs := make([]exchange, hardeningRepeats)
			var wg sync.WaitGroup
			for i := range xs {
				wg.Add(1)
				go func() { defer wg.Done(); xs[i] = client(s.Traffic) }()
			}
			wg.Wait()
			return xs
		}
		summary := func(xs []exchange) string {
			n := map[string]int{}
			for _, x := range xs {
				n[x.String()]++
			}
			var parts []string
			for k, v := range n {
				parts = append(parts, fmt.Sprintf("%dx %s", v, k))
			}
			slices.Sort(parts)
			return strings.Join(parts, ", ")
		}

		for _, sc := range slowClients {
			t.Run(sc.name, func(t *testing.T) {
				xs := run(sc.run)
				h := checkHealth(s, "/slow/ok", "slow")
				tb.set(sc.name, server, summary(xs)+"; "+h.String())
				for i, x := range xs {
					if x.status != http.StatusRequestTimeout {
						t.Errorf("client %d: %s, want 408; body %q", i, x, x.body)
					}
				}
				if !h.ok() {
					t.Errorf("after %d slow clients the backend is hurt: GET answered %d %q, healthy gauge %s, breaker %s",
						hardeningRepeats, h.status, h.body, h.healthy, h.breaker)
				}
			})
		}
		t.Run("half-body-then-close", func(t *testing.T) {
			xs := run(halfBody)
			h := checkHealth(s, "/half/ok", "half")
			tb.set("half-body-then-close", server, summary(xs)+"; "+h.String())
			for i, x := range xs {
				if x.status >= 500 {
					t.Errorf("client %d: %s: a client hanging up is not a gateway or backend failure; body %q", i, x, x.body)
				}
			}
			if !h.ok() {
				t.Errorf("after %d short bodies the backend is hurt: GET answered %d %q, healthy gauge %s, breaker %s",
					hardeningRepeats, h.status, h.body, h.healthy, h.breaker)
			}
		})
	})
}

// --- the access log (finding 3) ---------------------------------------------------------

// The access log records the path and query the client sent, not the
// rewritten upstream target, with secret parameters redacted.
func TestHardeningAccessLog(t *testing.T) {
	type logCase struct {
		target       string // as sent
		path, query  string // as logged
		upstreamPath string // as forwarded
	}
	cases := []logCase{
		{"/api/x?user=a&password=hunter2&token=abc", "/api/x", "user=a&password=REDACTED&token=REDACTED", "/x"},
		{"/api/v2/users/me/settings?password=hunter2&b=1", "/api/v2/users/me/settings", "password=REDACTED&b=1", "/v2/users/me/settings"},
	}
	tb := newTable(t, "access log: logged path and query")
	for i := range cases {
		tb.rows(fmt.Sprintf("request-%d", i))
	}
	forEachServer(t, func(t *testing.T, server string) {
		up := testproc.StartUpstream(t, "log-"+server)
		logPath := filepath.Join(t.TempDir(), "access.log")
		s := startHardening(t, server, fmt.Sprintf(`access_log: {output: %q}
backends:
%sroutes:
  - {id: api, pattern: /api/*, backend: up, auth: none, strip_prefix: /api}
`, logPath, hardeningBackend("up", up)))

		// Both requests on one keep-alive connection: buffers are reused.
		c, err := net.DialTimeout("tcp", s.Traffic, hardeningDial)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(hardeningResponse))
		br := bufio.NewReader(c)
		ids := make([]string, len(cases))
		for i, lc := range cases {
			if _, err := io.WriteString(c, "GET "+lc.target+" HTTP/1.1\r\n"+hostLine+"\r\n"); err != nil {
				t.Fatal(err)
			}
			x := readExchange(c, br, false)
			if x.status != 200 {
				t.Fatalf("%s: %s, want 200; body %q", lc.target, x, x.body)
			}
			e, h := echoed(t, x)
			if e.RawPath != lc.upstreamPath {
				t.Errorf("%s: upstream got path %q, want %q (the route must rewrite)", lc.target, e.RawPath, lc.upstreamPath)
			}
			if ids[i] = strings.Join(h["x-request-id"], ""); ids[i] == "" {
				t.Fatalf("%s: no X-Request-ID upstream", lc.target)
			}
		}

		// The log is written asynchronously (batched every 100 ms): wait,
		// bounded, until both lines are in the file.
		var data []byte
		entries := make([]map[string]any, len(cases))
		deadline := time.Now().Add(hardeningResponse)
		for found := 0; found < len(cases); {
			data, _ = os.ReadFile(logPath)
			for line := range strings.SplitSeq(string(data), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) != nil {
					continue
				}
				if i := slices.Index(ids, fmt.Sprint(m["request_id"])); i >= 0 && entries[i] == nil {
					entries[i] = m
					found++
				}
			}
			if found == len(cases) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("access log lines for request ids %q not all written within %v; log:\n%s", ids, hardeningResponse, data)
			}
			time.Sleep(20 * time.Millisecond) // polling a file another process writes
		}
		for i, lc := range cases {
			m := entries[i]
			tb.set(fmt.Sprintf("request-%d", i), server, fmt.Sprintf("%v?%v", m["path"], m["query_string"]))
			if m["path"] != lc.path || m["query_string"] != lc.query {
				t.Errorf("%s logged as path %q query %q, want %q %q", lc.target, m["path"], m["query_string"], lc.path, lc.query)
			}
		}
		if strings.Contains(string(data), "hunter2") || strings.Contains(string(data), "token=abc") {
			t.Errorf("a secret query value is in the access log:\n%s", data)
		}
	})
}

// --- headers that backends trust (finding 5) -----------------------------------------------

// trustSpellings are client headers some backends trust for routing or
// client identity, in the spellings a client may use to slip past a
// hyphen-only filter.
var trustSpellings = []string{
	"X-Original-URL", "X_Original_URL",
	"X-Rewrite-URL", "x_rewrite_url",
	"X-Real-IP", "X_Real_IP",
	"True-Client-IP", "True_Client_IP",
	"X-HTTP-Method-Override", "X_HTTP_Method_Override",
}

// trustRequest sends each header in names (with value "evil-" + name) plus
// X-Harmless on a GET to path and returns the echoed headers.
func trustRequest(t *testing.T, s *testproc.Serve, path string, names []string) map[string][]string {
	t.Helper()
	var hs strings.Builder
	for _, n := range names {
		hs.WriteString(n + ": evil-" + n + "\r\n")
	}
	hs.WriteString("X-Harmless: kept\r\n")
	x := rawDo(s.Traffic, rawGet(path, hs.String()), false)
	if x.status != 200 {
		t.Fatalf("%s, want 200; body %q", x, x.body)
	}
	_, h := echoed(t, x)
	if !slices.Equal(h["x-harmless"], []string{"kept"}) {
		t.Fatalf("an ordinary header did not pass: x-harmless = %q", h["x-harmless"])
	}
	return h
}

func normalName(n string) string { return strings.ReplaceAll(strings.ToLower(n), "_", "-") }

// By default the headers an edge gateway must set itself or drop never
// reach the backend, whatever their spelling.
// Both engines forward the same header names for the same request: a
// backend cannot tell them apart (no header invented, such as a default
// User-Agent).
func TestHardeningTrustedHeadersStripped(t *testing.T) {
	tb := newTable(t, "trusted headers forwarded upstream by default")
	tb.rows("forwarded", "upstream header names")
	var mu sync.Mutex
	names := map[string]string{} // server -> the header names the upstream got
	t.Cleanup(func() {
		if len(names) == len(hardeningServers) && names[hardeningServers[0]] != names[hardeningServers[1]] {
			t.Errorf("the engines forward different headers: %v", names)
		}
	})
	forEachServer(t, func(t *testing.T, server string) {
		up := testproc.StartUpstream(t, "trust-"+server)
		s := startHardening(t, server, `access_log: {output: "off"}
backends:
`+hardeningBackend("up", up)+`routes:
  - {id: open, pattern: /open/*, backend: up, auth: none}
`)
		h := trustRequest(t, s, "/open", trustSpellings)
		var leaked []string
		for _, n := range trustSpellings {
			if slices.Contains(h[normalName(n)], "evil-"+n) {
				leaked = append(leaked, n)
			}
		}
		tb.set("forwarded", server, fmt.Sprintf("%d of %d: %s", len(leaked), len(trustSpellings), strings.Join(leaked, " ")))
		got := slices.Sorted(maps.Keys(h))
		tb.set("upstream header names", server, strings.Join(got, " "))
		mu.Lock()
		names[server] = strings.Join(got, " ")
		mu.Unlock()
		if len(leaked) > 0 {
			t.Errorf("forwarded upstream: %s", strings.Join(leaked, ", "))
		}
	})
}

// gateway.strip_inbound_headers replaces the default list: a custom list
// strips its own headers (any spelling) and lets X-Real-IP through, while
// the identity headers the gateway sets stay stripped whatever the list.
func TestHardeningStripInboundConfig(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		up := testproc.StartUpstream(t, "strip-"+server)
		s := startHardening(t, server, `access_log: {output: "off"}
gateway:
  `+hardeningStripInboundKey+`: [X-Custom-Trust]
backends:
`+hardeningBackend("up", up)+`routes:
  - {id: open, pattern: /open/*, backend: up, auth: none}
`)
		h := trustRequest(t, s, "/open", []string{"X-Custom-Trust", "X_Custom_Trust", "X-Real-IP", "X-User-ID"})
		if got := h["x-custom-trust"]; len(got) > 0 {
			t.Errorf("X-Custom-Trust (listed) forwarded: %q", got)
		}
		if got := h["x-real-ip"]; !slices.Equal(got, []string{"evil-X-Real-IP"}) {
			t.Errorf("X-Real-IP (not listed) arrived as %q, want [evil-X-Real-IP]", got)
		}
		if got := h["x-user-id"]; len(got) > 0 {
			t.Errorf("X-User-ID from the client forwarded: %q", got)
		}
	})
}

// --- the connection cap (finding 6) --------------------------------------------------------

// With limits.max_connections, idle keep-alive connections beyond the cap
// are closed (or new ones refused) and a new client is still served.
func TestHardeningMaxConnections(t *testing.T) {
	const (
		maxConns = 50
		idle     = 200
		slack    = 5 // the cap may be enforced a few connections late
	)
	forEachServer(t, func(t *testing.T, server string) {
		up := testproc.StartUpstream(t, "conns-"+server)
		s := startHardening(t, server, fmt.Sprintf(`access_log: {output: "off"}
limits: {%s: %d}
backends:
%sroutes:
  - {id: open, pattern: /open/*, backend: up, auth: none}
`, hardeningMaxConnsKey, maxConns, hardeningBackend("up", up)))

		conns := make([]net.Conn, 0, idle)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		// openCount is how many of conns the server has not closed: a
		// closed one reads EOF (or a reset) at once, an open one times out.
		openCount := func() int {
			var n sync.WaitGroup
			var mu sync.Mutex
			open := 0
			for _, c := range conns {
				n.Add(1)
				go func() {
					defer n.Done()
					c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
					var b [1]byte
					if _, err := c.Read(b[:]); isTimeout(err) {
						mu.Lock()
						open++
						mu.Unlock()
					}
				}()
			}
			n.Wait()
			return open
		}
		served, peak := 0, 0
		for i := range idle {
			c, err := net.DialTimeout("tcp", s.Traffic, hardeningDial)
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			conns = append(conns, c)
			c.SetDeadline(time.Now().Add(hardeningResponse))
			io.WriteString(c, rawGet("/open", ""))
			if x := readExchange(c, bufio.NewReader(c), false); x.status == 200 && !x.closed {
				served++
			}
			if (i+1)%50 == 0 {
				n := openCount()
				peak = max(peak, n)
				if i+1 == maxConns && n < maxConns-slack {
					// Also proves the count: up to the cap nothing is closed.
					t.Errorf("only %d of the first %d connections open, below the cap %d", n, maxConns, maxConns)
				}
			}
		}
		x := rawDo(s.Traffic, rawGet("/open", ""), false)
		open := openCount()
		peak = max(peak, open)
		t.Logf("%s: %d of %d idle connections served and kept alive; open from the client side at most %d, %d at the end; new client: %s",
			server, served, idle, peak, open, x)
		if x.status != 200 {
			t.Errorf("a new client after %d idle connections got %s, want 200; body %q", idle, x, x.body)
		}
		if peak > maxConns+slack {
			t.Errorf("%d client connections open at once, cap %d", peak, maxConns)
		}
	})
}
