package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync/atomic"
	"time"
)

// Control paths for the behaviour (see the package documentation).
const (
	ControlBehaviorPath = "/_control/behavior"
	ControlStatsPath    = "/_control/stats"
)

// DefaultErrorStatus is the status of an injected error when none is set.
const DefaultErrorStatus = http.StatusInternalServerError

// maxControlBody bounds a POST /_control/behavior body.
const maxControlBody = 64 << 10

// Behavior is how the server treats every request it answers (everything but
// /healthz and /_control/), in both modes. It is a value: the server holds an
// immutable copy and swaps it whole. The zero value answers at once, never
// fails and never closes a connection on its own.
type Behavior struct {
	// Delay is added before answering (on top of X-Upstream-Delay in echo mode).
	Delay Delay `json:"delay"`
	// ErrorRate is the fraction 0..1 of requests answered with ErrorStatus.
	ErrorRate float64 `json:"error_rate"`
	// ErrorStatus is the injected error's status, 400..599; 0 means
	// DefaultErrorStatus.
	ErrorStatus int `json:"error_status"`
	// Stall holds every request, before its delay, until a later behaviour
	// without Stall releases them (or the client goes away).
	Stall bool `json:"stall"`
	// Down closes the connection of every request, /healthz included, without
	// answering. /_control/ still answers, so the server can be brought back.
	Down bool `json:"down"`
	// MaxConnRequests > 0 closes a connection after that many answered
	// requests: the Nth response carries "Connection: close", as nginx's
	// keepalive_requests does. Counting needs the connection hook, which
	// Start installs (see Server.ConnContext).
	MaxConnRequests int `json:"max_conn_requests"`
}

// Validate returns every problem with b, or nil.
func (b Behavior) Validate() error {
	var errs []error
	if err := b.Delay.check(); err != nil {
		errs = append(errs, fmt.Errorf("delay: %w", err))
	}
	if math.IsNaN(b.ErrorRate) || b.ErrorRate < 0 || b.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("error_rate %v out of range 0..1", b.ErrorRate))
	}
	if b.ErrorStatus != 0 && (b.ErrorStatus < 400 || b.ErrorStatus > 599) {
		errs = append(errs, fmt.Errorf("error_status %d out of range 400..599", b.ErrorStatus))
	}
	if b.MaxConnRequests < 0 {
		errs = append(errs, fmt.Errorf("max_conn_requests %d is negative", b.MaxConnRequests))
	}
	return errors.Join(errs...)
}

// behavior is the server's current Behavior plus the stall's gate.
type behavior struct {
	Behavior
	release chan struct{} // non-nil when Stall; closed by the behaviour that ends the stall
}

// Stats are counters since the server was built.
type Stats struct {
	// Conns is the number of connections accepted (counted by ConnContext).
	Conns uint64 `json:"conns"`
	// Requests is the number of requests that got past Down and Stall;
	// request number n (from 1) draws its delay and error from (seed, n).
	Requests uint64 `json:"requests"`
	// Errors is the number of injected error answers.
	Errors uint64 `json:"errors"`
	// MaxConnCloses is the number of responses that closed their connection
	// because of MaxConnRequests.
	MaxConnCloses uint64 `json:"max_conn_closes"`
	// Dropped is the number of requests whose connection was closed without
	// an answer because the server was down.
	Dropped uint64 `json:"dropped"`
	// Stalled is the number of requests waiting in a stall now.
	Stalled int64 `json:"stalled"`
}

type counters struct {
	conns, requests, errors, maxConnCloses, dropped atomic.Uint64
	stalled                                         atomic.Int64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Conns:         s.ctr.conns.Load(),
		Requests:      s.ctr.requests.Load(),
		Errors:        s.ctr.errors.Load(),
		MaxConnCloses: s.ctr.maxConnCloses.Load(),
		Dropped:       s.ctr.dropped.Load(),
		Stalled:       s.ctr.stalled.Load(),
	}
}

// Behavior returns the current behaviour (ErrorStatus filled in).
func (s *Server) Behavior() Behavior { return s.beh.Load().Behavior }

// SetBehavior replaces the behaviour; requests that arrive after it returns
// use b. Ending a stall (b.Stall false after true) releases every stalled
// request. A 0 ErrorStatus becomes DefaultErrorStatus. It is what
// POST /_control/behavior does.
func (s *Server) SetBehavior(b Behavior) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("setting behaviour: %w", err)
	}
	if b.ErrorStatus == 0 {
		b.ErrorStatus = DefaultErrorStatus
	}
	s.setMu.Lock()
	defer s.setMu.Unlock()
	s.storeLocked(b)
	return nil
}

// storeLocked installs b (valid, ErrorStatus set); s.setMu is held.
func (s *Server) storeLocked(b Behavior) {
	old := s.beh.Load()
	nb := &behavior{Behavior: b}
	if b.Stall {
		nb.release = make(chan struct{})
		if old != nil && old.Stall {
			nb.release = old.release // still stalled: the same gate
		}
	}
	s.beh.Store(nb)
	if old != nil && old.Stall && !b.Stall {
		close(old.release)
	}
}

// releaseStall ends a stall, keeping the rest of the behaviour.
func (s *Server) releaseStall() {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	if b := s.beh.Load().Behavior; b.Stall {
		b.Stall = false
		s.storeLocked(b)
	}
}

// connKey is the context key of a connection's connInfo.
type connKey struct{}

type connInfo struct{ answered atomic.Int64 }

// ConnContext is an http.Server.ConnContext hook: it counts the connection
// and gives it the request counter that MaxConnRequests needs. Start
// installs it; set it yourself when mounting Handler on your own server.
func (s *Server) ConnContext(ctx context.Context, _ net.Conn) context.Context {
	s.ctr.conns.Add(1)
	return context.WithValue(ctx, connKey{}, new(connInfo))
}

// admit applies b to a request whose body has been read: the stall, the
// delay (plus extra), the error draw and the connection count. It returns the
// status to answer (status, or the injected error's) and whether to close the
// connection; ok is false when there is nobody left to answer (the client
// went away, or the server went down during a stall and dropped it).
func (s *Server) admit(w http.ResponseWriter, r *http.Request, b *behavior, status int, extra time.Duration) (code int, closeConn, ok bool) {
	for b.Stall {
		s.ctr.stalled.Add(1)
		if s.stallHook != nil {
			s.stallHook()
		}
		select {
		case <-b.release:
		case <-r.Context().Done():
		}
		s.ctr.stalled.Add(-1)
		if r.Context().Err() != nil {
			return 0, false, false
		}
		if b = s.beh.Load(); b.Down {
			s.drop(w)
			return 0, false, false
		}
	}

	n := s.ctr.requests.Add(1)
	if b.ErrorRate > 0 || b.Delay.kind > delayFixed {
		rg := streamFor(s.seed, n)
		// The error draw comes first, so which requests fail does not
		// depend on the delay distribution.
		if b.ErrorRate > 0 && rg.float64() < b.ErrorRate {
			status = b.ErrorStatus
			s.ctr.errors.Add(1)
		}
		extra += b.Delay.sample(&rg)
	} else {
		extra += b.Delay.a // none: 0; fixed: a
	}
	if extra > 0 {
		t := time.NewTimer(extra)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return 0, false, false // the client is gone; nobody to answer
		}
	}

	if ci, _ := r.Context().Value(connKey{}).(*connInfo); ci != nil {
		k := ci.answered.Add(1)
		if m := b.MaxConnRequests; m > 0 && k >= int64(m) {
			closeConn = true
			s.ctr.maxConnCloses.Add(1)
		}
	}
	return status, closeConn, true
}

// drop closes the request's connection without answering (Behavior.Down).
func (s *Server) drop(w http.ResponseWriter) {
	s.ctr.dropped.Add(1)
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	// Not hijackable (HTTP/2, a recorder): net/http aborts the response
	// without logging.
	panic(http.ErrAbortHandler)
}

// serveBehavior is GET/POST /_control/behavior.
func (s *Server) serveBehavior(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		b, err := s.behaviorFromRequest(w, r)
		if err == nil {
			err = s.SetBehavior(b)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, ControlError{Error: err.Error()})
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, ControlError{Error: "method " + r.Method + " not allowed"})
		return
	}
	writeJSON(w, http.StatusOK, s.Behavior())
}

// behaviorFromRequest reads a behaviour change: a JSON body, or the query
// string when the body is empty. Fields left out keep their current value;
// "reset" starts from the behaviour the server was built with instead.
func (s *Server) behaviorFromRequest(w http.ResponseWriter, r *http.Request) (Behavior, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		return Behavior{}, fmt.Errorf("reading the request body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return s.behaviorFromQuery(r.URL.Query())
	}
	if r.URL.RawQuery != "" {
		return Behavior{}, errors.New("give the change as a JSON body or as a query string, not both")
	}
	var reset struct {
		Reset bool `json:"reset"`
	}
	if err := json.Unmarshal(body, &reset); err != nil {
		return Behavior{}, fmt.Errorf("decoding the JSON body: %w", err)
	}
	in := struct {
		Behavior
		Reset bool `json:"reset"`
	}{Behavior: s.Behavior()}
	if reset.Reset {
		in.Behavior = s.initial
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil { // trailing data failed Unmarshal above
		return Behavior{}, fmt.Errorf("decoding the JSON body: %w", err)
	}
	return in.Behavior, nil
}

// behaviorFromQuery applies query parameters named like the JSON fields.
func (s *Server) behaviorFromQuery(q url.Values) (Behavior, error) {
	b := s.Behavior()
	if v, ok := q["reset"]; ok {
		reset, err := strconv.ParseBool(v[0])
		if err != nil {
			return Behavior{}, fmt.Errorf("reset %q: want true or false", v[0])
		}
		if reset {
			b = s.initial
		}
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		vs := q[k]
		if len(vs) != 1 {
			errs = append(errs, fmt.Errorf("%s given %d times", k, len(vs)))
			continue
		}
		v := vs[0]
		var err error
		switch k {
		case "reset":
		case "delay":
			b.Delay, err = ParseDelay(v)
		case "error_rate":
			b.ErrorRate, err = strconv.ParseFloat(v, 64)
		case "error_status":
			b.ErrorStatus, err = strconv.Atoi(v)
		case "stall":
			b.Stall, err = strconv.ParseBool(v)
		case "down":
			b.Down, err = strconv.ParseBool(v)
		case "max_conn_requests":
			b.MaxConnRequests, err = strconv.Atoi(v)
		default:
			err = errors.New("unknown parameter (want delay, error_rate, error_status, stall, down, max_conn_requests or reset)")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", k, v, err))
		}
	}
	return b, errors.Join(errs...)
}
