package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gatelab/gatelab/harness/deps"
	"github.com/gatelab/gatelab/harness/fleet"
)

// Output lines that tell a starting server is up. Sentinel mode never prints
// the data server's line; it prints its +monitor event once it listens.
var (
	readyServer   = deps.RedisReady
	readySentinel = regexp.MustCompile(`\+monitor master`)
)

// nodeStartTimeout bounds a node's start (its ready line).
const nodeStartTimeout = 60 * time.Second

// node is one server process of a cluster or sentinel setup.
type node struct {
	p    *fleet.Proc
	port int // client port
}

func (n *node) addr() string { return net127(n.port) }

func net127(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// cliAvailable returns the redis-cli binary, or why there is none.
func cliAvailable() (string, error) {
	bin, err := exec.LookPath("redis-cli")
	if err != nil {
		return "", fmt.Errorf("no redis-cli on PATH: %w", err)
	}
	return bin, nil
}

// topologyBins returns redis-server and redis-cli, or skips t (fails it under
// EnvRequire=1) when either is missing. Clusters and sentinels always run as
// local processes, whatever EnvMode says: they announce their own addresses
// to clients, which a container's published ports would not match.
func topologyBins(t testing.TB) (server, cli string) {
	t.Helper()
	server, err := ProcessAvailable()
	if err == nil {
		cli, err = cliAvailable()
	}
	if err != nil {
		unavailable(t, err.Error()+" (clusters and sentinels need local redis-server and redis-cli)")
	}
	return server, cli
}

// startNode starts one server process for t through harness/fleet, on
// nports free ports (the first is its client port), killed when t ends.
// args builds the command line from the ports and the node's own directory;
// the server's output must match ready once it serves, and it must then
// answer PING. A port taken between the pick and the bind is retried with
// others.
func startNode(t testing.TB, bin string, ready *regexp.Regexp, nports int, args func(ports []int, dir string) ([]string, error)) *node {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), nodeStartTimeout+10*time.Second)
	defer cancel()
	spec := fleet.Spec{Name: "redis-server", Path: bin, Dir: dir, Ready: ready, ReadyTimeout: nodeStartTimeout}
	p, ports, err := deps.StartOnFreePorts(ctx, spec, nports, func(ports []int) ([]string, error) { return args(ports, dir) })
	if err != nil {
		t.Fatalf("redistest: starting %s: %v", bin, err)
	}
	n := &node{p: p, port: ports[0]}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("redistest: output of the server on port %d:\n%s", n.port, p.Output())
		}
		if err := p.Kill(); err != nil {
			t.Errorf("redistest: stopping the server on port %d: %v", n.port, err)
		}
	})
	if err := ping(n.addr(), 5*time.Second); err != nil {
		t.Fatalf("redistest: the server on port %d printed its ready line but: %v\n%s", n.port, err, p.Output())
	}
	return n
}

// ping sends PING and expects PONG, all within timeout.
func ping(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return deps.RedisPing(ctx, addr)
}

// command sends one command on a new connection and returns its reply,
// all within timeout (see deps.RedisDo).
func command(addr string, timeout time.Duration, args ...string) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return deps.RedisDo(ctx, addr, args...)
}

// commandString is command for a reply that is a string.
func commandString(addr string, timeout time.Duration, args ...string) (string, error) {
	v, err := command(addr, timeout, args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: reply %v is not a string", args[0], v)
	}
	return s, nil
}

// infoField returns field's value in an INFO or CLUSTER INFO text.
func infoField(info, field string) string { return deps.InfoField(info, field) }

// poll calls cond until it returns nil or within has passed, and returns
// its last error. Failures come back at once (refused connections, a
// state not reached yet): the loop is paced by a short pause.
func poll(within time.Duration, cond func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v: %w", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
