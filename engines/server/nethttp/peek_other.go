//go:build !unix

package nethttp

// closedByPeer cannot peek without blocking here: a stale connection is
// found by the request that uses it.
func (pc *pconn) closedByPeer() bool { return pc.br.Buffered() > 0 }
