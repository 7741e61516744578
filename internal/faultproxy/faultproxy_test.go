package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// echoServer is the real server behind the proxy: it writes back whatever
// it reads and counts its open connections.
type echoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startEcho(t testing.TB) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln, conns: map[net.Conn]struct{}{}}
	e.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns[c] = struct{}{}
			e.mu.Unlock()
			e.wg.Go(func() {
				io.Copy(c, c)
				c.Close()
				e.mu.Lock()
				delete(e.conns, c)
				e.mu.Unlock()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		e.mu.Lock()
		for c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func (e *echoServer) open() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.conns)
}

// dial connects to addr, closed when t ends.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg on c and reads it back, all within timeout.
func roundTrip(c net.Conn, msg []byte, buf []byte, timeout time.Duration) error {
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
		return err
	}
	if !bytes.Equal(buf[:len(msg)], msg) {
		return errors.New("echo differs")
	}
	return nil
}

// eventually polls cond every millisecond for at most within.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// isTimeout reports whether err is a deadline expiring (as opposed to the
// connection failing).
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

func TestForward(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr())
	c := dial(t, p.Addr())
	buf := make([]byte, 1<<20)
	if err := roundTrip(c, []byte("hello"), buf, time.Second); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if n := p.Conns(); n != 1 {
		t.Errorf("Conns() = %d, want 1", n)
	}
	// Far more than one chunk, both ways at once, byte-exact.
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if err := roundTrip(c, big, buf, 5*time.Second); err != nil {
		t.Fatalf("1 MiB round trip: %v", err)
	}
	c.Close()
	eventually(t, time.Second, "Conns() back to 0 after the client closed", func() bool { return p.Conns() == 0 })
	eventually(t, time.Second, "server side closed", func() bool { return e.open() == 0 })
}

func TestCut(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr())
	buf := make([]byte, 64)
	c1 := dial(t, p.Addr())
	if err := roundTrip(c1, []byte("a"), buf, time.Second); err != nil {
		t.Fatal(err)
	}

	p.Cut()
	if n := p.Conns(); n != 0 {
		t.Errorf("Conns() = %d right after Cut, want 0", n)
	}
	// The open connection fails at once, with an error rather than silence.
	began := time.Now()
	err := roundTrip(c1, []byte("b"), buf, time.Second)
	if err == nil || isTimeout(err) {
		t.Errorf("open connection after Cut: %v, want a reset or EOF", err)
	}
	t.Logf("open connection after Cut: %v after %v", err, time.Since(began).Round(time.Microsecond))
	eventually(t, time.Second, "server side closed by Cut", func() bool { return e.open() == 0 })

	// A new connection is accepted and reset at once: the dial itself or
	// the first use fails (which one is a race in the kernel), never silently.
	for range 20 {
		began = time.Now()
		c2, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err == nil {
			err = roundTrip(c2, []byte("c"), buf, time.Second)
			c2.Close()
		}
		if err == nil || isTimeout(err) {
			t.Fatalf("new connection during Cut: %v, want a reset or EOF", err)
		}
		if el := time.Since(began); el > 500*time.Millisecond {
			t.Errorf("new connection during Cut failed only after %v", el)
		}
	}
	if n := p.Conns(); n != 0 {
		t.Errorf("Conns() = %d during Cut, want 0", n)
	}
	if n := e.open(); n != 0 {
		t.Errorf("server has %d connections during Cut, want 0", n)
	}

	p.Restore()
	c3 := dial(t, p.Addr())
	if err := roundTrip(c3, []byte("d"), buf, time.Second); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
	if n := p.Conns(); n != 1 {
		t.Errorf("Conns() = %d after Restore, want 1", n)
	}
}

func TestLatency(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr())
	buf := make([]byte, 64)
	c := dial(t, p.Addr()) // opened before the latency is set
	msg := []byte("x")
	if err := roundTrip(c, msg, buf, time.Second); err != nil {
		t.Fatal(err)
	}

	const d = 40 * time.Millisecond
	p.SetLatency(d)
	for range 3 {
		began := time.Now()
		if err := roundTrip(c, msg, buf, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		el := time.Since(began)
		// One chunk each way, each delayed by d.
		if el < 2*d || el > 2*d+time.Second {
			t.Errorf("round trip with latency %v took %v, want 2 x %v and a little", d, el, d)
		}
		t.Logf("round trip with latency %v: %v", d, el.Round(time.Microsecond))
	}
	// A new connection gets it too.
	c2 := dial(t, p.Addr())
	began := time.Now()
	if err := roundTrip(c2, msg, buf, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(began); el < 2*d {
		t.Errorf("new connection: round trip %v, want >= %v", el, 2*d)
	}

	// SetLatency(0) releases a chunk that is already waiting.
	p.SetLatency(time.Hour)
	began = time.Now()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	// Nothing for a while: the proxy has read the chunk and holds it.
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(buf[:1]); !isTimeout(err) {
		t.Fatalf("read under a 1h latency: %v, want a timeout", err)
	}
	p.SetLatency(0)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		t.Fatalf("after SetLatency(0): %v", err)
	}
	if el := time.Since(began); el > time.Second {
		t.Errorf("a chunk waiting under a 1h latency was released %v after SetLatency(0)", el)
	}
	for range 3 {
		began := time.Now()
		if err := roundTrip(c, msg, buf, time.Second); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(began); el >= d {
			t.Errorf("round trip after SetLatency(0) took %v, want well under %v", el, d)
		}
	}
}

func TestBlackhole(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr())
	buf := make([]byte, 64)
	c1 := dial(t, p.Addr())
	if err := roundTrip(c1, []byte("a"), buf, time.Second); err != nil {
		t.Fatal(err)
	}

	p.Blackhole()
	// Silence, not an error: the write succeeds, the read times out.
	const wait = 100 * time.Millisecond
	if err := roundTrip(c1, []byte("held1"), buf, wait); !isTimeout(err) {
		t.Errorf("open connection in a blackhole: %v, want a timeout", err)
	}
	// A new connection is accepted and kept, silent too, and not dialled on.
	c2 := dial(t, p.Addr())
	if err := roundTrip(c2, []byte("held2"), buf, wait); !isTimeout(err) {
		t.Errorf("new connection in a blackhole: %v, want a timeout", err)
	}
	if n := p.Conns(); n != 2 {
		t.Errorf("Conns() = %d in a blackhole, want 2", n)
	}
	if n := e.open(); n != 1 {
		t.Errorf("server has %d connections in a blackhole, want 1 (the new one not dialled yet)", n)
	}

	p.Restore()
	// The held bytes arrive late, as after a healed partition.
	for _, x := range []struct {
		c   net.Conn
		msg string
	}{{c1, "held1"}, {c2, "held2"}} {
		x.c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(x.c, buf[:len(x.msg)]); err != nil || string(buf[:len(x.msg)]) != x.msg {
			t.Errorf("after Restore: read %q, %v; want %q", buf[:len(x.msg)], err, x.msg)
		}
		if err := roundTrip(x.c, []byte("again"), buf, time.Second); err != nil {
			t.Errorf("after Restore: %v", err)
		}
	}
	if n := e.open(); n != 2 {
		t.Errorf("server has %d connections after Restore, want 2", n)
	}

	// A Cut during a blackhole resets the held connections.
	p.Blackhole()
	c1.Write([]byte("lost"))
	p.Cut()
	if err := roundTrip(c1, []byte("b"), buf, time.Second); err == nil || isTimeout(err) {
		t.Errorf("blackholed connection after Cut: %v, want a reset or EOF", err)
	}
	if n := p.Conns(); n != 0 {
		t.Errorf("Conns() = %d after Cut, want 0", n)
	}
}

// TestNoLeaks: whatever state the proxy is in when the test ends (waiting
// chunks, blackholed connections, connections being reset), Close leaves no
// goroutine behind.
func TestNoLeaks(t *testing.T) {
	baseline := runtime.NumGoroutine()
	for _, fault := range []string{"none", "latency", "blackhole", "cut", "blackhole_new"} {
		t.Run(fault, func(t *testing.T) {
			e := startEcho(t)
			p := Start(t, e.addr())
			buf := make([]byte, 64)
			var cs []net.Conn
			for range 20 {
				c := dial(t, p.Addr())
				if err := roundTrip(c, []byte("a"), buf, time.Second); err != nil {
					t.Fatal(err)
				}
				cs = append(cs, c)
			}
			switch fault {
			case "latency":
				p.SetLatency(time.Hour)
			case "blackhole":
				p.Blackhole()
			case "cut":
				p.Cut()
			case "blackhole_new":
				p.Blackhole()
				for range 20 {
					cs = append(cs, dial(t, p.Addr()))
				}
				eventually(t, time.Second, "40 connections", func() bool { return p.Conns() == 40 })
			}
			for _, c := range cs {
				c.Write([]byte("pending")) // left waiting in the proxy
			}
			if fault != "cut" && p.Conns() < 20 {
				t.Errorf("Conns() = %d, want >= 20", p.Conns())
			}
			// The test ends with everything still open: Cleanup closes it.
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > baseline {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after the proxies closed, baseline %d:\n%s", g, baseline, buf[:runtime.Stack(buf, true)])
	}
}

// TestCloseReturns: Close does not wait on anything the peers do.
func TestCloseReturns(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr())
	c := dial(t, p.Addr())
	c.Write([]byte("x"))
	p.SetLatency(time.Hour)
	c.Write([]byte("y"))
	began := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(began); el > time.Second {
		t.Errorf("Close took %v", el)
	}
	if n := p.Conns(); n != 0 {
		t.Errorf("Conns() = %d after Close", n)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Errorf("dial after Close succeeded")
	}
}

func TestCheckTarget(t *testing.T) {
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"127.0.0.1:6379", true},
		{"127.8.9.10:1", true},
		{"[::1]:6379", true},
		{"localhost:6379", true},
		{"10.0.0.1:6379", false},
		{"[2001:db8::1]:6379", false},
		{"example.com:6379", false},
		{"0.0.0.0:6379", false},
		{"127.0.0.1", false},
		{"127.0.0.1:", false},
	} {
		if err := checkTarget(tc.target); (err == nil) != tc.ok {
			t.Errorf("checkTarget(%q) = %v, want ok %v", tc.target, err, tc.ok)
		}
	}
}

// TestForwardAllocs: with no fault set, a round trip through the proxy
// allocates nothing (measured process-wide, so the echo server and the
// client count too; they allocate nothing per round trip either).
func TestForwardAllocs(t *testing.T) {
	e := startEcho(t)
	p := Start(t, e.addr())
	c := dial(t, p.Addr())
	msg, buf := []byte("*1\r\n$4\r\nPING\r\n"), make([]byte, 64)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var err error
	allocs := testing.AllocsPerRun(500, func() {
		if _, werr := c.Write(msg); werr != nil {
			err = werr
		}
		if _, rerr := io.ReadFull(c, buf[:len(msg)]); rerr != nil {
			err = rerr
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.2f allocations per round trip", allocs)
	if allocs > 0.1 {
		t.Errorf("%.2f allocations per round trip through the proxy, want 0", allocs)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	e := startEcho(b)
	p := Start(b, e.addr())
	c := dial(b, p.Addr())
	msg, buf := []byte("*1\r\n$4\r\nPING\r\n"), make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		c.Write(msg)
		io.ReadFull(c, buf[:len(msg)])
	}
}
