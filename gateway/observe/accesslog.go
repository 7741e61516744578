package observe

import (
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Entry is one access-log record: one finished request. The pipeline fills
// it from what it already knows; Log encodes it synchronously and does not
// keep it, so an Entry may be reused (see Reset) as soon as Log returns.
//
// There is deliberately no field for credentials (Authorization header,
// bearer token, API key, cookies) or bodies: secrets cannot reach the log
// through this type. Identity is logged as the ids the auth step derived
// (UserID from the token's subject, PartnerID from the key's config entry),
// never as the credential. Query is the one client-controlled field that may
// carry a secret; see SensitiveQueryParam for how it is redacted.
//
// JSON keys, in output order, and their encoding:
//
//	timestamp            Time, RFC 3339 UTC with milliseconds ("2006-01-02T15:04:05.000Z")
//	request_id           RequestID
//	method               Method
//	path                 Path
//	query_string         Query (raw, without '?', credential values redacted)
//	status               Status (number)
//	client_ip            ClientIP
//	user_agent           UserAgent
//	user_id              UserID
//	partner_id           PartnerID, null when empty
//	backend_service      BackendService
//	backend_instance     BackendInstance
//	route_id             RouteID
//	config_version       ConfigVersion (number): the snapshot the request was decided on
//	total_latency_ms     TotalLatency, milliseconds with 3 decimals
//	gateway_overhead_ms  TotalLatency - UpstreamLatency (never negative), ms with 3 decimals
//	upstream_latency_ms  UpstreamLatency, ms with 3 decimals
//	rate_limit_remaining RateLimitRemaining (number), null when negative (unknown, or no limit)
//	rate_limited         RateLimited (bool)
//	request_bytes        RequestBytes (number)
//	response_bytes       ResponseBytes (number)
//	error_type           ErrorType ("" when the request succeeded)
//	error_message        ErrorMessage, null when empty
//	gateway_instance     AccessLogOptions.Instance
//	gateway_version      AccessLogOptions.Version
//
// Strings are JSON-escaped (quotes, backslashes, control characters, U+2028
// and U+2029); invalid UTF-8 bytes become U+FFFD. Every entry is one line.
type Entry struct {
	Time               time.Time // request start; zero means "now" at Log
	RequestID          string
	Method             string
	Path               string
	Query              string // raw query string, without the '?'
	Status             int
	ClientIP           string
	UserAgent          string
	UserID             string
	PartnerID          string
	BackendService     string
	BackendInstance    string
	RouteID            string
	ConfigVersion      int64
	TotalLatency       time.Duration
	UpstreamLatency    time.Duration // zero when no upstream was called
	RateLimitRemaining int64         // negative: unknown or the route is not limited
	RateLimited        bool
	RequestBytes       int64
	ResponseBytes      int64
	ErrorType          string // a short code such as Reason.String()
	ErrorMessage       string // a human-readable sentence; never request data
}

// Reset clears e for reuse, with RateLimitRemaining unknown (-1).
func (e *Entry) Reset() { *e = Entry{RateLimitRemaining: -1} }

// DefaultAccessLogBuffer is the queue length used when
// AccessLogOptions.Buffer is not positive.
const DefaultAccessLogBuffer = 8192

// AccessLogOptions configures NewAccessLog. Buffer and SuccessSample have the
// meaning and defaults of config.AccessLog's fields of the same name.
type AccessLogOptions struct {
	// Buffer is the number of encoded lines queued for the writer before new
	// ones are dropped. Default 8192.
	Buffer int
	// SuccessSample is the fraction (0..1) of responses with status < 400
	// that are logged; errors are always logged. nil means 1. Values are
	// clamped to [0, 1]; NaN means 1.
	SuccessSample *float64
	// Instance and Version fill gateway_instance and gateway_version.
	Instance string
	Version  string
	// Dropped and Written, when not nil, are incremented with the log's own
	// counts (pass Metrics.AccessLogDropped and Metrics.AccessLogWritten).
	Dropped prometheus.Counter
	Written prometheus.Counter
	// FlushInterval is how often the writer drains the queue (default
	// DefaultAccessLogFlush); it also drains as soon as the queue is half
	// full. Batching on a timer, like nginx's `buffer= flush=`, keeps the
	// writer from waking (and making a write system call) for every request.
	FlushInterval time.Duration
}

// DefaultAccessLogFlush is the default AccessLogOptions.FlushInterval.
const DefaultAccessLogFlush = 100 * time.Millisecond

// Writer batching: the writer concatenates queued lines into one Write of up
// to about batchBytes. Line buffers grown beyond maxPooledLine are left to the
// garbage collector so one huge entry does not pin memory.
const (
	batchBytes     = 64 << 10
	lineBufSize    = 1024
	maxPooledLine  = 64 << 10
	maxBatchRetain = 4 * batchBytes
)

// lineBuf is one encoded line on its way to the writer. The array makes a
// new buffer a single allocation; b points into it unless a line outgrew it.
type lineBuf struct {
	b   []byte
	arr [lineBufSize]byte
}

// AccessLog is the asynchronous JSON-lines access log. Log encodes on the
// caller's goroutine and queues the line; one background goroutine writes.
// A nil *AccessLog is valid: Log does nothing (access_log.output "off").
type AccessLog struct {
	w     io.Writer
	queue chan *lineBuf
	// kick asks the writer to drain now (queue half full); interval is the
	// timer period otherwise.
	kick     chan struct{}
	interval time.Duration
	pool     sync.Pool // of *lineBuf

	sampleAll  bool
	sampleNone bool
	sampleThr  uint64 // log a success when rand.Uint64() < sampleThr

	tail []byte // `,"gateway_instance":"…","gateway_version":"…"}` + "\n"

	droppedC prometheus.Counter
	writtenC prometheus.Counter

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}

	// The counters change while Log reads the fields above; keep them on
	// their own cache line.
	_       [64]byte
	dropped atomic.Uint64
	written atomic.Uint64
}

// NewAccessLog starts an access log writing JSON lines to w (nil means
// io.Discard) and its background writer goroutine. Stop it with Close. w is
// only ever called from that goroutine, so it needs no locking of its own.
func NewAccessLog(w io.Writer, opts AccessLogOptions) *AccessLog {
	if w == nil {
		w = io.Discard
	}
	n := opts.Buffer
	if n <= 0 {
		n = DefaultAccessLogBuffer
	}
	l := &AccessLog{
		w:        w,
		queue:    make(chan *lineBuf, n),
		droppedC: opts.Dropped,
		writtenC: opts.Written,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		kick:     make(chan struct{}, 1),
		interval: opts.FlushInterval,
	}
	if l.interval <= 0 {
		l.interval = DefaultAccessLogFlush
	}
	l.pool.New = func() any {
		lb := new(lineBuf)
		lb.b = lb.arr[:0]
		return lb
	}

	s := 1.0
	if opts.SuccessSample != nil && !math.IsNaN(*opts.SuccessSample) {
		s = min(max(*opts.SuccessSample, 0), 1)
	}
	switch {
	case s >= 1:
		l.sampleAll = true
	case s <= 0:
		l.sampleNone = true
	default:
		l.sampleThr = uint64(s*(1<<63)) << 1 // s < 1, so no overflow
	}

	tail := append([]byte(nil), `,"gateway_instance":`...)
	tail = appendJSONString(tail, opts.Instance)
	tail = append(tail, `,"gateway_version":`...)
	tail = appendJSONString(tail, opts.Version)
	l.tail = append(tail, "}\n"...)

	go l.run()
	return l
}

// Log records e, or not, according to sampling, without blocking: the entry
// is encoded now and queued; if the queue is full the line is dropped and
// counted. Log does not keep e. Safe for concurrent use; Log after Close
// drops and counts.
//
// Allocations: none in steady state, when the writer keeps up and the line
// buffers it has written come back through a sync.Pool. While the writer is
// behind (but the queue not yet full), each queued line takes a fresh 1 KiB
// buffer, one allocation, bounded by the queue length. Sampled-out entries and
// entries shed because the queue is full never allocate.
func (l *AccessLog) Log(e *Entry) {
	if l == nil || e == nil {
		return
	}
	if e.Status < 400 && !l.sampleAll {
		if l.sampleNone || rand.Uint64() >= l.sampleThr {
			return
		}
	}
	// Shed before spending time encoding when the writer is behind.
	if l.closed.Load() || len(l.queue) == cap(l.queue) {
		l.drop(1)
		return
	}
	lb := l.pool.Get().(*lineBuf)
	lb.b = l.appendEntry(lb.b[:0], e)
	select {
	case l.queue <- lb:
		if len(l.queue) >= cap(l.queue)/2 {
			select {
			case l.kick <- struct{}{}:
			default:
			}
		}
	default:
		l.putBuf(lb)
		l.drop(1)
	}
}

// Dropped returns how many lines were dropped: queue full, Log after Close,
// or a failed Write (every line of the failed batch).
func (l *AccessLog) Dropped() uint64 { return l.dropped.Load() }

// Written returns how many lines were written successfully.
func (l *AccessLog) Written() uint64 { return l.written.Load() }

// Close writes every line already queued, stops the writer and returns once
// it has finished. Further Log calls drop and count. Close does not close the
// underlying writer. Calling it again is a no-op.
func (l *AccessLog) Close() error {
	if l == nil {
		return nil
	}
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.stop)
		<-l.done
		// A Log that raced Close may have queued after the writer's final
		// drain: count it rather than lose it silently.
		for {
			select {
			case lb := <-l.queue:
				l.putBuf(lb)
				l.drop(1)
			default:
				return
			}
		}
	})
	return nil
}

func (l *AccessLog) drop(n int) {
	l.dropped.Add(uint64(n))
	if l.droppedC != nil {
		l.droppedC.Add(float64(n))
	}
}

func (l *AccessLog) putBuf(lb *lineBuf) {
	if cap(lb.b) > maxPooledLine {
		lb.b = lb.arr[:0] // let the oversized slice go, keep the struct
	}
	l.pool.Put(lb)
}

// run is the writer goroutine. It sleeps between drains (timer or kick), so
// a busy gateway costs one wake-up and a few large writes per interval rather
// than one per request.
func (l *AccessLog) run() {
	defer close(l.done)
	batch := make([]byte, 0, batchBytes)
	ticker := time.NewTicker(l.interval)
	defer ticker.Stop()
	drain := func() {
		for {
			var n int
			batch, n = l.collect(batch[:0], 0)
			if n == 0 {
				break
			}
			l.flush(batch, n)
		}
		if cap(batch) > maxBatchRetain {
			batch = make([]byte, 0, batchBytes)
		}
	}
	for {
		select {
		case <-ticker.C:
			drain()
		case <-l.kick:
			drain()
		case <-l.stop:
			drain()
			return
		}
	}
}

// collect appends queued lines to batch without waiting, until the queue is
// empty or the batch is full, and returns the batch and its line count.
func (l *AccessLog) collect(batch []byte, n int) ([]byte, int) {
	for len(batch) < batchBytes {
		select {
		case lb := <-l.queue:
			batch = append(batch, lb.b...)
			l.putBuf(lb)
			n++
		default:
			return batch, n
		}
	}
	return batch, n
}

func (l *AccessLog) flush(batch []byte, n int) {
	if _, err := l.w.Write(batch); err != nil {
		l.drop(n)
		return
	}
	l.written.Add(uint64(n))
	if l.writtenC != nil {
		l.writtenC.Add(float64(n))
	}
}

// appendEntry appends e as one JSON line (with the newline).
func (l *AccessLog) appendEntry(b []byte, e *Entry) []byte {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	b = append(b, `{"timestamp":"`...)
	b = appendTimestamp(b, t)
	b = append(b, `","request_id":`...)
	b = appendJSONString(b, e.RequestID)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, e.Path)
	b = append(b, `,"query_string":`...)
	b = appendRedactedQuery(b, e.Query)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"client_ip":`...)
	b = appendJSONString(b, e.ClientIP)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, e.UserAgent)
	b = append(b, `,"user_id":`...)
	b = appendJSONString(b, e.UserID)
	b = append(b, `,"partner_id":`...)
	b = appendJSONStringOrNull(b, e.PartnerID)
	b = append(b, `,"backend_service":`...)
	b = appendJSONString(b, e.BackendService)
	b = append(b, `,"backend_instance":`...)
	b = appendJSONString(b, e.BackendInstance)
	b = append(b, `,"route_id":`...)
	b = appendJSONString(b, e.RouteID)
	b = append(b, `,"config_version":`...)
	b = strconv.AppendInt(b, e.ConfigVersion, 10)

	total := max(e.TotalLatency, 0)
	upstream := max(e.UpstreamLatency, 0)
	b = append(b, `,"total_latency_ms":`...)
	b = appendMillis(b, total)
	b = append(b, `,"gateway_overhead_ms":`...)
	b = appendMillis(b, max(total-upstream, 0))
	b = append(b, `,"upstream_latency_ms":`...)
	b = appendMillis(b, upstream)

	b = append(b, `,"rate_limit_remaining":`...)
	if e.RateLimitRemaining < 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, e.RateLimitRemaining, 10)
	}
	b = append(b, `,"rate_limited":`...)
	b = strconv.AppendBool(b, e.RateLimited)
	b = append(b, `,"request_bytes":`...)
	b = strconv.AppendInt(b, e.RequestBytes, 10)
	b = append(b, `,"response_bytes":`...)
	b = strconv.AppendInt(b, e.ResponseBytes, 10)
	b = append(b, `,"error_type":`...)
	b = appendJSONString(b, e.ErrorType)
	b = append(b, `,"error_message":`...)
	b = appendJSONStringOrNull(b, e.ErrorMessage)
	return append(b, l.tail...)
}

// appendTimestamp appends t in UTC as 2006-01-02T15:04:05.000Z.
func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendDigits appends the width lowest decimal digits of v (v >= 0),
// zero-padded.
func appendDigits(b []byte, v, width int) []byte {
	var d [4]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}

// appendMillis appends d (>= 0) in milliseconds with exactly three decimals,
// rounded to the nearest microsecond, using integer arithmetic only.
func appendMillis(b []byte, d time.Duration) []byte {
	us := (int64(d) + 500) / 1000
	b = strconv.AppendInt(b, us/1000, 10)
	b = append(b, '.')
	return appendDigits(b, int(us%1000), 3)
}

func appendJSONStringOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

// appendJSONString appends s as a quoted JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped appends the JSON-escaped contents of s without quotes.
// Quotes, backslashes and control characters are escaped, U+2028 and U+2029
// too (they end lines in JavaScript), and each byte of invalid UTF-8 becomes
// \ufffd, so the output is always valid JSON and one line.
func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&0x0f])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexLower[r&0x0f])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, s[start:]...)
}

// Redacted is what replaces the value of a sensitive query parameter.
const Redacted = "REDACTED"

// appendRedactedQuery appends the raw query q as a JSON string, with the
// values of sensitive parameters replaced by REDACTED.
func appendRedactedQuery(b []byte, q string) []byte {
	b = append(b, '"')
	for {
		part, rest, more := strings.Cut(q, "&")
		if name, _, hasValue := strings.Cut(part, "="); hasValue && SensitiveQueryParam(name) {
			b = appendEscaped(b, name)
			b = append(b, '=')
			b = append(b, Redacted...)
		} else {
			b = appendEscaped(b, part)
		}
		if !more {
			return append(b, '"')
		}
		b = append(b, '&')
		q = rest
	}
}

// Names of query parameters that carry credentials, after normalization
// (percent-decoded, lower-cased, '-' and '.' read as '_').
var (
	sensitiveNames = map[string]struct{}{
		"key": {}, "api_key": {}, "apikey": {}, "token": {}, "access_token": {},
		"refresh_token": {}, "id_token": {}, "password": {}, "passwd": {}, "pwd": {},
		"secret": {}, "client_secret": {}, "signature": {}, "sig": {}, "auth": {},
		"authorization": {}, "jwt": {}, "session": {}, "sessionid": {},
		"session_id": {}, "credential": {}, "credentials": {},
	}
	sensitiveSuffixes = []string{
		"token", "secret", "password", "passwd", "signature", "apikey", "_key", "_sig", "credential",
	}
)

// maxParamName bounds the normalization buffer; longer names are treated as
// sensitive (no legitimate parameter name is that long, and redacting is the
// safe mistake).
const maxParamName = 128

// SensitiveQueryParam reports whether the value of the query parameter with
// this raw (possibly percent-encoded) name is redacted in the access log.
// Matching is case-insensitive and treats '-' and '.' like '_'. Sensitive
// are the names token, access_token, refresh_token, id_token, key, api_key,
// apikey, password, passwd, pwd, secret, client_secret, signature, sig, auth,
// authorization, jwt, session, sessionid, session_id, credential(s), and any
// name ending in token, secret, password, passwd, signature, apikey,
// credential, _key or _sig (X-Amz-Signature, X-Amz-Security-Token,
// sas_key, ...). Over-redaction (sort_key, page_token) is accepted as the
// price of never leaking a credential. Allocation-free.
func SensitiveQueryParam(name string) bool {
	var buf [maxParamName]byte
	n := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '%' && i+2 < len(name) && hexValFold(name[i+1]) <= 0x0f && hexValFold(name[i+2]) <= 0x0f:
			c = hexValFold(name[i+1])<<4 | hexValFold(name[i+2])
			i += 2
		case c == '+':
			c = ' '
		}
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '-' || c == '.':
			c = '_'
		}
		if n == len(buf) {
			return true
		}
		buf[n] = c
		n++
	}
	norm := buf[:n]
	if _, ok := sensitiveNames[string(norm)]; ok {
		return true
	}
	for _, suf := range sensitiveSuffixes {
		if len(norm) >= len(suf) && string(norm[len(norm)-len(suf):]) == suf {
			return true
		}
	}
	return false
}

// hexValFold is hexVal accepting upper-case digits too (percent-encoding
// allows both).
func hexValFold(c byte) byte {
	if 'A' <= c && c <= 'F' {
		c += 'a' - 'A'
	}
	return hexVal[c]
}
