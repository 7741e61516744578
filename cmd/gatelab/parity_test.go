package main

// Engine parity of responses (issue 9, "every place where the two engines
// still differ in what a client sees"): one "gatelab serve" per server
// engine on the same config and the same fake upstreams, the same raw
// requests over TCP to both, each response read off the wire as sent
// (status line, header names as spelled and in order, framing, body,
// whether the connection was closed), the values that legitimately vary per
// request normalised, and the two compared.
//
// What must hold is asserted: the status each case is built to provoke, on
// both engines; the same set of gateway headers (those Gateway.ResponseHeaders
// sets); the same JSON error body modulo the request id, which must be the
// X-Request-ID header's. Every other difference (header casing, order,
// Date, Content-Type on empty bodies, framing, the bodies engines write
// themselves) is recorded and printed as a table with -v, one line per
// difference, so the list in the issue note can be read off the test.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/testproc"
)

// Bounds on the network waits of the parity test.
const (
	parityDial     = 2 * time.Second
	parityResponse = 5 * time.Second
	// parityCloseWait is how long the server may take to close the
	// connection after a response before it counts as kept open: above
	// net/http's 500 ms lingering close (rstAvoidanceDelay) when it cannot
	// half-close the connection itself.
	parityCloseWait = time.Second
)

// gatewayHeaders are the response headers the pipeline sets
// (Gateway.ResponseHeaders), lower-cased: both engines must send the same
// set of them for the same request.
var gatewayHeaders = []string{
	"x-request-id", "x-response-time-ms",
	"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "ratelimit-policy", "ratelimit",
	"retry-after", "www-authenticate", "allow", "deprecation", "sunset",
	"access-control-allow-origin", "vary", "access-control-allow-credentials",
	"access-control-allow-methods", "access-control-allow-headers", "access-control-max-age",
	"x-gatelab-config-version",
}

// parityCase is one request sent to both engines.
type parityCase struct {
	name string
	want int // the status the case is built to provoke (0: no response)
	// alt are other statuses the RFC allows here: each engine must answer
	// want or one of them, and both the same.
	alt []int
	// prep are whole raw requests sent first, one connection each, answers
	// discarded (a rate-limit counter to use up, a backend to eject).
	prep []string
	// req is the raw request, sent at once. Nothing more is sent: an
	// incomplete head or body is answered by the server's timeout.
	req  string
	head bool // a HEAD request: the response has no body
	// stdlibAnswers: net/http answers these bytes itself, before any
	// handler (no hook exists), so only the status must agree; fasthttp
	// answers them through the pipeline (JSON body, gateway headers).
	stdlibAnswers bool
}

func pGet(path, headers string) string {
	return "GET " + path + " HTTP/1.1\r\n" + hostLine + headers + "\r\n"
}

func pHead(path, headers string) string {
	return "HEAD " + path + " HTTP/1.1\r\n" + hostLine + headers + "\r\n"
}

func pPost(path, headers, body string) string {
	return "POST " + path + " HTTP/1.1\r\n" + hostLine + headers + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// upHeader asks the echo upstream to add "name: value" to its response.
func upHeader(name, value string) string { return "X-Upstream-Header: " + name + ": " + value + "\r\n" }

var parityCases = []parityCase{
	// Forwarded answers.
	{name: "get-echo", want: 200, req: pGet("/echo/a?q=1", "User-Agent: parity\r\n")},
	{name: "get-static", want: 200, req: pGet("/static/a", "")},
	{name: "get-http10", want: 200, req: "GET /echo/a HTTP/1.0\r\n" + hostLine + "\r\n"},
	{name: "get-http10-keep-alive", want: 200, req: "GET /echo/a HTTP/1.0\r\n" + hostLine + "Connection: keep-alive\r\n\r\n"},
	{name: "get-connection-close", want: 200, req: pGet("/echo/a", "Connection: close\r\n")},
	{name: "head-echo", want: 200, head: true, req: pHead("/echo/a", "")},
	{name: "head-static", want: 200, head: true, req: pHead("/static/a", "")},
	{name: "post-body", want: 200, req: pPost("/echo/a", "Content-Type: text/plain\r\n", "hello world")},
	{name: "post-no-content-type", want: 200, req: pPost("/echo/a", "", "hello")},
	{name: "post-chunked-request", want: 200, req: "POST /echo/a HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	{name: "post-expect-100", want: 200, req: "POST /echo/a HTTP/1.1\r\n" + hostLine + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"},
	{name: "upstream-chunked", want: 200, req: pGet("/echo/a", upHeader("Transfer-Encoding", "chunked"))},
	{name: "upstream-chunked-large", want: 200, req: pGet("/echo/a", "X-Upstream-Body-Bytes: 100000\r\n"+upHeader("Transfer-Encoding", "chunked"))},
	{name: "upstream-large-body", want: 200, req: pGet("/echo/a", "X-Upstream-Body-Bytes: 100000\r\n")},
	{name: "upstream-empty-body", want: 200, req: pGet("/echo/a", "X-Upstream-Body-Bytes: 0\r\n")},
	{name: "upstream-hop-by-hop", want: 200, req: pGet("/echo/a",
		upHeader("Connection", "X-Foo")+upHeader("X-Foo", "bar")+upHeader("Keep-Alive", "timeout=5")+
			upHeader("Proxy-Authenticate", "Basic")+upHeader("Upgrade", "h2c")+upHeader("Trailer", "X-T")+
			upHeader("Te", "trailers")+upHeader("X-Kept", "yes"))},
	{name: "upstream-connection-close", want: 200, req: pGet("/echo/a", "X-Upstream-Close: 1\r\n")},
	{name: "upstream-date-and-server", want: 200, req: pGet("/echo/a", upHeader("Server", "backend/1.0")+upHeader("Date", "Mon, 01 Jan 2001 00:00:00 GMT"))},
	// The upstream sends headers the gateway sets too: the client should
	// get one of each, the gateway's, whatever the spelling (recorded, not
	// asserted).
	{name: "upstream-sets-gateway-headers", want: 200, req: pGet("/echo/a",
		upHeader("X-Request-ID", "from-upstream")+upHeader("X-Response-Time-Ms", "999")+upHeader("X-RateLimit-Limit", "7"))},
	{name: "upstream-sets-ratelimit-headers", want: 200, req: pGet("/limited3/a",
		upHeader("X-RateLimit-Remaining", "12345")+upHeader("RateLimit", `"up";r=12345;t=1`))},
	// The upstream's own Vary and Access-Control-Allow-Origin on a CORS
	// route, where the gateway sets both.
	{name: "cors-upstream-vary", want: 200, req: pGet("/cors/a", "Origin: https://app.test\r\n"+
		upHeader("Vary", "Accept-Encoding")+upHeader("Access-Control-Allow-Origin", "*"))},
	{name: "upstream-204", want: 204, req: pGet("/echo/a", "X-Upstream-Status: 204\r\n")},
	{name: "upstream-304", want: 304, req: pGet("/echo/a", "X-Upstream-Status: 304\r\n")},
	{name: "upstream-500", want: 500, req: pGet("/echo/a", "X-Upstream-Status: 500\r\n")},
	{name: "upstream-503-retry-after", want: 503, req: pGet("/echo/a", "X-Upstream-Status: 503\r\n"+upHeader("Retry-After", "7"))},
	{name: "deprecated-route", want: 200, req: pGet("/old/a", "")},
	{name: "cors-simple", want: 200, req: pGet("/cors/a", "Origin: https://app.test\r\n")},
	{name: "cors-preflight", want: 204, req: "OPTIONS /cors/a HTTP/1.1\r\n" + hostLine +
		"Origin: https://app.test\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: X-Custom\r\n\r\n"},
	{name: "rate-limit-first", want: 200, req: pGet("/limited1/a", "")},

	// Gateway answers.
	{name: "self-health", want: 200, req: pGet("/health", "")},
	{name: "head-self-health", want: 200, head: true, req: pHead("/health", "")},
	{name: "404", want: 404, req: pGet("/nowhere", "")},
	{name: "404-connection-close", want: 404, req: pGet("/nowhere", "Connection: close\r\n")},
	{name: "head-404", want: 404, head: true, req: pHead("/nowhere", "")},
	{name: "405", want: 405, req: pPost("/getonly/a", "", "x")},
	{name: "401-no-token", want: 401, req: pGet("/jwt/a", "")},
	{name: "401-bad-token", want: 401, req: pGet("/jwt/a", "Authorization: Bearer not.a.token\r\n")},
	{name: "413", want: 413, req: pPost("/small/a", "", strings.Repeat("x", 100))},
	{name: "413-expect-100", want: 413, req: "POST /small/a HTTP/1.1\r\n" + hostLine + "Expect: 100-continue\r\nContent-Length: 100\r\n\r\n"},
	{name: "429", want: 429, prep: []string{pGet("/limited2/a", "")}, req: pGet("/limited2/a", "")},
	{name: "502-closed-port", want: 502, req: pGet("/dead/a", "")},
	{name: "503-no-healthy-backend", want: 503, prep: []string{pGet("/gone/a", "")}, req: pGet("/gone/a", "")},
	{name: "504-upstream-timeout", want: 504, req: pGet("/slow/a", "X-Upstream-Delay: 2s\r\n")},
	{name: "400-pipeline-dot-segment", want: 400, req: pGet("/echo/a/../b", "")},
	{name: "400-framing-cl-and-te", want: 400, req: "POST /echo/a HTTP/1.1\r\n" + hostLine +
		"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedHello},
	{name: "400-connection-names-content-length", want: 400, req: pPost("/echo/a", "Connection: Content-Length\r\n", "hello")},
	{name: "417-expect-unknown", want: 417, req: pGet("/echo/a", "Expect: foo\r\n"), stdlibAnswers: true},
	{name: "501-unknown-coding", want: 501, req: "POST /echo/a HTTP/1.1\r\n" + hostLine + "Transfer-Encoding: gzip, chunked\r\n\r\n" + chunkedHello},
	{name: "505-http2-version", want: 505, req: "GET /echo/a HTTP/2.0\r\n" + hostLine + "\r\n", stdlibAnswers: true},
	{name: "408-slow-body", want: 408, req: "POST /echo/a HTTP/1.1\r\n" + hostLine + "Content-Length: 10\r\n\r\nx"},
	// fasthttp (StreamRequestBody) reads up to 8 KiB of a body before it
	// calls the handler, and streams the rest to it: this client stalls
	// after that.
	{name: "408-slow-large-body", want: 408, req: "POST /echo/a HTTP/1.1\r\n" + hostLine + "Content-Length: 20000\r\n\r\n" + strings.Repeat("x", 10000)},

	// Answers the engines' own parsers give.
	{name: "400-parser-nul-in-header", want: 400, req: pGet("/echo/a", "X-Bad: a\x00b\r\n")},
	{name: "400-parser-no-host", want: 400, req: "GET /echo/a HTTP/1.1\r\n\r\n"},
	{name: "400-parser-space-in-target", want: 400, req: "GET /echo/a b HTTP/1.1\r\n" + hostLine + "\r\n"},
	{name: "431-huge-header-block", want: 431, req: pGet("/echo/a", "X-Big: "+strings.Repeat("b", 6000)+"\r\n")},
	{name: "431-huge-request-line", want: 431, req: pGet("/echo/a?"+strings.Repeat("q", 6000), "")},
	// RFC 9112 9.5 lets a server close a connection it has given up on
	// without answering.
	{name: "408-slow-header", want: 408, alt: []int{0}, req: "GET /echo/a HTTP/1.1\r\n" + hostLine},
}

// parityConfig serves every case's route. The limits are short so the
// timeout cases answer quickly; heads and bodies of the other cases are
// sent whole at once.
func parityConfig(t *testing.T, echo, static, dead string) string {
	t.Helper()
	jwks, err := filepath.Abs("../../fixtures/keys/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`access_log: {output: "off"}
limits: {read_timeout: 500ms, read_header_timeout: 1s, max_header_bytes: 4096}
auth:
  jwt: {jwks_file: %q, issuers: ["https://issuer.gatelab.test"], audiences: [gatelab]}
rate_limits:
  tiers:
    - {name: tiny1, limit: 1, window: 60s, key: client_ip}
    - {name: tiny2, limit: 1, window: 60s, key: client_ip}
    - {name: roomy, limit: 1000, window: 60s, key: client_ip}
backends:
%s%s  - {name: dead, instances: [{url: %q}], health_check: {disabled: true}}
  - {name: gone, instances: [{url: %q}], health_check: {disabled: true, passive_failures: 1, eject_for: 60s}}
routes:
  - {id: echo, pattern: /echo/*, backend: echo, auth: none}
  - {id: static, pattern: /static/*, backend: static, auth: none}
  - {id: getonly, pattern: /getonly/*, backend: echo, auth: none, methods: [GET, HEAD]}
  - {id: jwt, pattern: /jwt/*, backend: echo, auth: jwt}
  - {id: small, pattern: /small/*, backend: echo, auth: none, max_body_bytes: 16}
  - {id: limited1, pattern: /limited1/*, backend: echo, auth: none, rate_limit_tier: tiny1}
  - {id: limited2, pattern: /limited2/*, backend: echo, auth: none, rate_limit_tier: tiny2}
  - {id: limited3, pattern: /limited3/*, backend: echo, auth: none, rate_limit_tier: roomy}
  - {id: slow, pattern: /slow/*, backend: echo, auth: none, timeout_ms: 300}
  - {id: dead, pattern: /dead/*, backend: dead, auth: none}
  - {id: gone, pattern: /gone/*, backend: gone, auth: none}
  - {id: old, pattern: /old/*, backend: echo, auth: none, deprecated: true, sunset: "2030-01-01"}
  - {id: health, pattern: /health, backend: self, auth: none}
  - id: cors
    pattern: /cors/*
    backend: echo
    auth: none
    methods: [GET, POST]
    cors: {allowed_origins: ["https://app.test"], allowed_methods: [GET, POST], allowed_headers: [X-Custom], max_age_seconds: 600, allow_credentials: true}
`, jwks, hardeningBackend("echo", echo), hardeningBackend("static", static), dead, dead)
}

// startStaticUpstream runs "gatelab upstream -static" and returns its URL.
func startStaticUpstream(t *testing.T, name string) string {
	t.Helper()
	p := testproc.Start(t, "upstream", "-listen", "127.0.0.1:0", "-name", name, "-static")
	re := regexp.MustCompile(`^upstream ` + regexp.QuoteMeta(name) + ` listening on (http://\S+)$`)
	m, err := p.Fleet().WaitLine(context.Background(), re, 30*time.Second)
	if err != nil {
		t.Fatalf("static upstream: %v", err)
	}
	return m[1]
}

// --- the response as it came off the wire -------------------------------------------

type wireHeader struct{ name, value string }

// wireResponse is one response exactly as the server sent it.
type wireResponse struct {
	proto   string // "HTTP/1.1"
	status  int    // 0: no response
	reason  string
	interim []int // 1xx before the final response
	headers []wireHeader
	framing string // "content-length", "chunked", "until-close", "none" (HEAD, 1xx, 204, 304)
	body    []byte
	closed  bool   // the server closed the connection after the response
	extra   string // bytes after the response: a second answer
	err     string // reading failed (no response, or a broken one)
}

// parityDo sends c (its prep requests first) to addr and reads the answer.
func parityDo(addr string, c parityCase) wireResponse {
	for _, p := range c.prep {
		if x := rawDo(addr, p, false); x.status == 0 {
			return wireResponse{err: "prep request: " + fmt.Sprint(x.err)}
		}
	}
	conn, err := net.DialTimeout("tcp", addr, parityDial)
	if err != nil {
		return wireResponse{err: err.Error()}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(parityResponse))
	// A server may answer and close before reading everything: a failed
	// write still leaves its answer to read.
	_, _ = io.WriteString(conn, c.req)
	br := bufio.NewReader(conn)
	r := readWire(br, c.head)
	if r.status == 0 || r.closed {
		return r
	}
	r.extra, r.closed = afterAnswer(conn, br, parityCloseWait)
	return r
}

// readWire reads one final response (after any 1xx) from br.
func readWire(br *bufio.Reader, head bool) wireResponse {
	var r wireResponse
	fail := func(err error) wireResponse {
		r.err = shortErr(err)
		if r.status == 0 {
			r.closed = !isTimeout(err)
		}
		return r
	}
	for {
		line, err := readLine(br)
		if err != nil {
			r.status = 0
			return fail(err)
		}
		proto, rest, _ := strings.Cut(line, " ")
		code, reason, _ := strings.Cut(rest, " ")
		status, err := strconv.Atoi(code)
		if err != nil || !strings.HasPrefix(proto, "HTTP/") {
			r.err = fmt.Sprintf("bad status line %q", line)
			return r
		}
		r.proto, r.status, r.reason, r.headers = proto, status, reason, nil
		for {
			line, err := readLine(br)
			if err != nil {
				return fail(err)
			}
			if line == "" {
				break
			}
			name, value, _ := strings.Cut(line, ":")
			r.headers = append(r.headers, wireHeader{name, strings.Trim(value, " \t")})
		}
		if status >= 100 && status < 200 && status != 101 {
			r.interim = append(r.interim, status)
			continue
		}
		break
	}
	switch {
	case head || r.status == 204 || r.status == 304:
		r.framing = "none"
	case strings.Contains(strings.ToLower(r.get("transfer-encoding")), "chunked"):
		r.framing = "chunked"
		for {
			line, err := readLine(br)
			if err != nil {
				return fail(err)
			}
			size, _, _ := strings.Cut(line, ";")
			n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
			if err != nil {
				r.err = fmt.Sprintf("bad chunk size line %q", line)
				return r
			}
			if n == 0 {
				for { // trailers
					line, err := readLine(br)
					if err != nil {
						return fail(err)
					}
					if line == "" {
						break
					}
				}
				break
			}
			chunk := make([]byte, n+2)
			if _, err := io.ReadFull(br, chunk); err != nil {
				return fail(err)
			}
			r.body = append(r.body, chunk[:n]...)
		}
	case r.get("content-length") != "":
		r.framing = "content-length"
		n, err := strconv.Atoi(r.get("content-length"))
		if err != nil || n < 0 {
			r.err = "bad Content-Length " + r.get("content-length")
			return r
		}
		r.body = make([]byte, n)
		if _, err := io.ReadFull(br, r.body); err != nil {
			return fail(err)
		}
	default:
		r.framing = "until-close"
		b, err := io.ReadAll(br)
		r.body, r.closed = b, true
		if err != nil {
			return fail(err)
		}
	}
	return r
}

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		if err == io.EOF && line != "" {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

// get is the first value of the header (any case), "" when absent.
func (r wireResponse) get(lower string) string {
	for _, h := range r.headers {
		if strings.ToLower(h.name) == lower {
			return h.value
		}
	}
	return ""
}

func (r wireResponse) has(lower string) bool {
	return slices.ContainsFunc(r.headers, func(h wireHeader) bool { return strings.ToLower(h.name) == lower })
}

// --- normalisation ----------------------------------------------------------------------

var (
	reRequestID   = regexp.MustCompile(`"request_id":"[^"]*"`)
	reVia         = regexp.MustCompile(`gatelab-[0-9a-f]{8}`)
	reTraceparent = regexp.MustCompile(`00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]`)
	reRemoteAddr  = regexp.MustCompile(`"remote_addr":"127\.0\.0\.1:[0-9]+"`)
	reRateLimitT  = regexp.MustCompile(`;t=[0-9]+`)
	reUUID        = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	reDigits      = regexp.MustCompile(`^[0-9]+$`)
	reMillis      = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
)

// normValue is a header value with what varies per request replaced.
func normValue(lower, v string) string {
	switch lower {
	case "x-request-id":
		if reUUID.MatchString(v) {
			return "<request-id>"
		}
	case "x-response-time-ms":
		if reMillis.MatchString(v) {
			return "<ms>"
		}
	case "date":
		if _, err := http.ParseTime(v); err == nil && !strings.HasPrefix(v, "Mon, 01 Jan 2001") {
			return "<now>"
		}
	case "x-ratelimit-reset":
		if reDigits.MatchString(v) {
			return "<unix-time>"
		}
	case "retry-after":
		if reDigits.MatchString(v) {
			return "<seconds>"
		}
	case "ratelimit":
		return reRateLimitT.ReplaceAllString(v, ";t=<seconds>")
	}
	return v
}

// normBody is the body with the request id, Via token, trace ids and the
// upstream-seen client port replaced; requestID is the response's
// X-Request-ID, which an echo carries as the forwarded header.
func normBody(b []byte, requestID string) string {
	s := string(b)
	s = reRequestID.ReplaceAllString(s, `"request_id":"<request-id>"`)
	if requestID != "" {
		s = strings.ReplaceAll(s, requestID, "<request-id>")
	}
	s = reVia.ReplaceAllString(s, "gatelab-<token>")
	s = reTraceparent.ReplaceAllString(s, "00-<trace-id>-<span-id>-01")
	s = reRemoteAddr.ReplaceAllString(s, `"remote_addr":"127.0.0.1:<port>"`)
	return s
}

// errorBody is a gateway JSON error body: {"error": ..., "request_id": ...}.
func errorBody(b []byte) (map[string]any, bool) {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil, false
	}
	_, e := m["error"]
	_, id := m["request_id"]
	return m, e && id
}

// --- comparing -----------------------------------------------------------------------------

func quoteShort(s string, n int) string {
	if len(s) > n {
		return strconv.Quote(s[:n]) + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

// headerNames is the wire spelling of each lower-cased name, in order of
// first appearance, and how often each appears.
func headerNames(r wireResponse) (order []string, spelling map[string][]string, values map[string][]string) {
	spelling, values = map[string][]string{}, map[string][]string{}
	for _, h := range r.headers {
		l := strings.ToLower(h.name)
		if _, seen := spelling[l]; !seen {
			order = append(order, l)
		}
		spelling[l] = append(spelling[l], h.name)
		values[l] = append(values[l], normValue(l, h.value))
	}
	return order, spelling, values
}

// diffResponses lists every difference between a (nethttp) and b
// (fasthttp), one line each, after normalisation.
func diffResponses(a, b wireResponse) []string {
	var d []string
	na, nb := hardeningServers[0], hardeningServers[1]
	if a.status != b.status {
		d = append(d, fmt.Sprintf("status: %d vs %d", a.status, b.status))
	}
	if a.status == 0 || b.status == 0 {
		d = append(d, fmt.Sprintf("no response: %s: %q, %s: %q (closed %v/%v)", na, a.err, nb, b.err, a.closed, b.closed))
		if a.status == 0 && b.status == 0 {
			return d
		}
	}
	if a.proto != b.proto {
		d = append(d, fmt.Sprintf("protocol: %s vs %s", a.proto, b.proto))
	}
	if a.reason != b.reason {
		d = append(d, fmt.Sprintf("reason phrase: %q vs %q", a.reason, b.reason))
	}
	if !slices.Equal(a.interim, b.interim) {
		d = append(d, fmt.Sprintf("interim responses: %v vs %v", a.interim, b.interim))
	}
	oa, sa, va := headerNames(a)
	ob, sb, vb := headerNames(b)
	for _, l := range oa {
		if _, ok := sb[l]; !ok {
			d = append(d, fmt.Sprintf("header %s only from %s: %s", sa[l][0], na, quoteShort(strings.Join(va[l], " | "), 80)))
		}
	}
	for _, l := range ob {
		if _, ok := sa[l]; !ok {
			d = append(d, fmt.Sprintf("header %s only from %s: %s", sb[l][0], nb, quoteShort(strings.Join(vb[l], " | "), 80)))
		}
	}
	for _, l := range oa {
		if _, ok := sb[l]; !ok {
			continue
		}
		if !slices.Equal(sa[l], sb[l]) {
			d = append(d, fmt.Sprintf("header name spelling: %s vs %s", strings.Join(sa[l], ","), strings.Join(sb[l], ",")))
		}
		if !slices.Equal(va[l], vb[l]) {
			d = append(d, fmt.Sprintf("header %s value: %s vs %s", sa[l][0],
				quoteShort(strings.Join(va[l], " | "), 80), quoteShort(strings.Join(vb[l], " | "), 80)))
		}
	}
	common := func(order []string, other map[string][]string) []string {
		return slices.DeleteFunc(slices.Clone(order), func(l string) bool { _, ok := other[l]; return !ok })
	}
	if ca, cb := common(oa, sb), common(ob, sa); !slices.Equal(ca, cb) {
		d = append(d, fmt.Sprintf("header order: %s vs %s", strings.Join(ca, " "), strings.Join(cb, " ")))
	}
	if a.framing != b.framing {
		d = append(d, fmt.Sprintf("body framing: %s vs %s", a.framing, b.framing))
	}
	if ba, bb := normBody(a.body, a.get("x-request-id")), normBody(b.body, b.get("x-request-id")); ba != bb {
		d = append(d, diffBodies(ba, bb)...)
	}
	if a.closed != b.closed {
		d = append(d, fmt.Sprintf("connection closed after the response: %v vs %v", a.closed, b.closed))
	}
	if a.extra != b.extra {
		d = append(d, fmt.Sprintf("bytes after the response: %q vs %q", a.extra, b.extra))
	}
	if a.err != b.err {
		d = append(d, fmt.Sprintf("read error: %q vs %q", a.err, b.err))
	}
	return d
}

// diffBodies describes how two normalised bodies differ: for two upstream
// echoes, field by field and forwarded header by header; otherwise around
// the first differing byte.
func diffBodies(a, b string) []string {
	na, nb := hardeningServers[0], hardeningServers[1]
	var ea, eb map[string]any
	if json.Unmarshal([]byte(a), &ea) == nil && json.Unmarshal([]byte(b), &eb) == nil && ea["name"] == "parity-echo" && eb["name"] == "parity-echo" {
		var d []string
		ha, _ := ea["headers"].(map[string]any)
		hb, _ := eb["headers"].(map[string]any)
		delete(ea, "headers")
		delete(eb, "headers")
		for _, k := range slices.Sorted(maps.Keys(ea)) {
			if fmt.Sprint(ea[k]) != fmt.Sprint(eb[k]) {
				d = append(d, fmt.Sprintf("echo %s: %v vs %v", k, ea[k], eb[k]))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(ha)) {
			if _, ok := hb[k]; !ok {
				d = append(d, fmt.Sprintf("echo: upstream got %s only from %s: %v", k, na, ha[k]))
			} else if fmt.Sprint(ha[k]) != fmt.Sprint(hb[k]) {
				d = append(d, fmt.Sprintf("echo: upstream got %s %v vs %v", k, ha[k], hb[k]))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(hb)) {
			if _, ok := ha[k]; !ok {
				d = append(d, fmt.Sprintf("echo: upstream got %s only from %s: %v", k, nb, hb[k]))
			}
		}
		if len(d) > 0 {
			return d
		}
	}
	if len(a) <= 120 && len(b) <= 120 {
		return []string{fmt.Sprintf("body: %q vs %q", a, b)}
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-30)
	return []string{fmt.Sprintf("body (%d vs %d bytes) differs at byte %d: ...%s vs ...%s",
		len(a), len(b), i, quoteShort(a[from:], 90), quoteShort(b[from:], 90))}
}

// mustHold checks one engine's response alone: the status the case is
// built for, and a JSON error body whose request_id is the X-Request-ID.
func mustHold(t *testing.T, server string, c parityCase, r wireResponse) {
	t.Helper()
	if r.status != c.want && !slices.Contains(c.alt, r.status) {
		t.Errorf("%s: status %d (%s), want %d (or %v); body %s", server, r.status, r.err, c.want, c.alt, quoteShort(string(r.body), 200))
	}
	if m, ok := errorBody(r.body); ok {
		if id := r.get("x-request-id"); m["request_id"] != id || id == "" {
			t.Errorf("%s: the error body's request_id %q is not the X-Request-ID header %q", server, m["request_id"], id)
		}
	}
}

// mustAgree checks what both engines must answer alike: the status, the
// gateway headers, the JSON error body modulo request id.
func mustAgree(t *testing.T, a, b wireResponse) {
	t.Helper()
	na, nb := hardeningServers[0], hardeningServers[1]
	if a.status != b.status {
		t.Errorf("status: %s %d, %s %d", na, a.status, nb, b.status)
	}
	var onlyA, onlyB []string
	for _, h := range gatewayHeaders {
		switch ha, hb := a.has(h), b.has(h); {
		case ha && !hb:
			onlyA = append(onlyA, h)
		case hb && !ha:
			onlyB = append(onlyB, h)
		}
	}
	if len(onlyA)+len(onlyB) > 0 {
		t.Errorf("gateway headers differ: only from %s %q, only from %s %q", na, onlyA, nb, onlyB)
	}
	ea, okA := errorBody(a.body)
	eb, okB := errorBody(b.body)
	if okA || okB {
		if okA {
			ea["request_id"] = "<request-id>"
		}
		if okB {
			eb["request_id"] = "<request-id>"
		}
		ja, _ := json.Marshal(ea)
		jb, _ := json.Marshal(eb)
		if !okA || !okB || string(ja) != string(jb) {
			t.Errorf("JSON error bodies differ: %s %s, %s %s", na, quoteShort(string(a.body), 200), nb, quoteShort(string(b.body), 200))
		}
	}
}

// summary is one engine's answer in a few words.
func (r wireResponse) summary() string {
	if r.status == 0 {
		return fmt.Sprintf("none (%s)", r.err)
	}
	s := strconv.Itoa(r.status) + " " + r.framing
	if r.closed {
		s += " closed"
	}
	return s
}

// TestParityResponses sends every parity case to both engines at once and
// compares the responses.
func TestParityResponses(t *testing.T) {
	if len(hardeningServers) != 2 {
		t.Fatalf("parity compares two engines, have %v", hardeningServers)
	}
	echo := testproc.StartUpstream(t, "parity-echo")
	static := startStaticUpstream(t, "parity-static")
	// Nothing listens there (FreeAddr closed it): dials are refused.
	dead := "http://" + testproc.FreeAddr(t)
	cfg := parityConfig(t, echo, static, dead)
	addrs := make([]string, len(hardeningServers))
	for i, server := range hardeningServers {
		addrs[i] = startHardening(t, server, cfg).Traffic
	}

	got := make([][]wireResponse, len(hardeningServers))
	var wg sync.WaitGroup
	for i := range hardeningServers {
		got[i] = make([]wireResponse, len(parityCases))
		for j, c := range parityCases {
			wg.Add(1)
			go func() { defer wg.Done(); got[i][j] = parityDo(addrs[i], c) }()
		}
	}
	wg.Wait()

	var report strings.Builder
	fmt.Fprintf(&report, "engine parity: %s vs %s, after normalising request ids, times, Date, trace ids, the Via token and the upstream-seen client port\n",
		hardeningServers[0], hardeningServers[1])
	same := 0
	for j, c := range parityCases {
		a, b := got[0][j], got[1][j]
		diffs := diffResponses(a, b)
		if len(diffs) == 0 {
			same++
			fmt.Fprintf(&report, "%-38s %-28s identical\n", c.name, a.summary())
		} else {
			fmt.Fprintf(&report, "%-38s %s | %s\n", c.name, a.summary(), b.summary())
			for _, l := range diffs {
				fmt.Fprintf(&report, "%38s - %s\n", "", l)
			}
		}
		t.Run(c.name, func(t *testing.T) {
			for i, server := range hardeningServers {
				mustHold(t, server, c, got[i][j])
			}
			if c.stdlibAnswers {
				if a.status != b.status {
					t.Errorf("status: %s %d, %s %d", hardeningServers[0], a.status, hardeningServers[1], b.status)
				}
				return
			}
			mustAgree(t, a, b)
		})
	}
	fmt.Fprintf(&report, "%d of %d cases identical", same, len(parityCases))
	t.Log(report.String())
}

// The wire reader is what the parity verdicts rest on: it must keep names
// as spelled and in order, and read each framing.
func TestParityWireReader(t *testing.T) {
	cases := []struct {
		name, raw string
		head      bool
		want      wireResponse
	}{
		{"length", "HTTP/1.1 200 OK\r\nX-Request-ID: a\r\ncontent-length: 2\r\n\r\nhi", false,
			wireResponse{proto: "HTTP/1.1", status: 200, reason: "OK", framing: "content-length", body: []byte("hi"),
				headers: []wireHeader{{"X-Request-ID", "a"}, {"content-length", "2"}}}},
		{"chunked-after-100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1;x=y\r\n!\r\n0\r\nT: v\r\n\r\n", false,
			wireResponse{proto: "HTTP/1.1", status: 201, reason: "Created", interim: []int{100}, framing: "chunked", body: []byte("hi!"),
				headers: []wireHeader{{"Transfer-Encoding", "chunked"}}}},
		{"head", "HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\n", true,
			wireResponse{proto: "HTTP/1.0", status: 404, reason: "Not Found", framing: "none",
				headers: []wireHeader{{"Content-Length", "9"}}}},
		{"until-close", "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nbad", false,
			wireResponse{proto: "HTTP/1.1", status: 400, reason: "Bad Request", framing: "until-close", body: []byte("bad"), closed: true,
				headers: []wireHeader{{"Connection", "close"}}}},
	}
	for _, c := range cases {
		got := readWire(bufio.NewReader(strings.NewReader(c.raw)), c.head)
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
		if d := diffResponses(got, got); len(d) != 0 {
			t.Errorf("%s: a response differs from itself: %q", c.name, d)
		}
	}
	a := readWire(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nX-Request-ID: 0b6c7a4e-1f2d-4c3b-8a9e-5d6f7a8b9c0d\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\nContent-Length: 0\r\n\r\n")), false)
	b := readWire(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nDate: Tue, 03 Jan 2006 15:04:05 GMT\r\nX-Request-Id: 9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n")), false)
	want := []string{
		"header Content-Type only from fasthttp: \"text/plain\"",
		"header name spelling: X-Request-ID vs X-Request-Id",
		"header order: x-request-id date content-length vs date x-request-id content-length",
	}
	if d := diffResponses(a, b); !slices.Equal(d, want) {
		t.Errorf("diff:\n got %q\nwant %q", d, want)
	}
}
