package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Environment variables.
const (
	// EnvMode forces a strategy: "process" or "docker".
	EnvMode = "GATELAB_REDIS_MODE"
	// EnvRequire=1 turns "no Redis available" from a skip into a failure.
	EnvRequire = "GATELAB_REQUIRE_REDIS"
	// EnvImage names the Redis image of the Docker strategy.
	EnvImage = "GATELAB_REDIS_IMAGE"
)

// DefaultImage is the Docker strategy's image unless EnvImage says otherwise.
const DefaultImage = "redis:7.2"

// LocalImage is the image built from the host's redis-server when the
// configured image is neither present nor pullable.
const LocalImage = "gatelab-redis:local"

// The values Kind returns.
const (
	KindTestcontainers = "testcontainers"
	KindLocalProcess   = "local-process"
)

// Timeouts of the readiness waits.
const (
	startTimeout = 60 * time.Second // a new container or process answers
	readyTimeout = 15 * time.Second // a restarted server answers PING
)

// serverArgs are the server's options besides --port.
var serverArgs = []string{"--protected-mode", "no", "--save", "", "--appendonly", "no"}

// Redis is a running Redis server owned by one test.
type Redis struct {
	t      testing.TB
	kind   string
	port   int
	frozen bool
	killed bool
	b      backend
}

// backend is what a strategy implements.
type backend interface {
	freeze() error
	thaw() error
	kill() error    // stop hard; the server must not answer afterwards
	restart() error // start again on the same port (after kill)
	close() error
	logs() string // recent server output, for failure reports
}

// Start returns a running Redis for t using the first available strategy
// (see the package documentation). It is stopped when the test ends.
func Start(t testing.TB) *Redis {
	t.Helper()
	switch mode := os.Getenv(EnvMode); mode {
	case "process":
		return StartProcess(t)
	case "docker":
		return StartDocker(t)
	case "":
	default:
		t.Fatalf("redistest: %s=%q: want \"process\", \"docker\" or unset", EnvMode, mode)
	}
	dockerErr := DockerAvailable()
	if dockerErr == nil {
		return startDocker(t)
	}
	bin, err := ProcessAvailable()
	if err != nil {
		unavailable(t, fmt.Sprintf("Docker not reachable (%v) and %v", dockerErr, err))
	}
	t.Logf("redistest: Docker not reachable (%v); using local %s", dockerErr, bin)
	return startProcess(t, bin)
}

// StartProcess returns a Redis run as a local redis-server process.
func StartProcess(t testing.TB) *Redis {
	t.Helper()
	bin, err := ProcessAvailable()
	if err != nil {
		unavailable(t, err.Error())
	}
	return startProcess(t, bin)
}

// StartDocker returns a Redis run in a container by testcontainers-go.
func StartDocker(t testing.TB) *Redis {
	t.Helper()
	if err := DockerAvailable(); err != nil {
		unavailable(t, fmt.Sprintf("Docker not reachable: %v", err))
	}
	return startDocker(t)
}

// unavailable skips t, or fails it when EnvRequire is 1.
func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := "redistest: NO REDIS AVAILABLE, test not run: " + why +
		" (install redis-server or start Docker; " + EnvRequire + "=1 makes this a failure)"
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// URL is the server's go-redis URL, redis://127.0.0.1:PORT/0. It does not
// change across Restart.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Addr is the server's host:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Kind is the strategy: KindTestcontainers or KindLocalProcess.
func (r *Redis) Kind() string { return r.kind }

// Ping sends one PING on a new connection and waits at most timeout (dial
// included) for PONG.
func (r *Redis) Ping(timeout time.Duration) error { return ping(r.Addr(), timeout) }

// Freeze suspends the server: it stops answering but keeps its state.
func (r *Redis) Freeze() {
	r.t.Helper()
	if r.killed {
		r.t.Fatal("redistest: Freeze of a killed server")
	}
	if r.frozen {
		return
	}
	if err := r.b.freeze(); err != nil {
		r.t.Fatalf("redistest: freeze: %v", err)
	}
	r.frozen = true
}

// Thaw resumes a frozen server.
func (r *Redis) Thaw() {
	r.t.Helper()
	if !r.frozen {
		return
	}
	if err := r.b.thaw(); err != nil {
		r.t.Fatalf("redistest: thaw: %v", err)
	}
	r.frozen = false
}

// Kill stops the server at once; connections to it are refused afterwards.
func (r *Redis) Kill() {
	r.t.Helper()
	if r.killed {
		return
	}
	if err := r.b.kill(); err != nil {
		r.t.Fatalf("redistest: kill: %v", err)
	}
	r.frozen, r.killed = false, true
}

// Restart starts the server again on the same address (killing it first if
// it runs) and returns once it answers PING. The new server is empty.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	if err := r.b.restart(); err != nil {
		r.t.Fatalf("redistest: restart: %v\n%s", err, r.b.logs())
	}
	r.killed = false
	if err := waitPing(r.Addr(), readyTimeout); err != nil {
		r.t.Fatalf("redistest: restarted server does not answer: %v\n%s", err, r.b.logs())
	}
}

func (r *Redis) cleanup() {
	if r.t.Failed() {
		if l := r.b.logs(); l != "" {
			r.t.Logf("redistest: %s server output:\n%s", r.kind, l)
		}
	}
	if err := r.b.close(); err != nil {
		r.t.Errorf("redistest: stopping the server: %v", err)
	}
}

// ping sends PING on a new connection and expects +PONG, all within timeout.
func ping(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// waitPing retries ping until it succeeds or within expires.
func waitPing(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = ping(addr, 250*time.Millisecond); err == nil {
			return nil
		}
		// Connection refused returns at once: pace the loop a little.
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("no PONG from %s within %v: %w", addr, within, err)
}
