// Package serverproc holds what the test packages that start real servers
// as processes (internal/redistest, internal/etcdtest) share: a free
// loopback port below the ephemeral range, a bounded log of the server's
// last output lines, the parent-death signal that keeps a crashed test
// binary from leaving servers behind, and a bounded kill.
//
// It is for tests only and has no state of its own.
package serverproc
