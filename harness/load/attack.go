package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Request is one request of a load, sent as written: both clients add Host
// and Content-Length when they are missing, the open model's also a
// User-Agent. A "Host" entry in Header sets the request's Host.
type Request struct {
	Tag    string // route tag, for reductions by route
	Method string // default GET
	URL    string // absolute http:// or https:// URL
	Header http.Header
	Body   []byte
}

// Sample is one request's outcome, kept raw (40 bytes).
type Sample struct {
	Intended  time.Duration // when it was due, from the attack start (closed loop: = Sent)
	Sent      time.Duration // when a worker actually sent it, from the attack start
	Latency   time.Duration // end - Sent: what vegeta measures (uncorrected)
	Corrected time.Duration // end - Intended: corrected for coordinated omission, never below Latency
	Code      uint16        // HTTP status; 0 = transport error
	Req       uint16        // index into the Requests slice
	Err       uint16        // 0 none, else index+1 into Run.ErrorTexts (transport errors only)
}

// Run is one attack's result.
type Run struct {
	Mode     string        // "open" | "closed"
	Name     string        // the spec's Name
	Start    time.Time     // attack start (t=0 of Intended and Sent), wall clock
	Measured time.Duration // the measured window, after the warm-up
	Samples  []Sample      // measured window only, in arrival order
	// ErrorTexts holds the distinct transport error texts (local port
	// numbers replaced by '*'): the first 50 kinds, then "(other)" for the
	// rest. Sample.Err points into it.
	ErrorTexts []string
	Offered    float64 // open: requests scheduled in the measured window per second; closed: 0
	Scheduled  int     // open: requests scheduled in the measured window; closed: 0
	Achieved   float64 // requests sent in the measured window per second
	SendLag    Quantiles
	// PeakInFlight is the most requests that were on the wire at once.
	PeakInFlight int
	Valid        bool
	Invalid      string        // why the run is invalid, with the numbers
	GeneratorCPU time.Duration // this process's CPU (user+system) over the measured window
}

const (
	// defaultTimeout bounds every request unless the spec says otherwise.
	defaultTimeout = 10 * time.Second
	// maxErrorKinds bounds the distinct error texts kept per run.
	maxErrorKinds = 50
	// otherErrors stands for every error text after the first maxErrorKinds.
	otherErrors = "(other)"
	// tickEvery is the period of the Tick callback.
	tickEvery = time.Second
	// placeholderURL is the URL of the target vegeta's targeter hands out. It
	// never goes on the wire: the dispatcher replaces the request (see
	// dispatcher), but Go's client names it in transport errors, whose texts
	// are therefore stripped of placeholderErrPrefix.
	placeholderURL       = "http://gatelab-load.invalid/"
	placeholderErrPrefix = `Get "` + placeholderURL + `": `
)

// prepared is a Request checked once before the attack.
type prepared struct {
	method string
	url    string
	host   string
	header http.Header
	body   []byte
}

// prepare checks the requests and returns them ready for the dispatcher.
func prepare(reqs []Request) ([]prepared, error) {
	if len(reqs) == 0 {
		return nil, errors.New("no requests to send")
	}
	if len(reqs) > math.MaxUint16+1 {
		return nil, fmt.Errorf("%d requests: at most %d fit Sample.Req", len(reqs), math.MaxUint16+1)
	}
	out := make([]prepared, len(reqs))
	var errs []error
	for i, r := range reqs {
		m := r.Method
		if m == "" {
			m = http.MethodGet
		}
		u, err := url.Parse(r.URL)
		if err != nil {
			errs = append(errs, fmt.Errorf("request %d (%s): %w", i, r.Tag, err))
			continue
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("request %d (%s): URL %q is not an absolute http(s) URL", i, r.Tag, r.URL))
			continue
		}
		out[i] = prepared{method: m, url: r.URL, host: r.Header.Get("Host"), header: r.Header, body: r.Body}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// dispatcher is the attack's http.RoundTripper. vegeta numbers a request
// (Result.Seq, the X-Vegeta-Seq header) under a lock but calls the targeter
// after releasing it, so a targeter's own round robin can disagree with Seq
// when workers race. The dispatcher therefore ignores the targeter's
// placeholder request and sends Requests[seq mod len] instead: the request a
// result stands for is known exactly from its Seq. vegeta's own headers are
// not forwarded.
//
// Every request runs under ctx (the attack's context, so an interruption
// cancels requests in flight) with the timeout; the timeout covers reading
// the body, which vegeta does after RoundTrip returns.
type dispatcher struct {
	ctx      context.Context
	next     *http.Transport
	reqs     []prepared
	timeout  time.Duration
	inFlight atomic.Int64
	peak     atomic.Int64
}

func (d *dispatcher) RoundTrip(r *http.Request) (*http.Response, error) {
	seq, err := strconv.ParseUint(r.Header.Get("X-Vegeta-Seq"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("dispatching a request without a sequence number: %w", err)
	}
	p := &d.reqs[seq%uint64(len(d.reqs))]
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	var body io.Reader
	if len(p.body) > 0 {
		body = bytes.NewReader(p.body)
	}
	out, err := http.NewRequestWithContext(ctx, p.method, p.url, body)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("building request %d: %w", seq%uint64(len(d.reqs)), err)
	}
	// The header's value slices are shared by every request built from p:
	// the transport only reads them.
	for k, v := range p.header {
		out.Header[k] = v
	}
	if p.host != "" {
		out.Host = p.host
	}

	n := d.inFlight.Add(1)
	for {
		pk := d.peak.Load()
		if n <= pk || d.peak.CompareAndSwap(pk, n) {
			break
		}
	}
	resp, err := d.next.RoundTrip(out)
	d.inFlight.Add(-1)
	if err != nil {
		cerr := ctx.Err()
		cancel()
		switch {
		case errors.Is(cerr, context.DeadlineExceeded) && d.ctx.Err() == nil:
			return nil, fmt.Errorf("timeout after %v: %w", d.timeout, err)
		case d.ctx.Err() != nil:
			return nil, fmt.Errorf("interrupted: %w", err)
		}
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, ctx: ctx, cancel: cancel, d: d}
	return resp, nil
}

// cancelBody releases a request's context when its body is closed, and
// names a timeout or an interruption that cut the body short.
type cancelBody struct {
	io.ReadCloser
	ctx    context.Context
	cancel context.CancelFunc
	d      *dispatcher
}

func (b *cancelBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.ctx.Err() != nil {
		if b.d.ctx.Err() != nil {
			return n, fmt.Errorf("interrupted reading the body: %w", err)
		}
		return n, fmt.Errorf("timeout after %v reading the body: %w", b.d.timeout, err)
	}
	return n, err
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// newClient returns the HTTP client of an attack: HTTP/1.1 only, keep-alive
// with conns idle connections per host, no proxy from the environment, no
// compression, no redirects followed, requests chosen by the dispatcher.
func newClient(ctx context.Context, reqs []prepared, conns int, timeout time.Duration) (*http.Client, *dispatcher) {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	d := &dispatcher{ctx: ctx, next: tr, reqs: reqs, timeout: timeout}
	c := &http.Client{
		Transport:     d,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, d
}

// placeholderTargeter hands vegeta the same cheap target every time; the
// dispatcher decides what is sent.
func placeholderTargeter(t *vegeta.Target) error {
	if t == nil {
		return vegeta.ErrNilTarget
	}
	*t = vegeta.Target{Method: http.MethodGet, URL: placeholderURL}
	return nil
}

// collector turns vegeta's results into Samples. It runs on one goroutine
// (the caller's) and is not safe for concurrent use.
type collector struct {
	sched  Schedule // nil: closed loop, Intended = Sent
	nreqs  uint64
	start  time.Time
	warmup time.Duration
	tick   func(time.Duration, []Sample)
	run    *Run
	errIdx map[string]uint16
	ticked int // samples already handed to tick
}

// add records one result, unless it was due during the warm-up.
func (c *collector) add(r *vegeta.Result) {
	sent := r.Timestamp.Sub(c.start)
	intended := sent
	if c.sched != nil {
		intended = c.sched.Intended(r.Seq)
	}
	if intended < c.warmup {
		return
	}
	s := Sample{
		Intended:  intended,
		Sent:      sent,
		Latency:   r.Latency,
		Corrected: max(sent+r.Latency-intended, r.Latency),
		Code:      r.Code,
		Req:       uint16(r.Seq % c.nreqs),
	}
	if r.Code == 0 {
		text := r.Error
		if text == "" {
			text = "unknown transport error"
		}
		s.Err = c.errorIndex(text)
	}
	c.run.Samples = append(c.run.Samples, s)
}

// errorIndex returns the Sample.Err of an error text, adding the text to
// Run.ErrorTexts when it is new and there is room.
func (c *collector) errorIndex(text string) uint16 {
	text = normaliseError(text)
	if i, ok := c.errIdx[text]; ok {
		return i
	}
	if len(c.run.ErrorTexts) >= maxErrorKinds {
		text = otherErrors
		if i, ok := c.errIdx[text]; ok {
			return i
		}
	}
	c.run.ErrorTexts = append(c.run.ErrorTexts, text)
	i := uint16(len(c.run.ErrorTexts))
	c.errIdx[text] = i
	return i
}

// normaliseError strips the placeholder request from a transport error and
// replaces local port numbers ("127.0.0.1:53412->") with '*', so that one
// kind of error is one text.
func normaliseError(text string) string {
	text = strings.TrimPrefix(text, placeholderErrPrefix)
	if !strings.Contains(text, "->") {
		return text
	}
	var b strings.Builder
	for {
		i := strings.Index(text, "->")
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		j := i
		for j > 0 && text[j-1] >= '0' && text[j-1] <= '9' {
			j--
		}
		if j < i && j > 0 && text[j-1] == ':' {
			b.WriteString(text[:j])
			b.WriteString("*->")
		} else {
			b.WriteString(text[:i+2])
		}
		text = text[i+2:]
	}
}

// flush hands the samples collected since the last call to tick.
func (c *collector) flush() {
	if c.tick == nil {
		return
	}
	n := len(c.run.Samples)
	c.tick(time.Since(c.start), c.run.Samples[c.ticked:n:n])
	c.ticked = n
}

// collect reads results until vegeta closes the channel, calling tick about
// once a second, and returns the process's CPU time used from the end of the
// warm-up to the end of the attack.
func (c *collector) collect(results <-chan *vegeta.Result) time.Duration {
	ticker := time.NewTicker(tickEvery)
	defer ticker.Stop()
	cpu := startCPUMeter(c.start, c.warmup)
	defer cpu.stop()
	for {
		select {
		case r, ok := <-results:
			if !ok {
				c.flush()
				return cpu.used()
			}
			c.add(r)
		case <-ticker.C:
			c.flush()
		case <-cpu.warmed:
			cpu.warm()
		}
	}
}

// cpuMeter measures this process's CPU time from the end of a warm-up.
type cpuMeter struct {
	warmed <-chan time.Time // fires when the warm-up ends; nil: none left
	timer  *time.Timer
	cpu0   time.Duration
	warmUp bool // the warm-up has ended and cpu0 is set
}

func startCPUMeter(start time.Time, warmup time.Duration) *cpuMeter {
	m := &cpuMeter{}
	if warmup > 0 {
		m.timer = time.NewTimer(warmup - time.Since(start))
		m.warmed = m.timer.C
	} else {
		m.warm()
	}
	return m
}

// warm marks the warm-up's end (call it when warmed fires).
func (m *cpuMeter) warm() { m.cpu0, m.warmUp, m.warmed = cpuTime(), true, nil }

// used is the CPU time since the warm-up ended (0 if it never did).
func (m *cpuMeter) used() time.Duration {
	if !m.warmUp {
		return 0
	}
	return cpuTime() - m.cpu0
}

func (m *cpuMeter) stop() {
	if m.timer != nil {
		m.timer.Stop()
	}
}

// cpuTime returns this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// attack runs one vegeta attack and collects it into run. ctx stops it:
// vegeta stops pacing and the dispatcher cancels the requests in flight.
// It reports whether ctx interrupted the attack.
func attack(ctx context.Context, c *collector, atk *vegeta.Attacker, p vegeta.Pacer, du time.Duration, name string) bool {
	c.run.Start = time.Now()
	c.start = c.run.Start
	results := atk.Attack(placeholderTargeter, p, du, name)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	c.run.GeneratorCPU = c.collect(results)
	return !stop()
}

// measuredWindow is the part of [warmup, end) that had passed when the
// attack returned: end unless the attack was interrupted.
func measuredWindow(start time.Time, warmup, end time.Duration, interrupted bool) time.Duration {
	if interrupted {
		end = min(end, time.Since(start))
	}
	return max(end-warmup, 0)
}

// newRun returns a Run with its collector.
func newRun(mode, name string, sched Schedule, nreqs int, warmup time.Duration, tick func(time.Duration, []Sample), capacity int) (*Run, *collector) {
	run := &Run{Mode: mode, Name: name, Samples: make([]Sample, 0, capacity)}
	return run, &collector{
		sched:  sched,
		nreqs:  uint64(nreqs),
		warmup: warmup,
		tick:   tick,
		run:    run,
		errIdx: map[string]uint16{},
	}
}
