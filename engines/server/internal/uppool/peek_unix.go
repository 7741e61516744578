//go:build unix

package uppool

import (
	"crypto/tls"
	"net"
	"syscall"
)

// closedByPeer reports whether an idle connection is unusable: the upstream
// closed it (EOF, or a reset) or sent bytes nobody asked for (a TLS
// close_notify counts). One non-blocking MSG_PEEK receive; nothing is
// consumed.
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
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			// Nothing to read: still open.
		case err != nil, n >= 0:
			// EOF (n == 0), unexpected bytes (n > 0) or an error.
			dead = true
		}
		return true // never wait
	})
	return dead
}
