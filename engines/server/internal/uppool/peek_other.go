//go:build !linux

package uppool

import "net"

// closedByPeer cannot peek without blocking here: a stale connection is
// found by the request that uses it (and MayRetry sends a safe request
// again).
func closedByPeer(net.Conn) bool { return false }
