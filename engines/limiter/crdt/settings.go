package crdt

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

// Settings are the crdt engine's settings: its config section, limiter.crdt
// (see engines.RegisterLimiter). The -node, -bind and -peers flags of
// gatelab serve override Node, Bind and Peers.
type Settings struct {
	// Node is this node's unique name. Empty: LimiterOptions.Instance (the
	// gateway's instance name), else "crdt-<host>:<port>".
	Node string `yaml:"node"`
	// Bind is the memberlist bind address host:port (host an IP address).
	// Empty: 127.0.0.1:0, an ephemeral loopback port.
	Bind string `yaml:"bind"`
	// Peers are seed peers host:port to join.
	Peers []string `yaml:"peers"`
	// SyncInterval is how often deltas are gossiped; 0: 25 ms.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// ExpectedNodes is the cluster size N used by the partition policy;
	// 0: the largest membership seen.
	ExpectedNodes int `yaml:"expected_nodes"`
	// PartitionMode says what a node does when it sees fewer than N members:
	// "scale" (default: enforce limit x m/N), "open" or "closed" (no
	// decision: the route's fail mode answers).
	PartitionMode string `yaml:"partition_mode"`
}

// Validate checks the settings (config.SectionValidator).
func (s *Settings) Validate() []config.SectionError {
	var errs []config.SectionError
	add := func(path, format string, args ...any) {
		errs = append(errs, config.SectionError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if s.Bind != "" {
		if _, port, err := net.SplitHostPort(s.Bind); err != nil {
			msg := err.Error()
			if ae, ok := err.(*net.AddrError); ok {
				msg = ae.Err
			}
			add("bind", "%q is not host:port: %v", s.Bind, msg)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			add("bind", "%q: port must be a number from 0 to 65535", s.Bind)
		}
	}
	for i, p := range s.Peers {
		if _, _, err := net.SplitHostPort(p); err != nil {
			add(fmt.Sprintf("peers[%d]", i), "%q: want host:port", p)
		}
	}
	if s.SyncInterval < 0 {
		add("sync_interval", "must not be negative")
	}
	if s.ExpectedNodes < 0 {
		add("expected_nodes", "must not be negative")
	}
	switch s.PartitionMode {
	case "", ModeScale, ModeOpen, ModeClosed:
	default:
		add("partition_mode", "%q: want scale, open or closed", s.PartitionMode)
	}
	return errs
}
