package deps

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatelab/gatelab/harness/fleet"
)

// StartOnFreePorts starts spec through fleet on nports distinct free
// loopback ports, retrying (5 times at most) with new ports when one was
// taken between the pick and the bind: args gets the ports and returns the
// arguments. It returns the process and its ports. A retry needs the start
// error (which carries the output's tail) to say "in use", as redis-server
// and etcd do ("Address already in use"); ready lines (Spec.Ready) tell
// that the bind succeeded.
func StartOnFreePorts(ctx context.Context, spec fleet.Spec, nports int, args func(ports []int) ([]string, error)) (*fleet.Proc, []int, error) {
	var err error
	for range 5 {
		var ports []int
		if ports, err = FreePorts(nports); err != nil {
			break
		}
		s := spec
		if s.Args, err = args(ports); err != nil {
			break
		}
		var p *fleet.Proc
		if p, err = fleet.Start(ctx, s); err == nil {
			return p, ports, nil
		}
		if !strings.Contains(strings.ToLower(err.Error()), "in use") || ctx.Err() != nil {
			break
		}
	}
	return nil, nil, err
}

// FreePorts returns n distinct free loopback ports (see fleet.FreePort).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 10*n {
			return nil, fmt.Errorf("finding %d distinct free ports: too many collisions", n)
		}
		p, err := fleet.FreePort()
		if err != nil {
			return nil, err
		}
		dup := false
		for _, q := range ports {
			dup = dup || q == p
		}
		if !dup {
			ports = append(ports, p)
		}
	}
	return ports, nil
}
