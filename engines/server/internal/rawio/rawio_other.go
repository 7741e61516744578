//go:build !linux

package rawio

import "net"

// Wrap returns c unchanged: raw system calls are used on Linux only.
func Wrap(c net.Conn) net.Conn { return c }

// Listen returns ln unchanged: raw system calls are used on Linux only.
func Listen(ln net.Listener) net.Listener { return ln }
