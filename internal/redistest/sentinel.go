package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gatelab/gatelab/harness/deps"
)

// SentinelMaster is the master name a Sentinel monitors.
const SentinelMaster = "gatelab"

// Sentinel settings: a master is down after half a second without answers,
// and one sentinel is a quorum, so a failover starts within about a second.
const (
	sentinelDownAfter       = 500 * time.Millisecond
	sentinelFailoverTimeout = 3 * time.Second
	sentinelReadyTimeout    = 30 * time.Second
)

// Sentinel is a master, one replica of it and one Redis Sentinel watching
// them, all local processes owned by one test.
type Sentinel struct {
	t        testing.TB
	data     []*node // the first master, then its replica
	sentinel *node
}

// StartSentinel starts a master, a replica of it and a sentinel monitoring
// it as SentinelMaster with quorum 1, down-after-milliseconds 500 and
// failover-timeout 3000 (`redis-server <conf> --sentinel`), and returns once
// the replica is in sync and the sentinel lists it as a healthy replica (so a
// failover can promote it). Replication is asynchronous (and a replica's
// first writes may wait up to a second for its first ACK): a test that needs
// a write on the replica before KillMaster polls the replica for it.
// Everything is killed when the test ends. Without
// redis-server or redis-cli the test is skipped, or fails under
// GATELAB_REQUIRE_REDIS=1.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	server, _ := topologyBins(t)
	s := &Sentinel{t: t}
	data := func(extra ...string) func([]int, string) ([]string, error) {
		return func(ports []int, dir string) ([]string, error) {
			// A replica's first sync would wait 5s for more replicas.
			a := append(deps.RedisServerArgs(ports[0], dir), "--repl-diskless-sync-delay", "0")
			return append(a, extra...), nil
		}
	}
	master := startNode(t, server, readyServer, 1, data())
	replica := startNode(t, server, readyServer, 1, data("--replicaof", "127.0.0.1", strconv.Itoa(master.port)))
	s.data = []*node{master, replica}
	err := poll(sentinelReadyTimeout, func() error {
		info, err := commandString(net127(replica.port), time.Second, "INFO", "replication")
		if err != nil {
			return err
		}
		if st := infoField(info, "master_link_status"); st != "up" {
			return fmt.Errorf("replica master_link_status:%s", st)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: replica not in sync: %v", err)
	}

	s.sentinel = startNode(t, server, readySentinel, 1, func(ports []int, dir string) ([]string, error) {
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf(`port %d
bind 127.0.0.1
protected-mode no
daemonize no
logfile ""
dir %q
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %[3]s %[5]d
sentinel failover-timeout %[3]s %[6]d
`, ports[0], dir, SentinelMaster, master.port, sentinelDownAfter.Milliseconds(), sentinelFailoverTimeout.Milliseconds())
		// The sentinel rewrites its configuration: it must be writable.
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, err
		}
		return []string{conf, "--sentinel"}, nil
	})
	err = poll(sentinelReadyTimeout, func() error {
		v, err := command(s.Addr(), time.Second, "SENTINEL", "REPLICAS", SentinelMaster)
		if err != nil {
			return err
		}
		rs, _ := v.([]any)
		if len(rs) != 1 {
			return fmt.Errorf("sentinel knows %d replicas, want 1", len(rs))
		}
		f := fields(rs[0])
		if f["flags"] != "slave" || f["master-link-status"] != "ok" || f["port"] != strconv.Itoa(replica.port) {
			return fmt.Errorf("sentinel's replica: flags=%s master-link-status=%s port=%s",
				f["flags"], f["master-link-status"], f["port"])
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: sentinel not ready: %v", err)
	}
	return s
}

// fields turns a flat [name, value, ...] reply into a map.
func fields(v any) map[string]string {
	a, _ := v.([]any)
	m := make(map[string]string, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		k, _ := a[i].(string)
		m[k], _ = a[i+1].(string)
	}
	return m
}

// URL is the go-redis URL of the sentinel form the redis limiter takes:
// redis://127.0.0.1:SENTINELPORT/0?master_name=gatelab.
func (s *Sentinel) URL() string {
	return "redis://" + s.Addr() + "/0?master_name=" + SentinelMaster
}

// Addr is the sentinel's host:port.
func (s *Sentinel) Addr() string { return net127(s.sentinel.port) }

// DataAddrs are the first master's and the replica's host:port.
func (s *Sentinel) DataAddrs() []string {
	return []string{net127(s.data[0].port), net127(s.data[1].port)}
}

// MasterAddr is the master's host:port as the sentinel reports it now.
func (s *Sentinel) MasterAddr() string {
	s.t.Helper()
	a, err := s.masterAddr()
	if err != nil {
		s.t.Fatalf("redistest: SENTINEL GET-MASTER-ADDR-BY-NAME: %v", err)
	}
	return a
}

func (s *Sentinel) masterAddr() (string, error) {
	v, err := command(s.Addr(), time.Second, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster)
	if err != nil {
		return "", err
	}
	a, _ := v.([]any)
	if len(a) != 2 {
		return "", fmt.Errorf("reply %v", v)
	}
	host, _ := a[0].(string)
	port, _ := a[1].(string)
	return host + ":" + port, nil
}

// KillMaster kills (SIGKILL) the server the sentinel reports as the master
// and returns its address. The sentinel then promotes the replica.
func (s *Sentinel) KillMaster() string {
	s.t.Helper()
	addr := s.MasterAddr()
	for _, p := range s.data {
		if p.addr() == addr {
			if err := p.p.Kill(); err != nil {
				s.t.Fatalf("redistest: killing the master %s: %v", addr, err)
			}
			return addr
		}
	}
	s.t.Fatalf("redistest: the sentinel's master %s is none of %v", addr, s.DataAddrs())
	return ""
}

// WaitFailover waits (at most within) until the sentinel reports a master
// other than old that says it is a master, and returns its address.
func (s *Sentinel) WaitFailover(old string, within time.Duration) string {
	s.t.Helper()
	var addr string
	err := poll(within, func() error {
		var err error
		if addr, err = s.masterAddr(); err != nil {
			return err
		}
		if addr == old {
			return fmt.Errorf("sentinel still reports %s", old)
		}
		info, err := commandString(addr, time.Second, "INFO", "replication")
		if err != nil {
			return err
		}
		if r := infoField(info, "role"); r != "master" {
			return fmt.Errorf("%s has role %s", addr, r)
		}
		return nil
	})
	if err != nil {
		s.t.Fatalf("redistest: no failover: %v", err)
	}
	return addr
}
