package load

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// ClosedSpec describes a closed-loop attack: Workers workers, each sending
// its next request when the previous one has returned. It measures
// throughput, not latency under a given load.
type ClosedSpec struct {
	Workers  int
	Duration time.Duration // the measured window, after the warm-up
	Warmup   time.Duration // requests sent before this are dropped
	Timeout  time.Duration // per request, including the body (default 10s)
	Requests []Request     // sent round robin: request number k is Requests[k mod len]
	Name     string
	Tick     func(elapsed time.Duration, s []Sample) // as OpenSpec.Tick
}

const (
	// dialTimeout bounds a connection's dial, within the request timeout.
	dialTimeout = 5 * time.Second
	// closedReadBuffer bounds a response's header block.
	closedReadBuffer = 16 << 10
)

// Closed runs a closed-loop attack for Warmup+Duration with fasthttp's
// client: Workers goroutines, each owning one keep-alive connection per
// host it sends to (a fasthttp.HostClient with MaxConns 1), sending request
// k = Requests[k mod len] (k from one shared counter) as soon as its
// previous response has been read whole. A worker stops sending once
// Warmup+Duration has passed since the start; requests in flight then
// finish. There is no schedule, so Intended = Sent and Corrected = Latency;
// Achieved is the requests sent in the measured window per second. A closed
// run is never invalid for its rate, only when ctx interrupted it or nothing
// was sent.
//
// Each worker records its samples in its own buffer and hands what it has
// to the collecting goroutine about once a second (when the collector's
// tick moves on; an atomic load per request tells it), so Tick works as in
// Open and nothing is locked per request. At the end the samples are put in
// arrival order (Sent+Latency). PeakInFlight is computed from the measured
// samples' [Sent, Sent+Latency) intervals.
//
// While any closed loop runs, the process's GOMAXPROCS is lowered to half
// the host's cores (at least 1; 1 on 2 cores, as wrk -t1 has one thread),
// and restored when the last one ends: the workers spend their time in
// system calls and waiting for the network, and a second P only makes the
// scheduler spin and steal between them (several times the context
// switches on a 2-core VM), taking CPU from the target and lowering the
// ceiling by up to a quarter. Whatever else the process runs (an
// in-process test server, toxiproxy) shares those Ps meanwhile.
//
// As with Open, an interrupted attack returns the partial Run, not an
// error: ctx's end closes every worker's connection, so requests in flight
// fail at once with an "interrupted" error.
func Closed(ctx context.Context, s ClosedSpec) (*Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting closed load %q: %w", s.Name, err)
	}
	var errs []error
	if s.Workers <= 0 {
		errs = append(errs, fmt.Errorf("workers %d is not positive", s.Workers))
	}
	if s.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration %v is not positive", s.Duration))
	}
	if s.Warmup < 0 {
		errs = append(errs, fmt.Errorf("warm-up %v is negative", s.Warmup))
	}
	reqs, err := prepare(s.Requests)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("checking closed load %q: %w", s.Name, err)
	}
	fr, hosts, err := prepareFast(reqs)
	if err != nil {
		return nil, fmt.Errorf("checking closed load %q: %w", s.Name, err)
	}

	a := &closedAttack{
		reqs:    fr,
		end:     s.Warmup + s.Duration,
		warmup:  s.Warmup,
		timeout: cmpOr(s.Timeout, defaultTimeout),
		chunks:  make(chan chunk, 2*s.Workers),
	}
	workers := make([]*closedWorker, s.Workers)
	for i := range workers {
		workers[i] = newClosedWorker(ctx, a, hosts)
	}
	restore := limitProcs()
	defer restore()
	run, c := newRun("closed", s.Name, nil, len(reqs), s.Warmup, s.Tick, 0)
	run.Start = time.Now()
	c.start = run.Start
	a.start = run.Start
	stop := context.AfterFunc(ctx, func() {
		a.stopped.Store(true)
		for _, w := range workers {
			w.closeConns()
		}
	})
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(w.run)
	}
	go func() {
		wg.Wait()
		close(a.chunks)
	}()
	run.GeneratorCPU = a.collect(c, workers)
	interrupted := !stop()
	for _, w := range workers {
		w.closeIdle()
	}

	slices.SortFunc(run.Samples, func(x, y Sample) int { return cmp.Compare(x.Sent+x.Latency, y.Sent+y.Latency) })
	run.PeakInFlight = peakInFlight(run.Samples)
	run.Measured = measuredWindow(run.Start, s.Warmup, a.end, interrupted)
	if run.Measured > 0 {
		run.Achieved = float64(len(run.Samples)) / run.Measured.Seconds()
	}
	switch {
	case interrupted:
		run.Invalid = fmt.Sprintf("interrupted after %v: %v", time.Since(run.Start).Round(time.Millisecond), ctx.Err())
	case len(run.Samples) == 0:
		run.Invalid = "no request was sent in the measured window"
	}
	run.Valid = run.Invalid == ""
	return run, nil
}

// procs counts the closed loops running and keeps the GOMAXPROCS they
// lowered.
var procs struct {
	sync.Mutex
	users int
	prev  int
}

// limitProcs lowers GOMAXPROCS to half the cores (at least 1, never above
// what it was) for the first closed loop, and returns the function that
// restores it after the last.
func limitProcs() (restore func()) {
	procs.Lock()
	defer procs.Unlock()
	if procs.users == 0 {
		procs.prev = runtime.GOMAXPROCS(0)
		runtime.GOMAXPROCS(min(procs.prev, max(1, runtime.NumCPU()/2)))
	}
	procs.users++
	return func() {
		procs.Lock()
		defer procs.Unlock()
		if procs.users--; procs.users == 0 {
			runtime.GOMAXPROCS(procs.prev)
		}
	}
}

// fastRequest is a prepared request in the form fasthttp sends it.
type fastRequest struct {
	host    int    // index into the attack's hosts
	method  string // GET, POST, ...
	uri     string // absolute URL
	hostHdr string // the Host header to send, "" = the URL's host
	header  [][2]string
	body    []byte
}

// fastHost is one scheme+host:port the requests go to.
type fastHost struct {
	addr string // host:port
	tls  bool
}

// prepareFast turns checked requests into fasthttp's form and lists the
// distinct hosts they go to.
func prepareFast(reqs []prepared) ([]fastRequest, []fastHost, error) {
	out := make([]fastRequest, len(reqs))
	var hosts []fastHost
	for i, p := range reqs {
		u, err := url.Parse(p.url)
		if err != nil {
			return nil, nil, fmt.Errorf("request %d: %w", i, err)
		}
		h := fastHost{addr: u.Host, tls: u.Scheme == "https"}
		if u.Port() == "" {
			port := "80"
			if h.tls {
				port = "443"
			}
			h.addr = net.JoinHostPort(u.Hostname(), port)
		}
		idx := slices.Index(hosts, h)
		if idx < 0 {
			idx = len(hosts)
			hosts = append(hosts, h)
		}
		fr := fastRequest{host: idx, method: p.method, uri: p.url, hostHdr: p.host, body: p.body}
		for k, vs := range p.header {
			if k == "Host" {
				continue
			}
			for _, v := range vs {
				fr.header = append(fr.header, [2]string{k, v})
			}
		}
		// Sorted by name, as Go's client writes them; values keep their order.
		slices.SortStableFunc(fr.header, func(a, b [2]string) int { return cmp.Compare(a[0], b[0]) })
		out[i] = fr
	}
	return out, hosts, nil
}

// closedAttack is what the workers share: read-only after the start, but
// for the sequence counter, the tick epoch and the stop flag.
type closedAttack struct {
	reqs    []fastRequest
	start   time.Time
	warmup  time.Duration
	end     time.Duration // warmup + duration: no request is sent after it
	timeout time.Duration
	seq     atomic.Uint64 // the next request number
	epoch   atomic.Uint32 // bumped by the collector about once a second
	stopped atomic.Bool   // ctx ended
	chunks  chan chunk    // samples handed from the workers to the collector
}

// chunk is samples a worker hands over, with the error texts it met since
// its previous chunk (Sample.Err indexes the worker's own list until the
// collector renumbers it).
type chunk struct {
	w       *closedWorker
	epoch   uint32 // the collector's epoch the worker answers
	last    bool   // the worker is done
	samples []Sample
	errs    []string
}

// closedWorker sends requests one after the other over its own connections.
type closedWorker struct {
	a       *closedAttack
	ctx     context.Context
	clients []*fasthttp.HostClient // by host index
	req     fasthttp.Request
	resp    fasthttp.Response
	buf     []Sample
	handed  int    // buf[:handed] went to the collector
	epoch   uint32 // the collector's epoch at the last hand-over
	errIdx  map[string]uint16
	errs    []string // the worker's error texts, by Sample.Err-1
	newErrs int      // errs[newErrs:] not yet handed over
	// globalErr maps the worker's error numbers to Run.ErrorTexts', and
	// reported is the last epoch the worker answered; only the collector
	// touches them.
	globalErr []uint16
	reported  uint32

	mu    sync.Mutex // dials and the interruption, never per request
	conns []net.Conn // by host index: the connection last dialled
}

func newClosedWorker(ctx context.Context, a *closedAttack, hosts []fastHost) *closedWorker {
	w := &closedWorker{a: a, ctx: ctx, errIdx: map[string]uint16{}, buf: make([]Sample, 0, 1024), conns: make([]net.Conn, len(hosts))}
	for i, h := range hosts {
		hc := &fasthttp.HostClient{
			Addr:                      h.addr,
			IsTLS:                     h.tls,
			MaxConns:                  1,
			MaxIdemponentCallAttempts: 1,
			RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
			NoDefaultUserAgentHeader:  true,
			DisablePathNormalizing:    true,
			ReadBufferSize:            closedReadBuffer,
			DialTimeout:               func(addr string, timeout time.Duration) (net.Conn, error) { return w.dial(i, addr, timeout) },
		}
		if h.tls {
			hc.TLSConfig = &tls.Config{ServerName: hostOnly(h.addr)}
		}
		w.clients = append(w.clients, hc)
	}
	return w
}

func hostOnly(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// dial opens the worker's connection to hosts[host] under the attack's ctx
// and keeps it in the host's slot (MaxConns 1: fasthttp dials only when
// the previous connection is gone), so an interruption can close it.
func (w *closedWorker) dial(host int, addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: min(timeout, dialTimeout), KeepAlive: 30 * time.Second}
	c, err := d.DialContext(w.ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.a.stopped.Load() {
		c.Close()
		return nil, errors.New("interrupted while dialling")
	}
	w.conns[host] = c
	return c, nil
}

// closeConns closes the worker's connections (the interruption).
func (w *closedWorker) closeConns() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.conns {
		if c != nil {
			c.Close()
		}
	}
}

// closeIdle releases the worker's idle connections at the end.
func (w *closedWorker) closeIdle() {
	for _, hc := range w.clients {
		hc.CloseIdleConnections()
	}
}

// run sends requests back to back until the attack's end or its
// interruption, then hands its last samples over.
func (w *closedWorker) run() {
	a := w.a
	n := uint64(len(a.reqs))
	for !a.stopped.Load() {
		t0 := time.Now()
		sent := t0.Sub(a.start)
		if sent >= a.end {
			break
		}
		k := a.seq.Add(1) - 1
		i := k % n
		p := &a.reqs[i]
		w.build(p)
		err := w.clients[p.host].DoTimeout(&w.req, &w.resp, a.timeout)
		lat := time.Since(t0)
		if sent >= a.warmup {
			s := Sample{Intended: sent, Sent: sent, Latency: lat, Corrected: lat, Req: uint16(i)}
			if err != nil {
				s.Err = w.errorIndex(w.describe(err))
			} else {
				s.Code = uint16(w.resp.StatusCode())
			}
			w.buf = append(w.buf, s)
		}
		if e := a.epoch.Load(); e != w.epoch {
			w.epoch = e
			w.handOver(false)
		}
	}
	w.handOver(true)
}

// build fills the worker's request from p.
func (w *closedWorker) build(p *fastRequest) {
	r := &w.req
	r.Reset()
	r.Header.SetMethod(p.method)
	r.SetRequestURI(p.uri)
	if p.hostHdr != "" {
		r.Header.SetHost(p.hostHdr)
		r.UseHostHeader = true
	}
	for _, kv := range p.header {
		r.Header.Add(kv[0], kv[1])
	}
	if len(p.body) > 0 {
		r.SetBodyRaw(p.body) // read-only: fasthttp only writes it out
	}
}

// describe names a transport error as the open model's client does.
func (w *closedWorker) describe(err error) string {
	switch {
	case w.a.stopped.Load():
		// The interruption closed the connection: fasthttp's words for
		// that blame the server.
		return "interrupted: the attack's connection was closed"
	case errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("timeout after %v: %v", w.a.timeout, err)
	}
	return err.Error()
}

// errorIndex is the worker's own number (Sample.Err) for an error text.
func (w *closedWorker) errorIndex(text string) uint16 {
	text = normaliseError(text)
	if i, ok := w.errIdx[text]; ok {
		return i
	}
	if len(w.errs) >= maxErrorKinds {
		text = otherErrors
		if i, ok := w.errIdx[text]; ok {
			return i
		}
	}
	w.errs = append(w.errs, text)
	i := uint16(len(w.errs))
	w.errIdx[text] = i
	return i
}

// handOver sends the samples and error texts gathered since the last
// hand-over to the collector, with the epoch it answers (last: the worker
// is done). The chunk's slices are never written again by the worker (new
// samples go after them, or into a new array).
func (w *closedWorker) handOver(last bool) {
	c := chunk{w: w, epoch: w.epoch, last: last,
		samples: w.buf[w.handed:len(w.buf):len(w.buf)], errs: w.errs[w.newErrs:len(w.errs):len(w.errs)]}
	w.handed, w.newErrs = len(w.buf), len(w.errs)
	if len(w.buf) == cap(w.buf) {
		w.buf, w.handed = make([]Sample, 0, max(1024, 2*len(c.samples))), 0
	}
	w.a.chunks <- c
}

// collect receives the workers' chunks until every worker is done, calling
// tick about once a second, and returns the process's CPU time from the end
// of the warm-up to the end of the attack. Each tick starts an epoch: the
// workers hand over what they have after their next response, and tick
// is called once every running worker has (or at the next tick, when one
// is stuck in a slow request).
func (a *closedAttack) collect(c *collector, workers []*closedWorker) time.Duration {
	ticker := time.NewTicker(tickEvery)
	defer ticker.Stop()
	cpu := startCPUMeter(a.start, a.warmup)
	defer cpu.stop()
	live := len(workers) // workers not done
	var epoch uint32     // the current epoch (0: before the first tick)
	waiting := 0         // running workers yet to hand over for epoch
	for {
		select {
		case ch, ok := <-a.chunks:
			if !ok {
				c.flush()
				return cpu.used()
			}
			w := ch.w
			for _, text := range ch.errs {
				w.globalErr = append(w.globalErr, c.errorIndex(text))
			}
			for _, s := range ch.samples {
				if s.Err > 0 {
					s.Err = w.globalErr[s.Err-1]
				}
				c.run.Samples = append(c.run.Samples, s)
			}
			if ch.last {
				live--
			}
			if waiting > 0 && w.reported != epoch && (ch.last || ch.epoch == epoch) {
				w.reported = epoch
				if waiting--; waiting == 0 {
					c.flush()
				}
			}
		case <-ticker.C:
			if waiting > 0 {
				c.flush() // a worker is still in a request: show what came
			}
			epoch = a.epoch.Add(1) // the workers hand over what they have
			waiting = live
		case <-cpu.warmed:
			cpu.warm()
		}
	}
}

// peakInFlight is the most samples whose [Sent, Sent+Latency) overlap.
// samples must be sorted by Sent+Latency.
func peakInFlight(samples []Sample) int {
	starts := make([]time.Duration, len(samples))
	for i, s := range samples {
		starts[i] = s.Sent
	}
	slices.Sort(starts)
	peak, cur, j := 0, 0, 0
	for _, st := range starts {
		for j < len(samples) && samples[j].Sent+samples[j].Latency <= st {
			cur--
			j++
		}
		cur++
		peak = max(peak, cur)
	}
	return peak
}
