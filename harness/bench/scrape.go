package bench

import (
	"bufio"
	"context"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatelab/gatelab/reports"
)

// limiterMetric is the gateway's limiter decision latency histogram.
const limiterMetric = "gatelab_ratelimit_decision_seconds"

// histSnap is a cumulative Prometheus histogram at one instant, summed
// over its label sets.
type histSnap struct {
	les    []float64 // upper bounds, ascending (+Inf last)
	counts []float64 // cumulative counts
	sum    float64
	count  float64
}

var scrapeClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}

// scrapeMetrics reads every node's /metrics once and hands each sample
// line to fn as name, labels (the text between the braces) and value. It
// reports false when a node could not be read.
func scrapeMetrics(ctx context.Context, admins []string, fn func(name, labels string, v float64)) bool {
	for _, a := range admins {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a+"/metrics", nil)
		if err != nil {
			return false
		}
		resp, err := scrapeClient.Do(req)
		if err != nil {
			return false
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			sp := strings.LastIndexByte(line, ' ')
			if sp < 0 || strings.HasPrefix(line, "#") {
				continue
			}
			v, err := strconv.ParseFloat(line[sp+1:], 64)
			if err != nil {
				continue
			}
			name, labels := line[:sp], ""
			if b := strings.IndexByte(name, '{'); b >= 0 && strings.HasSuffix(name, "}") {
				name, labels = name[:b], name[b+1:len(name)-1]
			}
			fn(name, labels, v)
		}
		resp.Body.Close()
	}
	return true
}

// rejectionsMetric counts the gateway's own error answers by route and
// reason (circuit_open, upstream_timeout, no_healthy_backend, ...).
const rejectionsMetric = "gatelab_rejections_total"

// scrapeEdge takes one snapshot of every node: the limiter histogram
// (summed over its label sets) and the rejection counters per label set.
func scrapeEdge(ctx context.Context, admins []string) (histSnap, bool, map[string]float64, bool) {
	acc := map[float64]float64{}
	var snap histSnap
	rej := map[string]float64{}
	ok := scrapeMetrics(ctx, admins, func(name, labels string, v float64) {
		switch name {
		case limiterMetric + "_bucket":
			i := strings.Index(labels, `le="`)
			if i < 0 {
				return
			}
			j := strings.IndexByte(labels[i+4:], '"')
			if le, err := strconv.ParseFloat(labels[i+4:i+4+j], 64); err == nil {
				acc[le] += v
			}
		case limiterMetric + "_sum":
			snap.sum += v
		case limiterMetric + "_count":
			snap.count += v
		case rejectionsMetric:
			rej[labels] += v
		}
	})
	if !ok {
		return histSnap{}, false, nil, false
	}
	for le := range acc {
		snap.les = append(snap.les, le)
	}
	sort.Float64s(snap.les)
	for _, le := range snap.les {
		snap.counts = append(snap.counts, acc[le])
	}
	return snap, len(acc) > 0, rej, true
}

// scrapeEdges snapshots the limiter histogram at the measured window's
// start and end and at every phase edge, as the clock passes them.
func (tr *trial) scrapeEdges(ctx context.Context, start time.Time, admins []string, total time.Duration) {
	type edge struct {
		at  time.Duration
		key string
	}
	edges := []edge{{tr.warmup, "from:"}}
	for _, w := range tr.windows {
		edges = append(edges, edge{w.From, "from:" + w.Name}, edge{w.To, "to:" + w.Name})
	}
	edges = append(edges, edge{total, "to:"})
	sort.SliceStable(edges, func(i, j int) bool { return edges[i].at < edges[j].at })
	snaps := map[string]histSnap{}
	rejs := map[string]map[string]float64{}
	for i := 0; i < len(edges); {
		at := edges[i].at
		if d := time.Until(start.Add(at)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		// The last edge is taken even after the load's context ended.
		sctx := ctx
		if at == total {
			var cancel context.CancelFunc
			sctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
		} else if ctx.Err() != nil {
			i++
			continue
		}
		s, ok, rej, rok := scrapeEdge(sctx, admins)
		for ; i < len(edges) && edges[i].at == at; i++ {
			if ok {
				snaps[edges[i].key] = s
			}
			if rok {
				rejs[edges[i].key] = rej
			}
		}
	}
	tr.limiter = snaps
	tr.rejections = rejs
}

// rejectionsIn is what the gateway rejected, by route and reason, between
// a phase's edges ("" = the measured window).
func (tr *trial) rejectionsIn(phase string) map[string]int64 {
	a, ok1 := tr.rejections["from:"+phase]
	b, ok2 := tr.rejections["to:"+phase]
	if !ok1 || !ok2 {
		return nil
	}
	out := map[string]int64{}
	for k, v := range b {
		if d := int64(v - a[k]); d > 0 {
			out[k] = d
		}
	}
	return out
}

// delta is the histogram of what happened between two snapshots.
func delta(a, b histSnap) histSnap {
	d := histSnap{les: b.les, sum: b.sum - a.sum, count: b.count - a.count}
	for i, le := range b.les {
		prev := 0.0
		for j, ale := range a.les {
			if ale == le {
				prev = a.counts[j]
			}
		}
		d.counts = append(d.counts, b.counts[i]-prev)
	}
	return d
}

// quantile interpolates linearly inside the bucket holding the q-th
// percentile; q >= 100 gives the upper bound of the last non-empty bucket,
// q < 0 the mean. In seconds.
func (h histSnap) quantile(q float64) (float64, bool) {
	if h.count <= 0 || len(h.les) == 0 {
		return 0, false
	}
	if q < 0 {
		return h.sum / h.count, true
	}
	rank := q / 100 * h.count
	lo, prev := 0.0, 0.0
	for i, le := range h.les {
		c := h.counts[i]
		if c >= rank && c > prev {
			if math.IsInf(le, 1) {
				return lo, true // beyond the last bound: report the bound
			}
			if q >= 100 {
				return le, true
			}
			return lo + (le-lo)*(rank-prev)/(c-prev), true
		}
		if !math.IsInf(le, 1) {
			lo = le
		}
		prev = c
	}
	return lo, true
}

// limiterQuantile is the decision latency stat in a phase ("" = measured
// window), in seconds.
func (tr *trial) limiterQuantile(phase string, q float64) (float64, bool) {
	a, ok1 := tr.limiter["from:"+phase]
	b, ok2 := tr.limiter["to:"+phase]
	if !ok1 || !ok2 {
		return 0, false
	}
	return delta(a, b).quantile(q)
}

func (tr *trial) limiterQuantiles(phase string) (reports.Quantiles, bool) {
	var out reports.Quantiles
	for _, x := range []struct {
		q   float64
		dst *float64
	}{{50, &out.P50}, {90, &out.P90}, {99, &out.P99}, {99.9, &out.P999}, {99.99, &out.P9999}, {100, &out.Max}, {-1, &out.Mean}} {
		v, ok := tr.limiterQuantile(phase, x.q)
		if !ok {
			return out, false
		}
		*x.dst = v * 1e6
	}
	return out, true
}
