package crdt

import (
	"context"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/limiter/limitertest"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// waitFor polls cond every millisecond until it holds or limit passes.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not reached within %v", what, limit)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// startNode starts node i of a test cluster (joining seed unless empty).
func startNode(t testing.TB, i int, seed string, now func() time.Time, opts Settings) *Limiter {
	t.Helper()
	opts.Node = fmt.Sprint("n", i)
	opts.Bind = "127.0.0.1:0"
	if seed != "" {
		opts.Peers = []string{seed}
	}
	l, err := newNode(engines.LimiterOptions{Now: now}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// newCluster starts n nodes in this process, all joining the first, and waits
// until every node sees all n.
func newCluster(t testing.TB, n int, now func() time.Time, opts Settings) []*Limiter {
	t.Helper()
	nodes := []*Limiter{startNode(t, 0, "", now, opts)}
	for i := 1; i < n; i++ {
		nodes = append(nodes, startNode(t, i, nodes[0].Addr(), now, opts))
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("%d nodes see each other", n), func() bool {
		for _, l := range nodes {
			if m, _ := l.Members(); m != n {
				return false
			}
		}
		return true
	})
	return nodes
}

// converged reports whether every node holds the same slots for key's cell
// idx, and returns one node's view.
func converged(nodes []*Limiter, key string, idx int64) (map[string]int64, bool) {
	first := nodes[0].slots(key, idx)
	for _, l := range nodes[1:] {
		if !maps.Equal(first, l.slots(key, idx)) {
			return first, false
		}
	}
	return first, true
}

func sum(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

// offer sends total requests for key spread evenly over the nodes, from
// perNode goroutines on each, paced evenly over period of real time. It
// returns the admissions, and checks that every decision reports limit.
func offer(t *testing.T, nodes []*Limiter, key string, p pipeline.Policy, total int, period time.Duration, limit int64) int64 {
	t.Helper()
	const perNode = 2
	workers := len(nodes) * perNode
	each := total / workers
	var admitted, badLimit atomic.Int64
	var errs atomic.Value
	var wg sync.WaitGroup
	gap := period / time.Duration(each)
	start := time.Now()
	for w := range workers {
		l := nodes[w%len(nodes)]
		wg.Go(func() {
			// Each worker is a client with a think time of gap between its
			// requests, the workers staggered over one gap: together they
			// offer total requests over about period. (A client that falls
			// behind does not catch up in a burst.)
			next := start.Add(gap * time.Duration(w) / time.Duration(workers))
			for range each {
				if d := time.Until(next); d > 0 {
					time.Sleep(d) // load shaping, not synchronisation
				}
				next = time.Now().Add(gap)
				d, err := l.Allow(context.Background(), key, p)
				if err != nil {
					errs.CompareAndSwap(nil, err)
					return
				}
				if d.Limit != limit {
					badLimit.Add(1)
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if err := errs.Load(); err != nil {
		t.Fatalf("Allow: %v", err)
	}
	if n := badLimit.Load(); n > 0 {
		t.Errorf("%d decisions did not report limit %d", n, limit)
	}
	return admitted.Load()
}

// TestAccuracy is the target: one key, limit 200 per 10 s, offered
// 10x the limit spread over 3 or 5 nodes within 1.5 s, must admit between L
// and L+5%. The clock is a fake one shared by the nodes and standing still,
// so the whole load falls in one window (time compressed) while gossip runs
// in real time; the offered rate (about 1300/s) is what makes propagation
// delay matter. Under-admission cannot come from the counters (a node's
// merged view never exceeds the true count, so it admits while the true
// count is below L); the lower bound is L exactly, for every trial.
//
// Over-admission is the traffic admitted elsewhere within the propagation
// delay, which grows when the host is busy: each configuration runs 3
// trials, the median must be within +5% (+25% under the race detector, which
// slows every hop of the gossip path several times), and the table shows the
// range. The "1 loaded" row sends all the load to one node of three. The
// "interval only" rows (1 trial, reported, lower bound asserted) turn off the
// early sync rounds near the limit: deltas only every SyncInterval.
func TestAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time load")
	}
	const (
		limit  = 200
		load   = 10 * limit
		period = 1500 * time.Millisecond
	)
	upper := 1.05
	if raceEnabled {
		upper = 1.25
	}
	clock := limitertest.NewClock(limitertest.Epoch.Add(time.Second))
	clusters := map[int][]*Limiter{
		3: newCluster(t, 3, clock.Now, Settings{ExpectedNodes: 3}),
		5: newCluster(t, 5, clock.Now, Settings{ExpectedNodes: 5}),
	}
	const (
		urgent   = "urgent flush"
		interval = "interval only"
	)
	type row struct {
		nodes  int
		loaded int // nodes receiving the load
		algo   pipeline.LimitAlgorithm
		mode   string
		trials int
	}
	rows := []row{
		{3, 3, pipeline.SlidingWindow, urgent, 3},
		{5, 5, pipeline.SlidingWindow, urgent, 3},
		{3, 3, pipeline.GCRA, urgent, 3},
		{5, 5, pipeline.GCRA, urgent, 3},
		{3, 1, pipeline.SlidingWindow, urgent, 1},
		{3, 3, pipeline.SlidingWindow, interval, 1},
		{5, 5, pipeline.SlidingWindow, interval, 1},
	}
	var report []string
	for i, r := range rows {
		nodes := clusters[r.nodes]
		for _, l := range nodes {
			l.noUrgent.Store(r.mode == interval)
		}
		p := pipeline.Policy{Name: "acc", Limit: limit, Window: 10 * time.Second, Algorithm: r.algo}
		name := "sliding_window"
		if r.algo == pipeline.GCRA {
			name = "gcra"
		}
		var results []int64
		for trial := range r.trials {
			key := fmt.Sprint("accuracy/", i, "/", trial)
			admitted := offer(t, nodes[:r.loaded], key, p, load, period, limit)
			// Every admission is counted exactly once, everywhere.
			idx := windowIdx(nodes[0], p)
			want := admitted
			if r.algo == pipeline.GCRA {
				want = admitted * unitOf(p)
			}
			waitFor(t, 5*time.Second, "counters converge", func() bool {
				slots, ok := converged(nodes, key, idx)
				return ok && sum(slots) == want
			})
			if admitted < limit {
				t.Errorf("%d nodes (%d loaded) %s %s: admitted %d < limit %d", r.nodes, r.loaded, name, r.mode, admitted, limit)
			}
			results = append(results, admitted)
		}
		slices.Sort(results)
		median := results[len(results)/2]
		ratio := float64(median) / limit
		report = append(report, fmt.Sprintf("%5d  %6d  %-14s  %-13s  %7d  %6d  %5.3f  %+6.1f%%  %v",
			r.nodes, r.loaded, name, r.mode, load, median, ratio, 100*(ratio-1), results))
		bound := upper
		if busy := hostBusy(); busy && !raceEnabled {
			// Another process took the CPU during the trials: gossip
			// hops wait for it, so more is admitted before the others
			// hear of it. The tight bound is the lab's (limiter-accuracy
			// scenario); here only a sync that does not work must fail
			// (without it 5 loaded nodes admit up to 5x the limit).
			bound = 1.20
		}
		if r.mode == urgent && float64(median) > bound*limit {
			t.Errorf("%d nodes (%d loaded) %s: median admitted %d > limit + %.0f%% (%v); host load %s",
				r.nodes, r.loaded, name, median, 100*(bound-1), results, hostLoad())
		}
	}
	for _, l := range append(clusters[3], clusters[5]...) {
		l.noUrgent.Store(false)
	}
	t.Logf("accuracy: limit %d per 10s, offered %d over %v by 2 clients per loaded node, SyncInterval %v, race detector %v, host load %s",
		limit, load, period, defaultSyncInterval, raceEnabled, hostLoad())
	t.Logf("nodes  loaded  algorithm       sync           offered  median  ratio     over  trials")
	for _, line := range report {
		t.Log(line)
	}
}

// hostLoad returns the load averages, for the record (empty if unknown).
// hostBusy reports whether the 1-minute load average is above the CPU count.
func hostBusy() bool {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return false
	}
	load, err := strconv.ParseFloat(f[0], 64)
	return err == nil && load > float64(runtime.NumCPU())
}

func hostLoad() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// TestPartition splits 4 nodes 2|2 (scale mode): each side enforces half the
// limit on what it sees; after the heal all nodes hold the same counters
// within 100 ms.
func TestPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time membership")
	}
	const limit = 200
	clock := limitertest.NewClock(limitertest.Epoch.Add(time.Second))
	nodes := newCluster(t, 4, clock.Now, Settings{}) // N: the largest membership seen
	if _, n := nodes[0].Members(); n != 4 {
		t.Fatalf("cluster size %d, want 4", n)
	}
	sides := [][]*Limiter{nodes[:2], nodes[2:]}
	for _, side := range sides {
		addrs := map[string]bool{}
		for _, l := range side {
			addrs[l.Addr()] = true
		}
		for _, l := range side {
			l.SetLinkFilter(func(addr string) bool { return addrs[addr] })
		}
	}
	detect := waitFor(t, 10*time.Second, "each side sees 2 of 4", func() bool {
		for _, l := range nodes {
			if m, n := l.Members(); m != 2 || n != 4 {
				return false
			}
		}
		return true
	})
	t.Logf("partition detected after %v", detect.Round(time.Millisecond))

	p := pipeline.Policy{Name: "part", Limit: limit, Window: 10 * time.Second}
	key := "partition"
	var admitted [2]int64
	for s, side := range sides {
		admitted[s] = offer(t, side, key, p, 4*limit, 500*time.Millisecond, limit/2)
		half := float64(limit) / 2
		t.Logf("side %d admitted %d during the partition (L x 2/4 = %.0f)", s, admitted[s], half)
		if float64(admitted[s]) < half || float64(admitted[s]) > 1.05*half+1 {
			t.Errorf("side %d admitted %d, want about %.0f (within +5%%)", s, admitted[s], half)
		}
	}
	idx := windowIdx(nodes[0], p)
	for s, side := range sides {
		waitFor(t, 5*time.Second, "side converges", func() bool {
			slots, ok := converged(side, key, idx)
			return ok && sum(slots) == admitted[s]
		})
	}

	healed := time.Now()
	for _, l := range nodes {
		l.SetLinkFilter(nil)
	}
	total := admitted[0] + admitted[1]
	conv := waitFor(t, 10*time.Second, "all nodes hold the same counters after the heal", func() bool {
		slots, ok := converged(nodes, key, idx)
		return ok && sum(slots) == total
	})
	t.Logf("counters converged %v after the heal (total %d)", conv.Round(100*time.Microsecond), total)
	if conv >= 100*time.Millisecond {
		t.Errorf("convergence took %v, want < 100ms", conv)
	}
	waitFor(t, 10*time.Second, "membership heals", func() bool {
		for _, l := range nodes {
			if m, _ := l.Members(); m != 4 {
				return false
			}
		}
		return true
	})
	t.Logf("membership back to 4 of 4 within %v of the heal", time.Since(healed).Round(time.Millisecond))
	// Whole again: the full limit applies to the merged count.
	if d := allow(t, nodes[3], key, p); d.Limit != limit || d.Allowed != (total < limit) {
		t.Errorf("after the heal: %+v with %d counted, want limit %d", d, total, limit)
	}
}

// TestJoin: a node joining late gets the full state during its join: as soon
// as New returns, its merged counters equal the others'.
func TestJoin(t *testing.T) {
	clock := limitertest.NewClock(limitertest.Epoch.Add(time.Second))
	nodes := newCluster(t, 3, clock.Now, Settings{})
	sw := pipeline.Policy{Name: "j", Limit: 100, Window: 10 * time.Second}
	g := pipeline.Policy{Name: "jg", Limit: 100, Window: 10 * time.Second, Algorithm: pipeline.GCRA}
	for i, l := range nodes {
		for range 5 + 3*i {
			allow(t, l, "join/sw", sw)
			allow(t, l, "join/gcra", g)
		}
	}
	swIdx, gEpoch := windowIdx(nodes[0], sw), windowIdx(nodes[0], g)
	waitFor(t, 5*time.Second, "the first 3 converge", func() bool {
		a, ok1 := converged(nodes, "join/sw", swIdx)
		b, ok2 := converged(nodes, "join/gcra", gEpoch)
		return ok1 && ok2 && sum(a) == 5+8+11 && sum(b) == (5+8+11)*unitOf(g)
	})

	late := startNode(t, 3, nodes[0].Addr(), clock.Now, Settings{})
	for _, key := range []string{"join/sw", "join/gcra"} {
		want, _, _ := nodes[0].Totals(key)
		got, _, ok := late.Totals(key)
		if !ok || got != want {
			t.Errorf("%s: the late node's merged total is %d right after joining, want %d", key, got, want)
		}
	}
	if got, want := late.slots("join/sw", swIdx), nodes[0].slots("join/sw", swIdx); !maps.Equal(got, want) {
		t.Errorf("late node slots %v, want %v", got, want)
	}
	// It decides on the merged count: 24 of 100 used.
	if d := allow(t, late, "join/sw", sw); !d.Allowed || d.Remaining != 100-24-1 {
		t.Errorf("late node's first decision %+v, want Remaining %d", d, 100-24-1)
	}
}

// TestLeave: a node that closes says bye: the others stop counting it in the
// cluster size instead of scaling down as for a failure.
func TestLeave(t *testing.T) {
	nodes := newCluster(t, 3, nil, Settings{})
	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the others see 2 of 2", func() bool {
		for _, l := range nodes[:2] {
			if m, n := l.Members(); m != 2 || n != 2 {
				return false
			}
		}
		return true
	})
	if err := nodes[2].Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestGossipUnderLoad: several goroutines on every node decide on many keys
// with the real clock while gossip runs (for -race); afterwards every node
// holds the same counters and they add up to the admissions.
func TestGossipUnderLoad(t *testing.T) {
	nodes := newCluster(t, 3, nil, Settings{SyncInterval: 5 * time.Millisecond})
	p := pipeline.Policy{Name: "u", Limit: 1 << 30, Window: time.Hour}
	const keys = 200
	var admitted [keys]atomic.Int64
	var wg sync.WaitGroup
	for _, l := range nodes {
		for w := range 2 {
			wg.Go(func() {
				for i := range 3000 {
					k := (i*7 + w) % keys
					if d, _ := l.Allow(context.Background(), fmt.Sprint("load/", k), p); d.Allowed {
						admitted[k].Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	for k := range keys {
		key := fmt.Sprint("load/", k)
		waitFor(t, 5*time.Second, "converge "+key, func() bool {
			var ok bool
			for _, l := range nodes {
				c, pr, found := l.Totals(key)
				if !found || c+pr != admitted[k].Load() {
					return false
				}
				ok = true
			}
			return ok
		})
	}
	for _, l := range nodes {
		if n := l.malformed.Load() + l.rejectedShape.Load(); n != 0 {
			t.Errorf("%s: %d malformed or mismatched", l.Node(), n)
		}
		checkInvariants(t, l)
	}
}
