// Package faultproxy is a loopback TCP proxy that tests put between a client
// and a real server to break the network between them: cut it, slow it down
// or make it swallow everything, with real sockets and no mocks.
//
//	p := faultproxy.Start(t, r.Addr()) // listens on 127.0.0.1:0, forwards to r
//	client := connect(p.Addr())
//	p.Cut()               // a blip: every connection reset, new ones too
//	p.Restore()
//	p.SetLatency(30 * time.Millisecond)
//	p.SetLatency(0)
//	p.Blackhole()         // a partition: connections stay open, nothing moves
//	p.Restore()
//
// # Contract
//
// Start listens on 127.0.0.1:0 and forwards each accepted connection to
// target over a new connection of its own (dialled when the client connects,
// or when a blackhole ends). The target must be a loopback address
// (127.0.0.0/8, ::1 or localhost): the proxy never reaches off the machine.
// The proxy is closed by t.Cleanup (or Close): the listener and every
// connection are closed and Close returns once all of its goroutines have
// exited; if they have not within 5s, Close returns an error and the
// cleanup fails the test, so a leak cannot go unnoticed or hang the test.
//
// Forwarding is byte-exact and in order. Each direction of a connection is
// one goroutine that reads a chunk (at most 16 KiB, into a pooled buffer) and
// writes it on; a connection costs two goroutines and two buffers, and the
// proxy holds at most MaxConns connections (more are accepted and reset at
// once). With no fault set, forwarding a chunk allocates nothing. When either
// side closes or fails, both sockets are closed.
//
// The faults, all safe to call from any goroutine at any time:
//
//   - Cut: a network blip. Every open connection is closed abortively
//     (SO_LINGER 0, so both peers see a reset rather than an orderly EOF)
//     and, until Restore, new connections are accepted and reset at once.
//     The proxy keeps listening during a cut (rather than closing its
//     listener) so that its address stays valid and no other process can
//     take the port: a client's dial, or else its first read or write,
//     fails with a reset (which of the two is a race in the kernel).
//   - SetLatency(d): every chunk is forwarded d after the proxy read it, in
//     both directions, on open connections as well as new ones; 0 removes the
//     delay, releasing chunks that are waiting. Chunks of one direction are
//     forwarded one at a time, in order, so a direction also carries at most
//     one chunk per d. Connection setup is not delayed.
//   - Blackhole: connections stay open (and new ones are accepted and kept)
//     but nothing is forwarded and the peers get no error: like a partition
//     where packets vanish. A direction holds the chunk it had read (the
//     rest waits in the kernel, so a writer eventually blocks as on a real
//     partition), and a connection accepted during the blackhole is not
//     dialled on to the target until it ends. Restore resumes forwarding,
//     delivering the held bytes late, as TCP retransmission would after a
//     partition heals: a server may then run a request whose client gave up.
//   - Restore ends a cut or a blackhole. It does not change the latency.
//
// Conns reports the connections open now: accepted, not yet closed, whether
// or not they are forwarding. Connections reset during a cut are never
// counted.
package faultproxy
