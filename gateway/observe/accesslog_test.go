package observe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// lockedBuffer is an io.Writer the test can read while the writer goroutine
// is alive.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) lines(t *testing.T) []string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.b.String()
	if s == "" {
		return nil
	}
	if !strings.HasSuffix(s, "\n") {
		t.Fatalf("output does not end with a newline: %q", s)
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func ptr[T any](v T) *T { return &v }

func fullEntry() *Entry {
	return &Entry{
		Time:               time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600)),
		RequestID:          "0b8a5f4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b",
		Method:             "POST",
		Path:               "/api/v2/orders",
		Query:              "page=2&api_key=sk_live_abc",
		Status:             201,
		ClientIP:           "203.0.113.7",
		UserAgent:          "curl/8.5.0",
		UserID:             "user-42",
		PartnerID:          "",
		BackendService:     "orders",
		BackendInstance:    "http://10.0.0.5:8081",
		RouteID:            "orders-create",
		ConfigVersion:      7,
		TotalLatency:       12345600 * time.Nanosecond, // 12.3456 ms
		UpstreamLatency:    11*time.Millisecond + 900*time.Microsecond,
		RateLimitRemaining: -1,
		RateLimited:        false,
		RequestBytes:       512,
		ResponseBytes:      1024,
		ErrorType:          "",
		ErrorMessage:       "",
	}
}

// schema is every key of a line and its JSON type ("null" allowed where
// listed with a "|null").
var schema = []struct{ key, typ string }{
	{"timestamp", "string"},
	{"request_id", "string"},
	{"method", "string"},
	{"path", "string"},
	{"query_string", "string"},
	{"status", "number"},
	{"client_ip", "string"},
	{"user_agent", "string"},
	{"user_id", "string"},
	{"partner_id", "string|null"},
	{"backend_service", "string"},
	{"backend_instance", "string"},
	{"route_id", "string"},
	{"config_version", "number"},
	{"total_latency_ms", "number"},
	{"gateway_overhead_ms", "number"},
	{"upstream_latency_ms", "number"},
	{"rate_limit_remaining", "number|null"},
	{"rate_limited", "bool"},
	{"request_bytes", "number"},
	{"response_bytes", "number"},
	{"error_type", "string"},
	{"error_message", "string|null"},
	{"gateway_instance", "string"},
	{"gateway_version", "string"},
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "other"
}

// encodeOne logs e through a fresh AccessLog and returns the line.
func encodeOne(t *testing.T, e *Entry) string {
	t.Helper()
	var out lockedBuffer
	l := NewAccessLog(&out, AccessLogOptions{Instance: "gw-1", Version: "v0.1.0"})
	l.Log(e)
	l.Close()
	lines := out.lines(t)
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1: %q", len(lines), lines)
	}
	return lines[0]
}

func decode(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, line)
	}
	return m
}

func TestAccessLogSchema(t *testing.T) {
	line := encodeOne(t, fullEntry())
	m := decode(t, line)

	if len(m) != len(schema) {
		t.Errorf("line has %d keys, want %d: %s", len(m), len(schema), line)
	}
	last := -1
	for _, f := range schema {
		v, ok := m[f.key]
		if !ok {
			t.Errorf("missing key %s", f.key)
			continue
		}
		if got := jsonType(v); !strings.Contains(f.typ, got) {
			t.Errorf("%s is %s (%v), want %s", f.key, got, v, f.typ)
		}
		// Keys come out in schema order.
		i := strings.Index(line, `"`+f.key+`":`)
		if i < last {
			t.Errorf("key %s out of order", f.key)
		}
		last = i
	}

	want := map[string]any{
		"timestamp":            "2024-05-06T05:08:09.123Z",
		"request_id":           "0b8a5f4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b",
		"method":               "POST",
		"path":                 "/api/v2/orders",
		"query_string":         "page=2&api_key=REDACTED",
		"status":               201.0,
		"client_ip":            "203.0.113.7",
		"user_agent":           "curl/8.5.0",
		"user_id":              "user-42",
		"partner_id":           nil,
		"backend_service":      "orders",
		"backend_instance":     "http://10.0.0.5:8081",
		"route_id":             "orders-create",
		"config_version":       float64(7),
		"total_latency_ms":     12.346,
		"gateway_overhead_ms":  0.446,
		"upstream_latency_ms":  11.9,
		"rate_limit_remaining": nil,
		"rate_limited":         false,
		"request_bytes":        512.0,
		"response_bytes":       1024.0,
		"error_type":           "",
		"error_message":        nil,
		"gateway_instance":     "gw-1",
		"gateway_version":      "v0.1.0",
	}
	for k, w := range want {
		if m[k] != w {
			t.Errorf("%s = %#v, want %#v", k, m[k], w)
		}
	}
	// Three decimals exactly, as written.
	for _, frag := range []string{
		`"total_latency_ms":12.346,`, `"gateway_overhead_ms":0.446,`, `"upstream_latency_ms":11.900,`,
	} {
		if !strings.Contains(line, frag) {
			t.Errorf("line lacks %s: %s", frag, line)
		}
	}
	if strings.Contains(line, "sk_live_abc") {
		t.Error("API key leaked into the log")
	}
}

func TestAccessLogNullableFields(t *testing.T) {
	e := fullEntry()
	e.PartnerID = "partner-7"
	e.RateLimitRemaining = 0
	e.RateLimited = true
	e.Status = 429
	e.ErrorType = ReasonRateLimited.String()
	e.ErrorMessage = "rate limit exceeded"
	e.UpstreamLatency = 0
	m := decode(t, encodeOne(t, e))
	for k, w := range map[string]any{
		"partner_id":           "partner-7",
		"rate_limit_remaining": 0.0,
		"rate_limited":         true,
		"error_type":           "rate_limited",
		"error_message":        "rate limit exceeded",
		"upstream_latency_ms":  0.0,
		"gateway_overhead_ms":  12.346, // no upstream: everything is overhead
	} {
		if m[k] != w {
			t.Errorf("%s = %#v, want %#v", k, m[k], w)
		}
	}

	var r Entry
	r.Reset()
	if r.RateLimitRemaining != -1 {
		t.Errorf("Reset: RateLimitRemaining = %d", r.RateLimitRemaining)
	}
}

func TestAccessLogTimestamp(t *testing.T) {
	re := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "2024-01-02T03:04:05.000Z"},
		{time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC), "1999-12-31T23:59:59.999Z"},
		{time.Date(2024, 3, 10, 1, 0, 0, 7_000_000, time.FixedZone("X", -5*3600)), "2024-03-10T06:00:00.007Z"},
		{time.Date(12, 1, 1, 0, 0, 0, 0, time.UTC), "0012-01-01T00:00:00.000Z"},
	} {
		got := string(appendTimestamp(nil, tc.in))
		if got != tc.want {
			t.Errorf("appendTimestamp(%v) = %s, want %s", tc.in, got, tc.want)
		}
		if !re.MatchString(got) {
			t.Errorf("%s does not match the format", got)
		}
		if p, err := time.Parse(time.RFC3339Nano, got); err != nil || !p.Equal(tc.in.Truncate(time.Millisecond)) {
			t.Errorf("%s parses as %v, %v", got, p, err)
		}
	}

	// Zero Time means now.
	e := fullEntry()
	e.Time = time.Time{}
	before := time.Now().Add(-time.Second)
	ts, _ := time.Parse(time.RFC3339Nano, decode(t, encodeOne(t, e))["timestamp"].(string))
	if ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("zero Time logged as %v", ts)
	}
}

func TestAppendMillis(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                 "0.000",
		time.Nanosecond:                   "0.000",
		499 * time.Nanosecond:             "0.000",
		500 * time.Nanosecond:             "0.001",
		time.Microsecond:                  "0.001",
		999_499 * time.Nanosecond:         "0.999",
		999_500 * time.Nanosecond:         "1.000",
		time.Millisecond:                  "1.000",
		1234567 * time.Nanosecond:         "1.235",
		10 * time.Second:                  "10000.000",
		90*time.Minute + time.Microsecond: "5400000.001",
	} {
		if got := string(appendMillis(nil, d)); got != want {
			t.Errorf("appendMillis(%v) = %s, want %s", d, got, want)
		}
	}
}

// sanitize is what a JSON string decodes to after appendEscaped: s with each
// invalid UTF-8 byte replaced by U+FFFD.
func sanitize(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // RuneError for an invalid byte, n == 1
		i += n
	}
	return b.String()
}

var trickyStrings = []string{
	"",
	"plain ascii",
	`quote " and backslash \ and slash /`,
	"newline\nreturn\rtab\tbackspace\bformfeed\f",
	"nul\x00 unit-sep\x1f del\x7f esc\x1b",
	"line sep\u2028para sep\u2029",
	"invalid \xff\xfe utf-8 \xc3(",
	"truncated \xe2\x82",
	"real replacement char \ufffd",
	"emoji 🚀 and ünïcödé and 日本語",
	`{"injected":"json"}`,
	"</script><script>alert(1)</script>",
	"\"\n{\"status\":200}",
	"\\u0000 literal",
}

func TestEncodeStringTricky(t *testing.T) {
	for _, s := range trickyStrings {
		enc := appendJSONString(nil, s)
		if !json.Valid(enc) {
			t.Errorf("%q encodes to invalid JSON %s", s, enc)
			continue
		}
		if bytes.ContainsAny(enc, "\n\r") {
			t.Errorf("%q: encoding contains a raw line break", s)
		}
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatal(err)
		}
		if back != sanitize(s) {
			t.Errorf("round trip of %q = %q", s, back)
		}
	}
	// Spot-check the exact escapes.
	for in, want := range map[string]string{
		"a\"b":   `"a\"b"`,
		`a\b`:    `"a\\b"`,
		"\n\t":   `"\n\t"`,
		"\x01":   `"\u0001"`,
		"\xff":   `"\ufffd"`,
		"\u2028": `"\u2028"`,
		"é":      `"é"`,
	} {
		if got := string(appendJSONString(nil, in)); got != want {
			t.Errorf("encode(%q) = %s, want %s", in, got, want)
		}
	}
}

// A whole entry full of tricky strings is still one valid JSON line whose
// fields round-trip.
func TestAccessLogEscapingRoundTrip(t *testing.T) {
	for _, s := range trickyStrings {
		e := fullEntry()
		e.Path, e.UserAgent, e.ErrorMessage, e.UserID = "/p"+s, s, "x"+s, s
		line := encodeOne(t, e)
		m := decode(t, line)
		for k, w := range map[string]string{
			"path": "/p" + sanitize(s), "user_agent": sanitize(s), "error_message": "x" + sanitize(s), "user_id": sanitize(s),
		} {
			if m[k] != w {
				t.Errorf("%s = %q, want %q", k, m[k], w)
			}
		}
	}
}

func FuzzEncodeString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Add("api_key=secret&x=\x00&token")
	f.Fuzz(func(t *testing.T, s string) {
		enc := appendJSONString(nil, s)
		if !json.Valid(enc) {
			t.Fatalf("invalid JSON for %q: %s", s, enc)
		}
		if bytes.ContainsAny(enc, "\n\r") {
			t.Fatalf("raw line break for %q", s)
		}
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatal(err)
		}
		if want := sanitize(s); back != want {
			t.Fatalf("round trip of %q = %q, want %q", s, back, want)
		}
		// The query encoder must produce valid JSON for any input too.
		q := appendRedactedQuery(nil, s)
		if !json.Valid(q) {
			t.Fatalf("query %q encodes to invalid JSON %s", s, q)
		}
	})
}

func TestQueryRedaction(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "",
		"a=1&b=2":                     "a=1&b=2",
		"api_key=sk_live_123":         "api_key=REDACTED",
		"API_KEY=x&apikey=y&Key=z":    "API_KEY=REDACTED&apikey=REDACTED&Key=REDACTED",
		"access_token=eyJ.a.b&page=3": "access_token=REDACTED&page=3",
		"Access-Token=abc":            "Access-Token=REDACTED",
		"X-Amz-Signature=dead&X-Amz-Security-Token=beef&X-Amz-Date=20240101": "X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED&X-Amz-Date=20240101",
		"%61pi%5Fkey=zzz":               "%61pi%5Fkey=REDACTED",
		"password=&user=bob":            "password=REDACTED&user=bob",
		"token":                         "token",
		"secret=a=b=c&&client_secret=s": "secret=REDACTED&&client_secret=REDACTED",
		"monkey=1&keyboard=2":           "monkey=1&keyboard=2",
		"q=token%3Dabc":                 "q=token%3Dabc",
		"sig=abc&signature=def":         "sig=REDACTED&signature=REDACTED",
	} {
		got := string(appendRedactedQuery(nil, in))
		if got != `"`+want+`"` {
			t.Errorf("redact(%q) = %s, want %q", in, got, want)
		}
	}

	for name, want := range map[string]bool{
		"token": true, "TOKEN": true, "refresh_token": true, "id-token": true, "pageToken": true,
		"api_key": true, "api.key": true, "apiKey": true, "x-api-key": true, "key": true,
		"password": true, "Passwd": true, "secret": true, "client_secret": true,
		"signature": true, "X-Amz-Signature": true, "sig": true, "jwt": true, "auth": true,
		"session_id": true, "a%5Fkey": true, strings.Repeat("x", 200): true,
		"page": false, "q": false, "keys": false, "monkey": false, "signed": false,
		"tokens_used": false, "user": false, "": false, "author": false,
	} {
		if got := SensitiveQueryParam(name); got != want {
			t.Errorf("SensitiveQueryParam(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestAccessLogSampling(t *testing.T) {
	var out lockedBuffer
	l := NewAccessLog(&out, AccessLogOptions{SuccessSample: ptr(0.0)})
	e := fullEntry()
	for _, status := range []int{200, 201, 204, 301, 304, 100, 400, 401, 404, 429, 500, 503} {
		e.Status = status
		for range 10 {
			l.Log(e)
		}
	}
	l.Close()
	lines := out.lines(t)
	if len(lines) != 60 {
		t.Fatalf("sample 0 wrote %d lines, want the 60 errors", len(lines))
	}
	for _, line := range lines {
		if s := decode(t, line)["status"].(float64); s < 400 {
			t.Errorf("success %v logged at sample 0", s)
		}
	}
	if l.Written() != 60 || l.Dropped() != 0 {
		t.Errorf("written=%d dropped=%d", l.Written(), l.Dropped())
	}

	// nil means every success; 0.25 roughly a quarter.
	for _, tc := range []struct {
		sample   *float64
		min, max uint64
	}{
		{nil, 4000, 4000},
		{ptr(1.0), 4000, 4000},
		{ptr(7.0), 4000, 4000}, // clamped to 1
		{ptr(-1.0), 0, 0},      // clamped to 0
		{ptr(0.25), 800, 1200}, // mean 1000, sd ~27
	} {
		l := NewAccessLog(io.Discard, AccessLogOptions{SuccessSample: tc.sample, Buffer: 8000})
		e.Status = 200
		for range 4000 {
			l.Log(e)
		}
		l.Close()
		if got := l.Written() + l.Dropped(); got < tc.min || got > tc.max {
			t.Errorf("sample %v: %d logged, want %d..%d", tc.sample, got, tc.min, tc.max)
		}
	}
}

// blockingWriter blocks every Write until the test releases it and tells the
// test when a Write has started.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	lockedBuffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.release
	return w.lockedBuffer.Write(p)
}

func TestAccessLogDropsWhenWriterBlocked(t *testing.T) {
	m := NewMetrics()
	w := &blockingWriter{entered: make(chan struct{}, 16), release: make(chan struct{})}
	l := NewAccessLog(w, AccessLogOptions{
		Buffer:  2,
		Dropped: m.AccessLogDropped(),
		Written: m.AccessLogWritten(),
	})
	e := fullEntry()

	l.Log(e)    // taken by the writer, which then blocks in Write
	<-w.entered // the writer holds line 1 and the queue is empty
	l.Log(e)    // queued (1/2)
	l.Log(e)    // queued (2/2)
	for range 5 {
		l.Log(e) // queue full: dropped at once, never blocks
	}
	e.Status = 500
	l.Log(e) // errors are dropped too when there is no room

	if got := l.Dropped(); got != 6 {
		t.Errorf("Dropped() = %d, want 6", got)
	}
	if got := toFloat64(t, m.AccessLogDropped()); got != 6 {
		t.Errorf("gatelab_access_log_dropped_total = %v, want 6", got)
	}
	if l.Written() != 0 {
		t.Errorf("Written() = %d while the writer is blocked", l.Written())
	}

	close(w.release) // let every Write through
	l.Close()
	if got := len(w.lines(t)); got != 3 {
		t.Errorf("%d lines written, want 3", got)
	}
	if l.Written() != 3 || toFloat64(t, m.AccessLogWritten()) != 3 {
		t.Errorf("written = %d / %v, want 3", l.Written(), toFloat64(t, m.AccessLogWritten()))
	}

	// After Close, Log drops and counts instead of panicking or blocking.
	l.Log(e)
	if l.Dropped() != 7 {
		t.Errorf("Log after Close: Dropped() = %d, want 7", l.Dropped())
	}
	l.Close() // idempotent
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestAccessLogWriteErrorCountsDropped(t *testing.T) {
	l := NewAccessLog(failingWriter{}, AccessLogOptions{})
	e := fullEntry()
	for range 5 {
		l.Log(e)
	}
	l.Close()
	if l.Dropped() != 5 || l.Written() != 0 {
		t.Errorf("dropped=%d written=%d, want 5 and 0", l.Dropped(), l.Written())
	}
}

func TestAccessLogCloseFlushes(t *testing.T) {
	var out lockedBuffer
	l := NewAccessLog(&out, AccessLogOptions{Buffer: 10000})
	e := fullEntry()
	const n = 5000
	for i := range n {
		e.Status = 200 + i%300
		l.Log(e)
	}
	l.Close()
	lines := out.lines(t)
	if len(lines) != n || l.Written() != n || l.Dropped() != 0 {
		t.Fatalf("lines=%d written=%d dropped=%d, want %d", len(lines), l.Written(), l.Dropped(), n)
	}
	sc := bufio.NewScanner(strings.NewReader(strings.Join(lines, "\n")))
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			t.Fatalf("invalid line %s", sc.Text())
		}
	}
}

func TestAccessLogConcurrent(t *testing.T) {
	var out lockedBuffer
	l := NewAccessLog(&out, AccessLogOptions{Buffer: 64})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			e := fullEntry()
			e.UserID = strings.Repeat("u", g)
			for range 1000 {
				l.Log(e)
			}
		})
	}
	wg.Wait()
	l.Close()
	lines := out.lines(t)
	if uint64(len(lines)) != l.Written() || l.Written()+l.Dropped() != 8000 {
		t.Errorf("lines=%d written=%d dropped=%d", len(lines), l.Written(), l.Dropped())
	}
	for _, line := range lines {
		if !json.Valid([]byte(line)) {
			t.Fatalf("interleaved or invalid line: %s", line)
		}
	}
}

func TestAccessLogNil(t *testing.T) {
	var l *AccessLog
	l.Log(fullEntry())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	NewAccessLog(io.Discard, AccessLogOptions{}).Log(nil) // no panic
}

// waitWritten yields until the writer has written n lines in total.
func waitWritten(t *testing.T, l *AccessLog, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Written()+l.Dropped() < n {
		if time.Now().After(deadline) {
			t.Fatalf("writer stuck at %d of %d lines", l.Written(), n)
		}
		runtime.Gosched()
	}
}

// TestAccessLogAllocs measures Log in steady state: the writer has caught up
// and the buffers it wrote are back in the pool. testing.AllocsPerRun runs at
// GOMAXPROCS 1, where the writer goroutine cannot run during the measured
// loop, so the pool is filled first (at GOMAXPROCS 1 too: changing
// GOMAXPROCS discards sync.Pool contents) with more buffers than the loop
// takes.
func TestAccessLogAllocs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const runs = 1000

	l := NewAccessLog(io.Discard, AccessLogOptions{Buffer: 4 * runs, Instance: "gw", Version: "v1"})
	defer l.Close()
	e := fullEntry()
	e.Query = "a=1&access_token=abc&b=\"x\"" // redaction and escaping on the path
	e.UserAgent = "Mozilla/5.0 \u2028 \xff"
	for range 2 * runs {
		l.Log(e)
	}
	waitWritten(t, l, 2*runs)
	if a := testing.AllocsPerRun(runs, func() { l.Log(e) }); a != 0 {
		t.Errorf("Log: %v allocs, want 0", a)
	}
	if l.Dropped() != 0 {
		t.Errorf("the alloc test hit the drop path (%d drops)", l.Dropped())
	}

	// Shedding (queue full) and sampling out never allocate, warm or not.
	blocked := &blockingWriter{entered: make(chan struct{}, 16), release: make(chan struct{})}
	full := NewAccessLog(blocked, AccessLogOptions{Buffer: 1})
	full.Log(e)
	<-blocked.entered
	full.Log(e) // fills the queue
	if a := testing.AllocsPerRun(runs, func() { full.Log(e) }); a != 0 {
		t.Errorf("Log with a full queue: %v allocs, want 0", a)
	}
	close(blocked.release)
	full.Close()

	none := NewAccessLog(io.Discard, AccessLogOptions{SuccessSample: ptr(0.0)})
	defer none.Close()
	e.Status = 200
	if a := testing.AllocsPerRun(runs, func() { none.Log(e) }); a != 0 {
		t.Errorf("sampled-out Log: %v allocs, want 0", a)
	}

	if a := testing.AllocsPerRun(runs, func() { _ = SensitiveQueryParam("X-Amz-Security-Token") }); a != 0 {
		t.Errorf("SensitiveQueryParam: %v allocs", a)
	}
}

func BenchmarkLog(b *testing.B) {
	l := NewAccessLog(io.Discard, AccessLogOptions{Instance: "gw-1", Version: "v0.1.0"})
	e := fullEntry()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(e)
	}
	b.StopTimer()
	l.Close()
	b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
}

func BenchmarkLogParallel(b *testing.B) {
	l := NewAccessLog(io.Discard, AccessLogOptions{Instance: "gw-1", Version: "v0.1.0"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := fullEntry()
		for pb.Next() {
			l.Log(e)
		}
	})
	b.StopTimer()
	l.Close()
	b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
}

// BenchmarkEncodeEntry is the encoding cost alone (what Log spends on the
// request goroutine apart from the queue send).
func BenchmarkEncodeEntry(b *testing.B) {
	l := NewAccessLog(io.Discard, AccessLogOptions{Instance: "gw-1", Version: "v0.1.0"})
	defer l.Close()
	e := fullEntry()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = l.appendEntry(buf[:0], e)
	}
	b.SetBytes(int64(len(buf)))
}
