// Package rawio makes the server engines' socket reads and writes without
// telling the Go scheduler they are system calls.
//
// Go's net package marks every read and write on a socket as a system call
// (entersyscall/exitsyscall). The sockets are non-blocking, so the call
// never waits, but on loopback a write runs the receiver's TCP stack
// inline and takes tens of microseconds; the runtime's monitor thread
// (sysmon), seeing a processor "in a system call" that long, hands the
// processor to another thread, wakes it, and keeps polling every 20 µs.
// Under a proxy's load (two writes and two reads per request) that thread
// traffic was about a tenth of the gateway's CPU (perf, fasthttp engine,
// 2 cores). Conn makes the same non-blocking read(2) and write(2) with
// syscall.RawSyscall inside the connection's syscall.RawConn, so the
// netpoller still parks the goroutine when the socket is not ready and
// deadlines and Close still work as on a *net.TCPConn.
//
// # Contract
//
//   - Wrap returns c itself unless it is a *net.TCPConn; Listen wraps every
//     accepted connection. A wrapped Conn behaves as the *net.TCPConn it
//     embeds for everything but Read and Write, and those return what
//     net.Conn documents: io.EOF at the end of the stream, a *net.OpError
//     for a deadline (errors.Is os.ErrDeadlineExceeded, Timeout true), a
//     closed connection (net.ErrClosed) or a socket error.
//   - A Write returns only when all of b was taken by the socket or on
//     error; a Read returns what one read(2) gave.
//   - Read and Write may run concurrently with each other (one mutex per
//     direction); neither allocates, except for the error it returns (one
//     allocation, as on a *net.TCPConn).
//   - Only non-blocking sockets (all of Go's) may be wrapped: a raw system
//     call that blocked would hold its processor.
package rawio
