package connlimit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// accepted dials l and returns the client side and the accepted server side.
func accepted(t *testing.T, l net.Listener, out chan net.Conn) (client, server net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	select {
	case s := <-out:
		return c, s
	case <-time.After(5 * time.Second):
		t.Fatal("not accepted")
	}
	return nil, nil
}

func serve(t *testing.T, max int) (net.Listener, chan net.Conn) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(inner, max)
	t.Cleanup(func() { l.Close() })
	out := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			out <- c
		}
	}()
	return l, out
}

// closedByServer reports whether the server closed c (read gets EOF).
func closedByServer(t *testing.T, c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err == io.EOF || err != nil
}

func TestIdleOldestEvictedAtCap(t *testing.T) {
	l, out := serve(t, 2)
	c1, s1 := accepted(t, l, out)
	c2, s2 := accepted(t, l, out)
	Active(s2)
	Idle(s2) // s2 became idle after s1: s1 is the oldest idle
	_, s3 := accepted(t, l, out)
	if !closedByServer(t, c1) {
		t.Fatal("the oldest idle connection was not closed at the cap")
	}
	if closedByServer(t, c2) {
		t.Fatal("a younger idle connection was closed")
	}
	if got := l.(*Listener).Open(); got != 2 {
		t.Fatalf("open = %d, want 2", got)
	}
	// The evicted connection's own Close frees nothing more.
	s1.Close()
	if got := l.(*Listener).Open(); got != 2 {
		t.Fatalf("open after closing the evicted conn = %d, want 2", got)
	}
	s2.Close()
	s3.Close()
	if got := l.(*Listener).Open(); got != 0 {
		t.Fatalf("open after closing all = %d, want 0", got)
	}
}

func TestBusyConnectionsRefuseNewOnes(t *testing.T) {
	l, out := serve(t, 2)
	c1, s1 := accepted(t, l, out)
	c2, s2 := accepted(t, l, out)
	Active(s1)
	Active(s2)
	c3, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	c3.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c3), nil)
	if err != nil {
		t.Fatalf("refused connection got no answer: %v", err)
	}
	if resp.StatusCode != 503 || !resp.Close {
		t.Fatalf("refused connection: status %d close %v, want 503 and close", resp.StatusCode, resp.Close)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "{\"error\":\"too_many_connections\"}\n" {
		t.Fatalf("body %q", body)
	}
	if closedByServer(t, c1) || closedByServer(t, c2) {
		t.Fatal("a busy connection was closed")
	}
	if n := l.(*Listener).Refused(); n != 1 {
		t.Fatalf("refused = %d, want 1", n)
	}
	// A request ends: the next connection is taken, and the idle one goes.
	Idle(s1)
	_, s4 := accepted(t, l, out)
	if !closedByServer(t, c1) {
		t.Fatal("idle connection not evicted for the new one")
	}
	s4.Close()
}

func TestNoCap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	if Wrap(inner, 0) != inner {
		t.Fatal("max 0 should not wrap")
	}
}
