package uppool

import (
	"context"
	"net"
	"sync"
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

// Retire closes the pools of hosts a reload removed (their idle
// connections close at once: the backend sees it) and keeps the others; a
// connection in use when its pool was retired is dropped when handed back.
func TestRetireClosesRemovedPools(t *testing.T) {
	kept, removed := startBackend(t, nil), startBackend(t, nil)
	var pools sync.Map
	pk, pr := New(Options{Addr: kept.addr()}), New(Options{Addr: removed.addr()})
	defer pk.Close()
	pools.Store(kept.addr(), pk)
	pools.Store(removed.addr(), pr)
	var tm Timing
	busy, err := pr.Get(context.Background(), time.Now().Add(5*time.Second), &tm) // in use
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Pool{pk, pr} {
		if _, err := do(p, "GET", ""); err != nil { // one idle connection each
			t.Fatal(err)
		}
	}

	Retire(&pools, map[string]bool{kept.addr(): true})

	if _, ok := pools.Load(removed.addr()); ok {
		t.Error("the removed host's pool is still in the map")
	}
	if v, ok := pools.Load(kept.addr()); !ok || v.(*Pool) != pk {
		t.Error("the kept host's pool was retired")
	}
	select {
	case <-removed.closed: // the idle connection
	case <-time.After(5 * time.Second):
		t.Fatal("the removed host's idle connection was not closed")
	}
	pr.Put(busy)
	select {
	case <-removed.closed: // the one that was in use, once handed back
	case <-time.After(5 * time.Second):
		t.Fatal("the connection in use was pooled, not closed, after its pool was retired")
	}
	if open, idle := pk.Open(); open != 1 || idle != 1 {
		t.Errorf("kept pool: open %d idle %d, want 1 and 1", open, idle)
	}
	select {
	case <-kept.closed:
		t.Error("the kept host's connection was closed")
	default:
	}
}
