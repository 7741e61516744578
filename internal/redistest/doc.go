// Package redistest gives tests a real Redis server they can also break:
// freeze it, kill it and start it again on the same address.
//
//	r := redistest.Start(t)
//	l, err := redislimiter.New(engines.LimiterOptions{}, redislimiter.Settings{URL: r.URL()})
//	...
//	r.Freeze() // the server stops answering (connections still open)
//	r.Thaw()
//	r.Kill()    // the server is gone: connections are refused
//	r.Restart() // a fresh, empty server on the same URL
//
// It is a thin testing.TB wrapper over harness/deps, which the lab uses
// too: the strategies (a testcontainers container from $GATELAB_REDIS_IMAGE,
// default redis:7.2, or from the image built locally from the host's
// redis-server when no registry is reachable; else a redis-server process
// through harness/fleet), the fixed published port that survives Restart,
// the disabled Ryuk reaper, the removal of containers left behind by dead
// test processes and the machine-wide lock around image builds are
// described there.
//
// What this package adds: when no strategy can run (deps.ErrUnavailable)
// the test is skipped with a loud message, or fails if
// GATELAB_REQUIRE_REDIS=1 (CI sets it); any other start error fails the
// test. GATELAB_REDIS_MODE=process or =docker forces a strategy, and
// StartProcess and StartDocker force one from code; ProcessAvailable and
// DockerAvailable tell whether one can run. Everything is torn down when the
// test ends, and the server's output goes to the test log if it failed.
//
// StartCluster and StartSentinel run Redis Cluster and Sentinel topologies
// as local processes (through harness/fleet) whatever the mode, since their
// nodes announce their own addresses to clients.
//
// The methods that can fail call t.Fatal, so call them from the test's
// goroutine.
package redistest
