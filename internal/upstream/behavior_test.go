package upstream

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recv waits up to 10s for a value from ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		panic("unreachable")
	}
}

// statuses sends n GETs straight to s's handler and returns their statuses.
func statuses(s *Server, n int) []int {
	out := make([]int, n)
	for i := range out {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
		out[i] = w.Code
	}
	return out
}

func TestErrorRate(t *testing.T) {
	const n = 2000
	for _, static := range []bool{true, false} {
		s, err := NewWith("e", Options{Static: static, Seed: 7, Behavior: Behavior{ErrorRate: 0.1, ErrorStatus: 503}})
		if err != nil {
			t.Fatal(err)
		}
		got := statuses(s, n)
		count := 0
		for _, c := range got {
			switch c {
			case 503:
				count++
			case 200:
			default:
				t.Fatalf("static=%v: status %d", static, c)
			}
		}
		// Binomial(2000, 0.1): mean 200, sd 13.4; the bound is 4.5 sd.
		if count < 140 || count > 260 {
			t.Errorf("static=%v: %d of %d failed, want about 200", static, count, n)
		}
		if st := s.Stats(); st.Errors != uint64(count) || st.Requests != n {
			t.Errorf("static=%v: stats %+v, want %d errors of %d", static, st, count, n)
		}

		// The same seed fails the same requests; another seed does not.
		same, _ := NewWith("e", Options{Static: static, Seed: 7, Behavior: Behavior{ErrorRate: 0.1, ErrorStatus: 503}})
		other, _ := NewWith("e", Options{Static: static, Seed: 8, Behavior: Behavior{ErrorRate: 0.1, ErrorStatus: 503}})
		if fmt.Sprint(statuses(same, n)) != fmt.Sprint(got) {
			t.Errorf("static=%v: seed 7 gave a different sequence the second time", static)
		}
		if fmt.Sprint(statuses(other, n)) == fmt.Sprint(got) {
			t.Errorf("static=%v: seeds 7 and 8 gave the same sequence", static)
		}
	}

	// All-or-nothing rates and the default status.
	s, _ := NewWith("e", Options{Behavior: Behavior{ErrorRate: 1}})
	if got := statuses(s, 20); strings.Count(fmt.Sprint(got), "500") != 20 {
		t.Errorf("rate 1: %v", got)
	}
	if s.Behavior().ErrorStatus != DefaultErrorStatus {
		t.Errorf("default error status %d", s.Behavior().ErrorStatus)
	}
	// An injected error in echo mode still echoes.
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/echoed", nil))
	if e := decode[Echo](t, w.Body); w.Code != 500 || e.Path != "/echoed" {
		t.Errorf("echo error: %d %+v", w.Code, e)
	}
	s, _ = NewWith("e", Options{Behavior: Behavior{ErrorRate: 0}})
	if got := statuses(s, 20); strings.Count(fmt.Sprint(got), "200") != 20 {
		t.Errorf("rate 0: %v", got)
	}
}

func TestMaxConnRequests(t *testing.T) {
	for _, static := range []bool{true, false} {
		s, err := NewWith("m", Options{Static: static, Behavior: Behavior{MaxConnRequests: 3}})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewUnstartedServer(s)
		ts.Config.ConnContext = s.ConnContext
		var mu sync.Mutex
		accepted := 0
		ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		}
		ts.Start()
		client := &http.Client{Transport: &http.Transport{}}

		var closes, reuses []bool
		for i := range 7 {
			resp, _, reused := get(t, client, "GET", fmt.Sprintf("%s/r%d", ts.URL, i), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("static=%v: request %d: status %d", static, i+1, resp.StatusCode)
			}
			closes = append(closes, resp.Close)
			reuses = append(reuses, reused)
		}
		// The 3rd and 6th responses close; the 4th and 7th requests go on new
		// connections.
		if got, want := fmt.Sprint(closes), "[false false true false false true false]"; got != want {
			t.Errorf("static=%v: Connection: close on %s, want %s", static, got, want)
		}
		if got, want := fmt.Sprint(reuses), "[false true true false true true false]"; got != want {
			t.Errorf("static=%v: reused %s, want %s", static, got, want)
		}
		client.CloseIdleConnections()
		ts.Close()
		mu.Lock()
		if accepted != 3 {
			t.Errorf("static=%v: %d connections accepted, want 3", static, accepted)
		}
		mu.Unlock()
		if st := s.Stats(); st.Conns != 3 || st.MaxConnCloses != 2 {
			t.Errorf("static=%v: stats %+v", static, st)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	s := mustStart(t, Options{Static: true, IdleTimeout: 50 * time.Millisecond})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for range 2 { // a kept-alive connection serves a second request
		io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("status %d close %v", resp.StatusCode, resp.Close)
		}
	}
	// Then, left idle, the server closes it: the read sees EOF long before
	// the deadline.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection: read %d, %v; want EOF", n, err)
	}
}

// control sends a control request and returns the status and trimmed body.
func control(t *testing.T, base, method, target, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, base+target, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestBehaviorControl(t *testing.T) {
	s, err := NewWith("c", Options{Static: true, Behavior: Behavior{Delay: FixedDelay(time.Millisecond), MaxConnRequests: 100}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()

	const initial = `{"delay":"fixed:1ms","error_rate":0,"error_status":500,"stall":false,"down":false,"max_conn_requests":100}`
	if code, body := control(t, ts.URL, "GET", ControlBehaviorPath, ""); code != 200 || body != initial {
		t.Fatalf("GET: %d %s", code, body)
	}

	const changed = `{"delay":"normal:5ms,1ms","error_rate":0.25,"error_status":503,"stall":false,"down":false,"max_conn_requests":100}`
	code, body := control(t, ts.URL, "POST", ControlBehaviorPath, `{"delay":"normal:5ms,1ms","error_rate":0.25,"error_status":503}`)
	if code != 200 || body != changed {
		t.Fatalf("POST JSON: %d %s", code, body)
	}
	if code, body := control(t, ts.URL, "GET", ControlBehaviorPath, ""); code != 200 || body != changed {
		t.Errorf("GET after POST: %d %s", code, body)
	}
	if b := s.Behavior(); b.Delay != NormalDelay(5*time.Millisecond, time.Millisecond) || b.ErrorRate != 0.25 || b.ErrorStatus != 503 {
		t.Errorf("Behavior() %+v", b)
	}

	// The query string form; fields left out keep their values.
	code, body = control(t, ts.URL, "POST", ControlBehaviorPath+"?delay=uniform:1ms-5ms&max_conn_requests=7", "")
	if want := `{"delay":"uniform:1ms-5ms","error_rate":0.25,"error_status":503,"stall":false,"down":false,"max_conn_requests":7}`; code != 200 || body != want {
		t.Errorf("POST query: %d %s", code, body)
	}

	// Reset goes back to the start behaviour, then applies the rest.
	code, body = control(t, ts.URL, "POST", ControlBehaviorPath, `{"reset":true,"error_rate":0.5}`)
	if want := strings.Replace(initial, `"error_rate":0`, `"error_rate":0.5`, 1); code != 200 || body != want {
		t.Errorf("POST reset: %d %s", code, body)
	}
	if code, body = control(t, ts.URL, "POST", ControlBehaviorPath+"?reset=1", ""); code != 200 || body != initial {
		t.Errorf("POST ?reset=1: %d %s", code, body)
	}

	for _, tc := range []struct{ query, body, want string }{
		{"", `{"error_rate":2}`, "error_rate"},
		{"", `{"error_status":200}`, "error_status"},
		{"", `{"error_status":"x"}`, "error_status"},
		{"", `{"delay":"weird:1ms"}`, "weird"},
		{"", `{"max_conn_requests":-1}`, "max_conn_requests"},
		{"", `{"nope":1}`, "nope"},
		{"", `{"stall":true} {}`, "after top-level value"},
		{"", `not json`, "JSON"},
		{"?stall=true", `{"down":true}`, "not both"},
		{"?error_rate=x&delay=soon", "", "delay"},
		{"?error_rate=x&delay=soon", "", "error_rate"},
		{"?stall=maybe", "", "stall"},
		{"?down=1&down=0", "", "2 times"},
		{"?what=1", "", "unknown parameter"},
	} {
		code, body := control(t, ts.URL, "POST", ControlBehaviorPath+tc.query, tc.body)
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s %s: %d %s, want 400 naming %q", tc.query, tc.body, code, body, tc.want)
		}
	}
	if code, body := control(t, ts.URL, "GET", ControlBehaviorPath, ""); body != initial {
		t.Errorf("bad requests changed the behaviour: %d %s", code, body)
	}
	if code, _ := control(t, ts.URL, "DELETE", ControlBehaviorPath, ""); code != 405 {
		t.Errorf("DELETE: %d", code)
	}
	if err := s.SetBehavior(Behavior{ErrorRate: -1}); err == nil || !strings.Contains(err.Error(), "setting behaviour") {
		t.Errorf("SetBehavior with a bad rate: %v", err)
	}

	code, body = control(t, ts.URL, "GET", ControlStatsPath, "")
	if code != 200 || !strings.Contains(body, `"conns":`) || !strings.Contains(body, `"stalled":0`) {
		t.Errorf("stats: %d %s", code, body)
	}
	if code, _ := control(t, ts.URL, "POST", ControlStatsPath, ""); code != 405 {
		t.Errorf("POST stats: %d", code)
	}
}

func TestBehaviorDelay(t *testing.T) {
	// Static mode waits out the delay...
	st := mustStart(t, Options{Static: true, Behavior: Behavior{Delay: FixedDelay(30 * time.Millisecond)}})
	start := time.Now()
	if resp, _, _ := get(t, http.DefaultClient, "GET", st.URL()+"/x", nil); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("static answered after %v, want >= 30ms", d)
	}
	// ...and echo mode adds it to X-Upstream-Delay.
	e := New("e")
	if err := e.SetBehavior(Behavior{Delay: FixedDelay(20 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if w := do(t, e, "GET", "/x", map[string][]string{HeaderDelay: {"20ms"}}); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("echo answered after %v, want >= 40ms", d)
	}

	// A client that goes away ends the wait.
	s, err := NewWith("s", Options{Static: true, Behavior: Behavior{Delay: FixedDelay(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
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
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/slow", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	recv(t, entered, "request")
	cancel()
	if err := recv(t, errc, "client result"); err == nil {
		t.Error("the delayed request succeeded; want it cancelled")
	}
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still waiting 10s after the client went away")
	}
}

func TestStallRelease(t *testing.T) {
	s, err := NewWith("s", Options{Static: true})
	if err != nil {
		t.Fatal(err)
	}
	stalled := make(chan struct{}, 16)
	s.stallHook = func() { stalled <- struct{}{} }
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer ts.CloseClientConnections() // first: lets stalled handlers go if the test fails

	if code, body := control(t, ts.URL, "POST", ControlBehaviorPath+"?stall=true", ""); code != 200 || !strings.Contains(body, `"stall":true`) {
		t.Fatalf("stall: %d %s", code, body)
	}
	const n = 5
	codes := make(chan int, n)
	for i := range n {
		go func() {
			resp, err := http.Get(fmt.Sprintf("%s/r%d", ts.URL, i))
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	for range n {
		recv(t, stalled, "stalled request")
	}
	select {
	case c := <-codes:
		t.Fatalf("a request was answered (%d) during the stall", c)
	default:
	}
	if st := s.Stats(); st.Stalled != n || st.Requests != 0 {
		t.Errorf("stats during the stall %+v", st)
	}
	// Changing something else while stalled keeps the same gate.
	gate := s.beh.Load().release
	if err := s.SetBehavior(Behavior{Stall: true, ErrorRate: 1, ErrorStatus: 502}); err != nil {
		t.Fatal(err)
	}
	if s.beh.Load().release != gate {
		t.Fatal("a stalled-to-stalled change replaced the gate")
	}
	select {
	case <-gate:
		t.Fatal("a stalled-to-stalled change released the stall")
	default:
	}

	// Releasing answers everyone, with the behaviour current at release.
	if code, body := control(t, ts.URL, "POST", ControlBehaviorPath, `{"stall":false}`); code != 200 || !strings.Contains(body, `"stall":false`) {
		t.Fatalf("release: %d %s", code, body)
	}
	for range n {
		if c := recv(t, codes, "released answer"); c != 502 {
			t.Errorf("released request: status %d, want 502", c)
		}
	}
	if st := s.Stats(); st.Stalled != 0 || st.Requests != n {
		t.Errorf("stats after release %+v", st)
	}
}

func TestStallEnds(t *testing.T) {
	// A stalled client that goes away is let go.
	s, err := NewWith("s", Options{Behavior: Behavior{Stall: true}})
	if err != nil {
		t.Fatal(err)
	}
	stalled := make(chan struct{}, 4)
	s.stallHook = func() { stalled <- struct{}{} }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	finished := make(chan struct{}, 4)
	s.serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { finished <- struct{}{} }()
		s.ServeHTTP(w, r)
	}))
	defer s.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/gone", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	recv(t, stalled, "stalled request")
	cancel()
	if err := recv(t, errc, "client result"); err == nil {
		t.Error("stalled request succeeded after cancel")
	}
	recv(t, finished, "handler return")
	if st := s.Stats(); st.Stalled != 0 || st.Requests != 0 {
		t.Errorf("stats %+v", st)
	}

	// Shutdown ends the stall: the stalled request is answered.
	codes := make(chan int, 1)
	go func() {
		resp, err := http.Get(s.URL() + "/held")
		if err != nil {
			codes <- 0
			return
		}
		resp.Body.Close()
		codes <- resp.StatusCode
	}()
	recv(t, stalled, "stalled request")
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if c := recv(t, codes, "answer after Shutdown"); c != 200 {
		t.Errorf("request stalled at shutdown: %d, want 200", c)
	}
}

func TestDown(t *testing.T) {
	for _, static := range []bool{true, false} {
		s := mustStart(t, Options{Static: static})
		if code, body := control(t, s.URL(), "POST", ControlBehaviorPath+"?down=true", ""); code != 200 || !strings.Contains(body, `"down":true`) {
			t.Fatalf("down: %d %s", code, body)
		}
		for _, target := range []string{"/x", HealthPath} {
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				t.Errorf("static=%v: %s answered %d while down", static, target, resp.StatusCode)
			} else if !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
				t.Errorf("static=%v: %s: %v, want the connection closed", static, target, err)
			}
			c.Close()
		}
		if st := s.Stats(); st.Dropped != 2 {
			t.Errorf("static=%v: stats %+v", static, st)
		}
		// The control endpoint still answers and brings it back.
		if code, _ := control(t, s.URL(), "POST", ControlBehaviorPath+"?down=false", ""); code != 200 {
			t.Fatalf("up: %d", code)
		}
		if resp, _, _ := get(t, http.DefaultClient, "GET", s.URL()+"/x", nil); resp.StatusCode != 200 {
			t.Errorf("static=%v: after down=false: %d", static, resp.StatusCode)
		}
	}

	// Down during a stall drops the stalled requests when released.
	s, _ := NewWith("d", Options{Static: true, Behavior: Behavior{Stall: true}})
	stalled := make(chan struct{}, 1)
	s.stallHook = func() { stalled <- struct{}{} }
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer ts.CloseClientConnections() // first: lets stalled handlers go if the test fails
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(ts.URL + "/x")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	recv(t, stalled, "stalled request")
	if err := s.SetBehavior(Behavior{Down: true}); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, errc, "client result"); err == nil {
		t.Error("a request stalled then released into down was answered")
	}
}
