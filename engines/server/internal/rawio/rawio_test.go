//go:build linux

package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pair returns a wrapped client connection and the server's side of it
// (plain *net.TCPConn), on loopback.
func pair(t *testing.T) (*Conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	w, ok := Wrap(c).(*Conn)
	if !ok {
		t.Fatalf("Wrap(%T) did not wrap", c)
	}
	t.Cleanup(func() { w.Close(); s.Close() })
	// A lost byte fails the test instead of hanging it.
	w.SetDeadline(time.Now().Add(30 * time.Second))
	s.SetDeadline(time.Now().Add(30 * time.Second))
	return w, s.(*net.TCPConn)
}

// Megabytes both ways: the writes fill the socket buffers (EAGAIN, a wait
// in the netpoller) and the reads come in pieces; every byte arrives in
// order, and Write reports all of it taken.
func TestLargeTransfersBothWays(t *testing.T) {
	c, s := pair(t)
	payload := make([]byte, 8<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	var gotByServer []byte
	var serverErr, writeErr error
	go func() { // server echoes what it reads
		defer wg.Done()
		gotByServer, serverErr = io.ReadAll(io.LimitReader(s, int64(len(payload))))
		if serverErr == nil {
			_, serverErr = s.Write(gotByServer)
		}
	}()
	go func() {
		defer wg.Done()
		var n int
		n, writeErr = c.Write(payload)
		if writeErr == nil && n != len(payload) {
			writeErr = errors.New("short write without error")
		}
	}()
	back, err := io.ReadAll(io.LimitReader(c, int64(len(payload))))
	wg.Wait()
	if err != nil || serverErr != nil || writeErr != nil {
		t.Fatalf("read %v, server %v, write %v", err, serverErr, writeErr)
	}
	if !bytes.Equal(gotByServer, payload) || !bytes.Equal(back, payload) {
		t.Fatalf("bytes differ: server got %d, client got back %d of %d", len(gotByServer), len(back), len(payload))
	}
}

func TestEOFWhenPeerCloses(t *testing.T) {
	c, s := pair(t)
	s.Write([]byte("bye"))
	s.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "bye" {
		t.Fatalf("ReadAll = %q, %v; want bye, nil (io.EOF ends it)", b, err)
	}
	n, err := c.Read(make([]byte, 8))
	if n != 0 || err != io.EOF {
		t.Fatalf("Read after end = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestReadDeadline(t *testing.T) {
	c, _ := pair(t)
	// A deadline in the past fails at once; one in the future fails a
	// read that waits for it.
	for _, d := range []time.Duration{-time.Second, 20 * time.Millisecond} {
		c.SetReadDeadline(time.Now().Add(d))
		n, err := c.Read(make([]byte, 8))
		var ne net.Error
		if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("deadline %v: Read = %d, %v; want 0 and a timeout", d, n, err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "read" {
			t.Fatalf("deadline %v: error %#v is not a *net.OpError with Op read", d, err)
		}
	}
}

func TestWriteDeadlineWhenPeerDoesNotRead(t *testing.T) {
	c, _ := pair(t)
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := c.Write(make([]byte, 64<<20)) // far over the socket buffers
	if !errors.Is(err, os.ErrDeadlineExceeded) || n <= 0 || n >= 64<<20 {
		t.Fatalf("Write = %d, %v; want a part taken, then the deadline", n, err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	c, _ := pair(t)
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		_, err := c.Read(make([]byte, 8))
		done <- err
	}()
	<-started
	c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read during Close = %v; want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v; want net.ErrClosed", err)
	}
}

func TestWriteToResetPeerFails(t *testing.T) {
	c, s := pair(t)
	s.SetLinger(0)
	s.Close() // RST
	var err error
	for i := 0; i < 100 && err == nil; i++ { // the first write may still be taken
		_, err = c.Write(make([]byte, 4096))
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) || (errno != syscall.ECONNRESET && errno != syscall.EPIPE) {
		t.Fatalf("Write to a reset peer = %v; want ECONNRESET or EPIPE", err)
	}
}

// Reads and writes run at once from two goroutines (net/http reads in the
// background while a handler writes); go test -race checks them.
func TestConcurrentReadAndWrite(t *testing.T) {
	c, s := pair(t)
	go io.Copy(s, s) // echo
	const rounds = 200
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			c.Write([]byte("0123456789"))
		}
	}()
	got, err := io.ReadAll(io.LimitReader(c, rounds*10))
	wg.Wait()
	if err != nil || len(got) != rounds*10 {
		t.Fatalf("read %d bytes, %v; want %d", len(got), err, rounds*10)
	}
}

func TestReadAndWriteDoNotAllocate(t *testing.T) {
	c, s := pair(t)
	go io.Copy(s, s)
	msg, buf := []byte("ping"), make([]byte, 4)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write and read; want 0", allocs)
	}
}

func TestWrapAndListen(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("Wrap changed a connection that is not a *net.TCPConn")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wl := Listen(ln)
	defer wl.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := wl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, ok := c.(*Conn)
	if !ok {
		t.Fatalf("accepted %T; want *rawio.Conn", c)
	}
	if _, ok := rc.NetConn().(*net.TCPConn); !ok {
		t.Fatalf("NetConn() = %T; want the *net.TCPConn", rc.NetConn())
	}
	if b, err := io.ReadAll(c); err != nil || string(b) != "hi" {
		t.Fatalf("ReadAll = %q, %v", b, err)
	}
}
