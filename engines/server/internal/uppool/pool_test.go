package uppool

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/rawtcp"
)

// backend is a raw HTTP/1.1 server on loopback: each connection answers
// requests with "ok" until behave says otherwise. It counts requests and
// connections and reports each connection it closed.
type backend struct {
	address  string // host:port
	requests atomic.Int64
	conns    atomic.Int64
	closed   chan struct{}
	idle     time.Duration // close a connection idle this long between requests (0: never)
	// behave is called for request n (1-based) on a connection; it
	// returns what to do.
	behave func(n int, req *http.Request) action
}

type action int

const (
	answer      action = iota // 200 "ok"
	answerClose               // 200 "ok" with Connection: close, then close
	reset                     // close with RST, no answer
	hangUp                    // close (FIN), no answer
)

func startBackend(t *testing.T, behave func(n int, req *http.Request) action) *backend {
	t.Helper()
	return startBackendIdle(t, behave, 0)
}

func startBackendIdle(t *testing.T, behave func(n int, req *http.Request) action, idle time.Duration) *backend {
	t.Helper()
	b := &backend{closed: make(chan struct{}, 64), behave: behave, idle: idle}
	b.address = rawtcp.Serve(t, func(c net.Conn) {
		b.conns.Add(1)
		b.serve(c)
	})
	return b
}

func (b *backend) serve(c net.Conn) {
	defer func() { c.Close(); b.closed <- struct{}{} }()
	br := bufio.NewReader(c)
	for n := 1; ; n++ {
		if b.idle > 0 && n > 1 {
			c.SetReadDeadline(time.Now().Add(b.idle))
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		b.requests.Add(1)
		act := answer
		if b.behave != nil {
			act = b.behave(n, req)
		}
		switch act {
		case answer:
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		case answerClose:
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			return
		case reset:
			c.(*net.TCPConn).SetLinger(0)
			return
		case hangUp:
			return
		}
	}
}

func (b *backend) addr() string { return b.address }

// do runs one exchange the way the engines do (Exchange), then Puts or
// Drops the connection as the response says.
func do(p *Pool, method, body string) (Timing, error) {
	var t Timing
	deadline := time.Now().Add(5 * time.Second)
	var resp *http.Response
	c, err := p.Exchange(context.Background(), deadline, &t, method, body != "", func(c *Conn) error {
		var err error
		resp, err = exchange(c, method, body, deadline)
		return err
	})
	if err != nil {
		return t, err
	}
	if resp.Close {
		p.Drop(c)
	} else {
		p.Put(c)
	}
	return t, nil
}

func exchange(c *Conn, method, body string, deadline time.Time) (*http.Response, error) {
	c.SetDeadline(deadline)
	req, _ := http.NewRequest(method, "http://upstream/x", strings.NewReader(body))
	if body == "" {
		req.Body = nil
	}
	if err := req.Write(c.BW); err != nil {
		return nil, err
	}
	if err := c.BW.Flush(); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.BR, req)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp, err
}

func TestReuseAndConnectionClose(t *testing.T) {
	b := startBackend(t, func(n int, _ *http.Request) action {
		if n == 3 {
			return answerClose
		}
		return answer
	})
	p := New(Options{Addr: b.addr()})
	defer p.Close()
	for i := 0; i < 5; i++ {
		tm, err := do(p, "GET", "")
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		if want := i == 0 || i == 3; tm.Dialed != want {
			t.Errorf("request %d: dialed %v, want %v", i+1, tm.Dialed, want)
		}
	}
	if n := b.conns.Load(); n != 2 {
		t.Errorf("backend saw %d connections, want 2 (a new one after Connection: close only)", n)
	}
	if open, idle := p.Open(); open != 1 || idle != 1 {
		t.Errorf("open %d idle %d, want 1 and 1", open, idle)
	}
}

// An upstream that closed an idle connection (its keep-alive timeout) must
// not cost the next request anything: the close is seen before writing, so
// even a POST with a body (never sent twice) goes through.
func TestStaleConnectionSkippedBeforeWriting(t *testing.T) {
	b := startBackendIdle(t, nil, 10*time.Millisecond) // the backend's keep-alive timeout
	p := New(Options{Addr: b.addr()})
	defer p.Close()
	for round := 0; round < 3; round++ {
		if _, err := do(p, "POST", "x"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-b.closed: // the backend closed the idle connection
		case <-time.After(5 * time.Second):
			t.Fatal("the backend never closed the idle connection")
		}
		tm, err := do(p, "POST", "x")
		if err != nil {
			t.Fatalf("round %d: POST after the upstream closed the idle connection: %v", round, err)
		}
		if tm.Stale != 1 || !tm.Dialed || tm.Retried {
			t.Errorf("round %d: timing %+v: want 1 stale connection skipped, a dial and no retry", round, tm)
		}
		<-b.closed // the second connection too, before the next round
	}
	if n := b.requests.Load(); n != 6 {
		t.Errorf("backend saw %d requests, want 6", n)
	}
}

// A GET (no body, safe: sent again if need be) takes a pooled connection
// without the MSG_PEEK check: on a connection the upstream closed, the send
// fails before any response byte and goes again on a fresh connection.
func TestSafeRequestSkipsTheCheckAndIsRetried(t *testing.T) {
	b := startBackendIdle(t, nil, 10*time.Millisecond)
	p := New(Options{Addr: b.addr()})
	defer p.Close()
	if _, err := do(p, "GET", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend never closed the idle connection")
	}
	tm, err := do(p, "GET", "")
	if err != nil {
		t.Fatalf("GET after the upstream closed the idle connection: %v", err)
	}
	if tm.Stale != 0 || !tm.Retried || !tm.Dialed {
		t.Errorf("timing %+v: want no check (0 stale), a retry on a new connection", tm)
	}
	if n := b.requests.Load(); n != 2 {
		t.Errorf("backend saw %d requests, want 2 (the first connection was closed before the second GET reached it)", n)
	}
}

func TestCapWaitsForAConnection(t *testing.T) {
	b := startBackend(t, nil)
	p := New(Options{Addr: b.addr(), MaxConns: 1})
	defer p.Close()
	var tm Timing
	c, err := p.Get(context.Background(), time.Now().Add(5*time.Second), &tm)
	if err != nil {
		t.Fatal(err)
	}
	// At the cap with a deadline: ErrNoFreeConns.
	var t2 Timing
	if _, err := p.Get(context.Background(), time.Now().Add(20*time.Millisecond), &t2); !errors.Is(err, ErrNoFreeConns) {
		t.Fatalf("second Get at the cap: %v, want ErrNoFreeConns", err)
	}
	// A waiter gets the connection handed back by Put.
	got := make(chan *Conn)
	go func() {
		var t3 Timing
		c2, err := p.Get(context.Background(), time.Now().Add(5*time.Second), &t3)
		if err != nil {
			t.Error(err)
		}
		got <- c2
	}()
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.waiters) == 1 })
	p.Put(c)
	if c2 := <-got; c2 != c {
		t.Errorf("the waiter got another connection")
	}
	// Drop frees the slot: the next waiter dials.
	go func() {
		var t4 Timing
		c3, err := p.Get(context.Background(), time.Now().Add(5*time.Second), &t4)
		if err != nil {
			t.Error(err)
		}
		if !t4.Dialed {
			t.Error("waiter given a freed slot did not dial")
		}
		got <- c3
	}()
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.waiters) == 1 })
	p.Drop(c)
	c3 := <-got
	p.Put(c3)
	if open, _ := p.Open(); open != 1 {
		t.Errorf("open = %d, want 1", open)
	}
}

func TestDialsAreBounded(t *testing.T) {
	b := startBackend(t, nil)
	p := New(Options{Addr: b.addr(), MaxConns: 100})
	defer p.Close()
	// 40 requests at once on an empty pool, each holding its connection
	// until all have one: the pool must end with 40 connections, reached
	// at most maxDialing dials at a time.
	var wg sync.WaitGroup
	conns := make(chan *Conn, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var tm Timing
			c, err := p.Get(context.Background(), time.Now().Add(5*time.Second), &tm)
			if err != nil {
				t.Error(err)
				return
			}
			conns <- c
		}()
	}
	maxSeen := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		p.mu.Lock()
		maxSeen = max(maxSeen, p.dialing)
		p.mu.Unlock()
		select {
		case <-done:
			break loop
		default:
		}
	}
	close(conns)
	n := 0
	for c := range conns {
		p.Put(c)
		n++
	}
	if n != 40 {
		t.Fatalf("%d of 40 got a connection", n)
	}
	if maxSeen > maxDialing {
		t.Errorf("%d dials at once, bound is %d", maxSeen, maxDialing)
	}
	if open, idle := p.Open(); open != 40 || idle != 40 {
		t.Errorf("open %d idle %d, want 40 and 40", open, idle)
	}
}

func TestIdleTimeout(t *testing.T) {
	b := startBackend(t, nil)
	p := New(Options{Addr: b.addr(), IdleTimeout: time.Nanosecond})
	defer p.Close()
	for i := 0; i < 3; i++ {
		tm, err := do(p, "GET", "")
		if err != nil {
			t.Fatal(err)
		}
		if !tm.Dialed {
			t.Errorf("request %d reused a connection idle past the timeout", i+1)
		}
	}
}

func TestMayRetry(t *testing.T) {
	cases := []struct {
		reused    bool
		got, sent int64
		method    string
		body      bool
		want      bool
	}{
		{reused: true, method: "GET", sent: 100, want: true},
		{reused: true, method: "HEAD", sent: 100, want: true},
		{reused: true, method: "POST", sent: 0, want: true},    // nothing reached the socket
		{reused: true, method: "POST", sent: 100, want: false}, // may have reached the backend
		{reused: true, method: "DELETE", sent: 100, want: false},
		{reused: true, method: "GET", sent: 100, body: true, want: false},
		{reused: true, method: "GET", sent: 100, got: 1, want: false}, // part of a response arrived
		{reused: false, method: "GET", sent: 0, want: false},          // a fresh connection failing is the upstream's answer
	}
	for _, tc := range cases {
		c := &Conn{reused: tc.reused, got: tc.got, sent: tc.sent}
		if got := MayRetry(c, tc.method, tc.body); got != tc.want {
			t.Errorf("%+v: MayRetry = %v", tc, got)
		}
	}
}

// A GET on a reused connection whose upstream hung up without answering
// is sent again on a fresh connection and succeeds; a POST in the same
// spot fails and reached the backend once.
func TestRetryRule(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			b := startBackend(t, func(n int, _ *http.Request) action {
				if n == 2 {
					return reset // the second request on a connection: read, then RST
				}
				return answer
			})
			p := New(Options{Addr: b.addr()})
			defer p.Close()
			body := ""
			if method == "POST" {
				body = "payload"
			}
			if _, err := do(p, method, body); err != nil {
				t.Fatal(err)
			}
			tm, err := do(p, method, body)
			switch method {
			case "GET":
				if err != nil || !tm.Retried {
					t.Fatalf("GET after a reset: err %v, retried %v; want success on a fresh connection", err, tm.Retried)
				}
				if n := b.requests.Load(); n != 3 {
					t.Errorf("backend saw %d requests, want 3", n)
				}
			case "POST":
				if err == nil || tm.Retried {
					t.Fatalf("POST after a reset: err %v, retried %v; want an error and no retry", err, tm.Retried)
				}
				if n := b.requests.Load(); n != 2 {
					t.Errorf("backend saw %d requests, want 2 (the POST once)", n)
				}
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// An upstream that takes no connections (every dial hangs): requests
// queued behind the bounded dials fail as dial failures after the dial
// timeout, not as a busy pool at their deadline, so the backend's health
// and breaker count them.
func TestHangingDialsFailAsDialFailures(t *testing.T) {
	p := New(Options{Addr: "127.0.0.1:9", DialTimeout: 50 * time.Millisecond})
	defer p.Close()
	p.dialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ctx.Err()}
	}
	const n = 3 * maxDialing
	errs := make(chan error, n)
	for range n {
		go func() {
			var tm Timing
			_, err := p.Get(context.Background(), time.Now().Add(time.Minute), &tm)
			errs <- err
		}()
	}
	for range n {
		err := <-errs
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" || errors.Is(err, ErrNoFreeConns) {
			t.Errorf("Get = %v, want a dial failure", err)
		}
	}
	if open, _ := p.Open(); open != 0 {
		t.Errorf("%d slots still counted after every dial failed", open)
	}
}
