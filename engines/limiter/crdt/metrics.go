package crdt

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collectors builds the engine's metrics; they read the limiter's counters
// at scrape time, so the decision path never touches Prometheus.
func (l *Limiter) collectors() []prometheus.Collector {
	counter := func(name, help string, labels prometheus.Labels, v func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v()) })
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatelab_crdt_peers",
			Help: "Other cluster members this node currently sees (alive or suspected, not declared dead).",
		}, func() float64 { m, _ := l.Members(); return float64(m - 1) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatelab_crdt_cluster_size",
			Help: "Cluster size N the partition policy compares the visible members with: ExpectedNodes, or the members ever seen (this node included) minus those that left.",
		}, func() float64 { _, n := l.Members(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatelab_crdt_sync_lag_seconds",
			Help: "Upper bound on the age of the oldest local change not yet sent: time since the last sync round if a change is pending, else 0.",
		}, func() float64 { return l.syncLag().Seconds() }),
		counter("gatelab_crdt_merges_rejected_total",
			"Gossiped counter entries not merged, by reason: out_of_window (more than 2 windows behind or 1 ahead of this node's clock), config_mismatch (different algorithm or window for the key).",
			prometheus.Labels{"reason": "out_of_window"}, l.rejectedWindow.Load),
		counter("gatelab_crdt_merges_rejected_total",
			"Gossiped counter entries not merged, by reason: out_of_window (more than 2 windows behind or 1 ahead of this node's clock), config_mismatch (different algorithm or window for the key).",
			prometheus.Labels{"reason": "config_mismatch"}, l.rejectedShape.Load),
		counter("gatelab_crdt_delta_bytes_total",
			"Delta payload bytes handed to the transport (each copy sent to each member counted).",
			nil, l.deltaBytes.Load),
		counter("gatelab_crdt_messages_malformed_total",
			"Gossip messages dropped (in part) because they could not be decoded.",
			nil, l.malformed.Load),
		counter("gatelab_crdt_partitioned_decisions_total",
			"Allow calls made while this node saw fewer members than the cluster size; mode scale decides them with a scaled limit, modes open and closed return no decision (the route's fail mode answers).",
			prometheus.Labels{"mode": l.mode}, l.partitioned.Load),
	}
}

// register adds the metrics to reg, undoing the partial work on failure.
func (c *cluster) register(reg prometheus.Registerer) error {
	cols := c.l.collectors()
	for i, col := range cols {
		if err := reg.Register(col); err != nil {
			for _, done := range cols[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	c.reg, c.collectors = reg, cols
	return nil
}
