// Package rawtcp is a test helper: a loopback TCP server that hands every
// accepted connection to a function, for tests that play a peer byte by
// byte (an upstream that resets, answers 101, closes after N requests).
//
// Contract: Serve listens on 127.0.0.1 (a free port) until the test ends,
// runs handle on each connection in its own goroutine and closes the
// connection when handle returns. It never reads or writes by itself.
package rawtcp

import (
	"net"
	"testing"
)

// Serve starts the server and returns its host:port.
func Serve(tb testing.TB, handle func(c net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}
