package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/harness/deps"
)

// clusterTimeout bounds `redis-cli --cluster create` and the wait for every
// node to report cluster_state:ok.
const clusterTimeout = 30 * time.Second

// Cluster is a Redis Cluster of local redis-server processes, masters only,
// owned by one test.
type Cluster struct {
	nodes []*node
}

// StartCluster starts masters (at least 3, as redis-cli requires) redis-server
// processes in cluster mode on free loopback ports, each with its own
// directory and nodes file, no persistence and its cluster bus on a free port
// of its own, joins them with `redis-cli --cluster create --cluster-replicas 0`
// (slots split evenly) and returns once every node reports cluster_state:ok,
// all 16384 slots and all masters. The processes are killed when the test
// ends. Without redis-server or redis-cli the test is skipped, or fails under
// GATELAB_REQUIRE_REDIS=1.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("redistest: StartCluster(%d): a cluster needs at least 3 masters", masters)
	}
	server, cli := topologyBins(t)
	c := &Cluster{}
	for range masters {
		c.nodes = append(c.nodes, startNode(t, server, readyServer, 2, func(ports []int, dir string) ([]string, error) {
			return append(deps.RedisServerArgs(ports[0], dir),
				"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(ports[1]),
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", "5000"), nil
		}))
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	err = poll(clusterTimeout, func() error {
		for _, a := range c.Addrs() {
			info, err := commandString(a, time.Second, "CLUSTER", "INFO")
			if err != nil {
				return fmt.Errorf("CLUSTER INFO on %s: %w", a, err)
			}
			if s, n, k := infoField(info, "cluster_state"), infoField(info, "cluster_slots_ok"),
				infoField(info, "cluster_known_nodes"); s != "ok" || n != "16384" || k != strconv.Itoa(masters) {
				return fmt.Errorf("%s: cluster_state:%s cluster_slots_ok:%s cluster_known_nodes:%s", a, s, n, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: cluster not ready: %v\nredis-cli said:\n%s", err, out)
	}
	return c
}

// URL is the cluster's go-redis URL, as the redis limiter takes it: the
// first node as host, every other one as an addr parameter,
// redis://127.0.0.1:P1?addr=127.0.0.1:P2&addr=127.0.0.1:P3.
func (c *Cluster) URL() string {
	a := c.Addrs()
	return "redis://" + a[0] + "?addr=" + strings.Join(a[1:], "&addr=")
}

// Addrs are the nodes' host:port, in start order.
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.nodes))
	for i, p := range c.nodes {
		a[i] = p.addr()
	}
	return a
}
