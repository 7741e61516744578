// Package redistest gives tests a real Redis server they can also break:
// freeze it, kill it and start it again on the same address.
//
//	r := redistest.Start(t)
//	l, err := redislimiter.New(engines.LimiterOptions{Redis: engines.RedisOptions{URL: r.URL()}})
//	...
//	r.Freeze() // the server stops answering (connections still open)
//	r.Thaw()
//	r.Kill()    // the server is gone: connections are refused
//	r.Restart() // a fresh, empty server on the same URL
//
// # Strategies
//
// Start picks, in this order:
//
//  1. "testcontainers": if the Docker daemon is reachable (testcontainers-go's
//     provider health check), a container from testcontainers-go's Redis
//     module. The image is $GATELAB_REDIS_IMAGE (default "redis:7.2") when it
//     is present locally or can be pulled. Otherwise the package uses (and,
//     the first time on a machine, builds) LocalImage, "gatelab-redis:local":
//     a root filesystem made in Go from the host's own /usr/bin/redis-server
//     and every shared library `ldd` lists for it (plus the dynamic loader, a
//     minimal /etc/passwd and /etc/group, and /tmp), imported through the
//     Docker API as `docker import` would, with ENTRYPOINT
//     ["/usr/bin/redis-server"] and EXPOSE 6379. Once LocalImage exists no
//     pull is attempted any more; delete it (docker rmi gatelab-redis:local)
//     to try the registry again. Test binaries running at once take a lock
//     file in the temporary directory so that only one of them builds it.
//     The server always runs as
//     `redis-server --port 6379 --protected-mode no --save "" --appendonly no`.
//     The container's port 6379 is published on 127.0.0.1 at a host port
//     chosen here (a free port below the kernel's ephemeral range) and fixed in
//     the container's port binding, so Restart (docker start of the same
//     container) serves the same URL; testcontainers' usual random port would
//     change on restart. The Ryuk reaper is disabled
//     (TESTCONTAINERS_RYUK_DISABLED=true unless already set), since its image
//     cannot be pulled without a registry: containers are removed by the test's
//     cleanup, and containers this package left behind (labelled with the
//     creating process's host name and pid) are removed by the next run once
//     that process is gone.
//  2. "local-process": otherwise, if redis-server is on PATH, a child process
//     listening on 127.0.0.1 at a free port, with --save "" --appendonly no
//     --protected-mode no and a temporary --dir. It is killed if the test
//     binary dies (Linux parent-death signal).
//  3. Otherwise the test is skipped with a loud message, or fails if
//     GATELAB_REQUIRE_REDIS=1.
//
// GATELAB_REDIS_MODE=process or =docker forces a strategy (an unavailable
// forced strategy skips or, with GATELAB_REQUIRE_REDIS=1, fails). When Docker
// is reachable but the container cannot be started, Start fails the test
// rather than quietly falling back: set GATELAB_REDIS_MODE=process to use the
// local binary instead. StartProcess and StartDocker force a strategy from
// code; ProcessAvailable and DockerAvailable tell whether one can run.
//
// # Operations
//
// Freeze suspends the server (docker pause, or SIGSTOP): TCP connections are
// still accepted (by the kernel or Docker's port proxy) but nothing is
// answered. Thaw resumes it (docker unpause, SIGCONT). Kill stops it at once
// (SIGKILL; a frozen server is thawed first for Docker, which cannot kill a
// paused container): connections are refused. Restart starts it again on the
// same address, empty (nothing is persisted), and returns once it answers
// PING; if the server was running it is killed first. Everything is torn down
// when the test ends.
//
// Readiness is a signal, never a fixed sleep: for a new container the
// module's "* Ready to accept connections" log-line wait (Debian's redis 7
// prints that line too) followed by a PING on the published address; the
// same log line on the child's output for a new process; a PING loop with a
// bounded deadline after a restart. The module's other wait, on the
// published port, is dropped: testcontainers probes it at the address it
// infers for the daemon, which inside a container is the bridge gateway,
// while the port is published on 127.0.0.1 only. The Docker strategy
// therefore needs the daemon on this machine (a local socket).
//
// The methods that can fail call t.Fatal, so call them from the test's
// goroutine. A Redis is not safe for concurrent use by several goroutines,
// except URL, Addr and Kind.
package redistest
