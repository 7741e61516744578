//go:build linux

package uppool

import (
	"crypto/tls"
	"net"
	"syscall"
	"unsafe"
)

// closedByPeer reports whether an idle connection is unusable: the upstream
// closed it (EOF, or a reset) or sent bytes nobody asked for (a TLS
// close_notify counts). One non-blocking MSG_PEEK receive, made as a raw
// system call (see package rawio: it cannot block); nothing is consumed.
func closedByPeer(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	dead := false
	rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK:
			// Nothing to read: still open.
		case errno == syscall.EINTR:
			// Interrupted before looking: take it as open (a stale
			// connection is still caught by the retry rule).
		case errno != 0, int(n) >= 0:
			// EOF (n == 0), unexpected bytes (n > 0) or an error.
			dead = true
		}
		return true // never wait
	})
	return dead
}
