// Package etcdtest gives tests a real etcd server they can also break: stop
// it and start it again on the same ports with the same data.
//
//	e := etcdtest.Start(t)
//	cli := e.Client(t)
//	...
//	e.Stop()    // the server is gone: requests fail or block until it is back
//	e.Restart() // the same member, the same data, the same endpoints
//
// # Server
//
// Start runs the etcd binary found on PATH (exec.LookPath("etcd"); Debian's
// etcd-server package installs /usr/bin/etcd) as a child process: a
// single-member cluster listening on 127.0.0.1 at two free ports (client and
// peer, picked below the kernel's ephemeral range so that no outgoing
// connection holds them when the server rebinds them on Restart), with its
// data in a directory from t.TempDir(). It is killed if the test binary dies
// (Linux parent-death signal), and stopped (SIGTERM, then SIGKILL after
// StopGrace) when the test ends. Its recent output is written to the test log
// if the test failed.
//
// If no etcd is on PATH the test is skipped with a loud message, or fails if
// GATELAB_REQUIRE_ETCD=1 (CI sets it, having installed etcd-server).
//
// Readiness is a signal, never a fixed sleep: Start and Restart poll a Get
// (each bounded by a short timeout) until the server answers, for at most
// ReadyTimeout, and fail at once if the process exits.
//
// # Operations
//
// Stop stops the server gracefully (SIGTERM, SIGKILL after StopGrace) and
// waits until it has exited: connections are refused afterwards. Restart
// starts it again (stopping it first if it runs) on the same ports with the
// same data directory, so the keys, the revision and the cluster identity
// survive, and returns once it answers.
//
// The methods that can fail call t.Fatal, so call them from the test's
// goroutine. An Etcd is not safe for concurrent use by several goroutines,
// except Endpoints.
package etcdtest
