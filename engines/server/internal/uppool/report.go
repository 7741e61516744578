package uppool

import (
	"sync"

	"github.com/gatelab/gatelab/gateway/observe"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// Conns is the number of connections open to the upstream: idle and in
// use, not counting dials in progress.
func (p *Pool) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open - p.dialing
}

// OpenConns is the source of gatelab_upstream_open_connections for an
// engine that keeps its pools in pools (host:port -> *Pool): at each
// scrape it reports, for every backend of g's served snapshot, the
// connections open in the pools of the backend's instances (0 before any
// was dialed). Pools are per host:port, so two backends listing the same
// host:port share one pool and each reports all of its connections; the
// pool of an instance a reload removed is no longer reported. Runs at
// scrape time only: one lock per pool, nothing on the request path.
func OpenConns(g *pipeline.Gateway, pools *sync.Map) observe.UpstreamConnsFunc {
	return func(report func(backend string, open int)) {
		s := g.Snapshot()
		if s == nil {
			return
		}
		for name, b := range s.Backends {
			open := 0
			seen := make(map[string]bool, len(b.R.Instances()))
			for _, in := range b.R.Instances() {
				if seen[in.Host] {
					continue
				}
				seen[in.Host] = true
				if p, ok := pools.Load(in.Host); ok {
					open += p.(*Pool).Conns()
				}
			}
			report(name, open)
		}
	}
}

// Hosts is the host:port of every instance of every backend of s: the
// pools s may use.
func Hosts(s *pipeline.Snapshot) map[string]bool {
	hosts := map[string]bool{}
	for _, b := range s.Backends {
		for _, in := range b.R.Instances() {
			hosts[in.Host] = true
		}
	}
	return hosts
}

// Retire closes and forgets every pool in pools (host:port -> *Pool)
// whose host is not in keep: the idle connections of an instance a reload
// removed are closed at once instead of staying open until the upstream
// times them out. A request still running on the previous snapshot keeps
// the connection it holds (dropped, not pooled, when it is done); one that
// starts on it afterwards gets a new pool, retired by the next reload.
func Retire(pools *sync.Map, keep map[string]bool) {
	pools.Range(func(k, v any) bool {
		if !keep[k.(string)] {
			pools.Delete(k)
			v.(*Pool).Close()
		}
		return true
	})
}

// RetireOnApply makes g retire, after every reload, the pools in pools
// that its new snapshot no longer names.
func RetireOnApply(g *pipeline.Gateway, pools *sync.Map) {
	g.OnApply(func(s *pipeline.Snapshot) { Retire(pools, Hosts(s)) })
}
