package faults

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/rawtcp"
)

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	return rawtcp.Serve(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := c.Write([]byte(l)); err != nil {
				return
			}
		}
	})
}

func roundTrip(addr string, timeout time.Duration) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	if strings.TrimSpace(l) != "ping" {
		return 0, errors.New("bad echo " + l)
	}
	return time.Since(start), nil
}

func TestProxyFaults(t *testing.T) {
	tp := NewToxiproxy()
	defer tp.Close()
	p, err := tp.Proxy("echo", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr(), 5*time.Second); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if err := p.Latency(300*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	d, err := roundTrip(p.Addr(), 5*time.Second)
	if err != nil || d < 300*time.Millisecond {
		t.Fatalf("with 300ms latency: %v, %v (want at least 300ms)", d, err)
	}
	if err := p.Down(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr(), time.Second); err == nil {
		t.Fatal("a round trip through a proxy that is down succeeded")
	}
	if err := p.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr(), 5*time.Second); err != nil {
		t.Fatalf("after Reset: %v", err)
	}
	if err := p.ResetPeer(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr(), time.Second); err == nil {
		t.Fatal("a round trip through a resetting proxy succeeded")
	}
	if err := p.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := p.Bandwidth(1); err != nil { // 1 KB/s: a 5-byte answer still passes
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr(), 5*time.Second); err != nil {
		t.Fatalf("with a bandwidth limit: %v", err)
	}
	if err := p.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := p.Blackhole(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr(), 300*time.Millisecond); err == nil {
		t.Fatal("a round trip through a blackholed proxy succeeded")
	}
	if err := p.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr(), 5*time.Second); err != nil {
		t.Fatalf("after the blackhole's Reset: %v", err)
	}
}

func TestProxyRefusesNonLoopback(t *testing.T) {
	tp := NewToxiproxy()
	defer tp.Close()
	if _, err := tp.Proxy("x", "10.0.0.1:6379"); err == nil {
		t.Fatal("a proxy to a non-loopback address was created")
	}
}

func TestRunOrderAndRevertOnCancel(t *testing.T) {
	var mu sync.Mutex
	var log []string
	bDone := make(chan struct{})
	rec := func(s string) func(context.Context) error {
		return func(context.Context) error {
			mu.Lock()
			log = append(log, s)
			mu.Unlock()
			return nil
		}
	}
	acts := []Action{
		{Name: "b", At: 20 * time.Millisecond, For: 20 * time.Millisecond, Apply: rec("b+"), Revert: func(ctx context.Context) error {
			rec("b-")(ctx)
			close(bDone)
			return nil
		}},
		{Name: "a", At: 0, For: 20 * time.Millisecond, Apply: rec("a+"), Revert: rec("a-")},
		{Name: "c", At: 10 * time.Second, For: time.Second, Apply: rec("c+"), Revert: rec("c-")},
		{Name: "long", At: 0, For: time.Hour, Apply: rec("long+"), Revert: func(context.Context) error { rec("long-")(nil); return errors.New("boom") }},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []Event)
	start := time.Now()
	go func() { done <- Run(ctx, start, acts) }()
	// Cancel once b has been reverted.
	select {
	case <-bDone:
	case <-time.After(10 * time.Second):
		t.Fatal("b never reverted")
	}
	cancel()
	ev := <-done
	got := strings.Join(log, " ")
	if got != "a+ long+ a- b+ b- long-" {
		t.Fatalf("order: %s", got)
	}
	if ev[2].Applied != 0 || ev[2].Reverted != 0 {
		t.Fatalf("c ran: %+v", ev[2])
	}
	if ev[3].Err == nil || !strings.Contains(ev[3].Err.Error(), "boom") {
		t.Fatalf("the revert error is lost: %+v", ev[3])
	}
	if ev[0].Reverted < ev[0].Applied {
		t.Fatalf("a: %+v", ev[0])
	}
}
