package uppool

import (
	"context"
	"net"
	"testing"
	"time"
)

// Conns counts open connections, idle or in use, and not dials in
// progress.
func TestConns(t *testing.T) {
	b := startBackend(t, nil)
	p := New(Options{Addr: b.addr()})
	defer p.Close()
	deadline := time.Now().Add(5 * time.Second)
	var tm Timing
	c1, err := p.Get(context.Background(), deadline, &tm)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := p.Get(context.Background(), deadline, &tm)
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Conns(); n != 2 {
		t.Errorf("two in use: Conns = %d", n)
	}
	p.Put(c1)
	if n := p.Conns(); n != 2 {
		t.Errorf("one idle, one in use: Conns = %d", n)
	}
	p.Drop(c2)
	if n := p.Conns(); n != 1 {
		t.Errorf("one idle: Conns = %d", n)
	}
	p.Close()
	if n := p.Conns(); n != 0 {
		t.Errorf("closed: Conns = %d", n)
	}

	// A dial in progress is not a connection.
	hang := New(Options{Addr: "127.0.0.1:9", DialTimeout: time.Minute})
	defer hang.Close()
	started := make(chan struct{})
	release := make(chan struct{})
	hang.dialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) {
		close(started)
		<-release
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: context.Canceled}
	}
	done := make(chan struct{})
	go func() {
		var tm Timing
		hang.Get(context.Background(), time.Now().Add(time.Minute), &tm)
		close(done)
	}()
	<-started
	if open, _ := hang.Open(); open != 1 {
		t.Errorf("Open during the dial = %d, want 1 (the reserved slot)", open)
	}
	if n := hang.Conns(); n != 0 {
		t.Errorf("Conns during the dial = %d, want 0", n)
	}
	close(release)
	<-done
}
