// Package etcdtest gives tests a real etcd server they can also break: stop
// it and start it again on the same ports with the same data.
//
//	e := etcdtest.Start(t)
//	cli := e.Client(t)
//	...
//	e.Stop()    // the server is gone: requests fail or block until it is back
//	e.Restart() // the same member, the same data, the same endpoints
//
// It is a thin testing.TB wrapper over harness/deps (deps.StartEtcd), which
// the lab uses too. By default that runs the etcd found on PATH (Debian's
// etcd-server installs /usr/bin/etcd) as a single-member cluster on two free
// loopback ports, through harness/fleet (its own process group, killed if
// the test binary dies), with its data in a temporary directory; without a
// host etcd, a container if Docker is reachable and an etcd image is usable.
// GATELAB_ETCD_MODE=process or =docker forces a strategy (docker uses an
// image built locally from the host's etcd when no registry is reachable).
// Readiness is the server's "serving client traffic" line, then a Get.
//
// What this package adds: when no strategy can run (deps.ErrUnavailable)
// the test is skipped with a loud message, or fails if
// GATELAB_REQUIRE_ETCD=1 (CI sets it, having installed etcd-server); any
// other start error fails the test. The server is closed when the test ends
// and its recent output goes to the test log if the test failed.
//
// Stop stops the server gracefully (SIGTERM, SIGKILL after StopGrace) and
// waits until it has exited: connections are refused afterwards. Restart
// starts it again (stopping it first if it runs) on the same ports with the
// same data, so the keys, the revision and the cluster identity survive, and
// returns once it answers.
//
// The methods that can fail call t.Fatal, so call them from the test's
// goroutine.
package etcdtest
