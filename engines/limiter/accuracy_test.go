package limiter_test

// The accuracy table: several gateway nodes (limiter instances) in one
// process fire concurrent requests at ONE key at ten times its limit, and the
// table reports admitted / limit per engine and node count. Run it with
//
//	go test -v -run TestAccuracy ./engines/limiter/
//
// Targets (issue 3): redis never admits more than the limit (0 % over);
// local is exact per node (N nodes admit N x limit, divided mode ~limit);
// crdt within +5 % of the limit with 3 and 5 nodes for windows >= 10 s.

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatelab/gatelab/engines"
	_ "github.com/gatelab/gatelab/engines/all"
	"github.com/gatelab/gatelab/engines/limiter/crdt"
	redislimiter "github.com/gatelab/gatelab/engines/limiter/redis"
	"github.com/gatelab/gatelab/gateway/pipeline"
	"github.com/gatelab/gatelab/internal/redistest"
)

const (
	accLimit  = 200
	accWindow = 10 * time.Second
	accOffer  = 10 * accLimit // total requests offered across all nodes
	// accSpread is how long the offered load is spread over. A replicated
	// counter cannot bound a burst shorter than its propagation delay (all
	// nodes would admit the full limit before hearing of each other), so the
	// load is paced, as real traffic is: 2000 requests over 1.5 s.
	accSpread = 1500 * time.Millisecond
)

type row struct {
	engine   string
	mode     string
	nodes    int
	want     string
	admitted int64
	perNode  []int64
	verdict  bool
}

// offer fires accOffer requests at one key, spread evenly over the nodes
// and paced evenly over accSpread, from 4 goroutines per node, and returns
// what each node admitted.
func offer(t *testing.T, nodes []pipeline.Limiter, key string) []int64 {
	t.Helper()
	// Keep the run inside one fixed window: across a boundary the
	// sliding-window counter's own approximation (it assumes the previous
	// window's requests were spread evenly) would admit extra requests on
	// every engine alike, which is not what this table measures.
	if rem := accWindow - time.Duration(time.Now().UnixNano()%int64(accWindow)); rem < accSpread+time.Second {
		time.Sleep(rem + 50*time.Millisecond)
	}
	p := pipeline.Policy{Name: "acc", Limit: accLimit, Window: accWindow, Algorithm: pipeline.SlidingWindow, Deadline: time.Second}
	per := make([]int64, len(nodes))
	var errs atomic.Int64
	var wg sync.WaitGroup
	perNode := accOffer / len(nodes)
	for i, l := range nodes {
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(i int, l pipeline.Limiter, n int) {
				defer wg.Done()
				gap := accSpread / time.Duration(n)
				start := time.Now()
				for j := 0; j < n; j++ {
					// Pace to the schedule; no catching up after a stall.
					if wait := time.Until(start.Add(time.Duration(j) * gap)); wait > 0 {
						time.Sleep(wait)
					}
					d, err := l.Allow(context.Background(), key, p)
					if err != nil {
						errs.Add(1)
						continue
					}
					if d.Allowed {
						atomic.AddInt64(&per[i], 1)
					}
				}
			}(i, l, perNode/4)
		}
	}
	wg.Wait()
	if n := errs.Load(); n > 0 {
		t.Errorf("%d decisions failed (no decision) during the accuracy run", n)
	}
	return per
}

func sum(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}

func closeAll(ls []pipeline.Limiter) {
	for _, l := range ls {
		if c, ok := l.(io.Closer); ok {
			c.Close()
		}
	}
}

func TestAccuracy(t *testing.T) {
	var rows []row
	// The table is printed and judged on the way out, so rows measured
	// before a skip (no Redis here) are still reported.
	defer func() { report(t, rows) }()
	key := func(s string) string { return fmt.Sprintf("acc:%s:%d", s, time.Now().UnixNano()) }

	// local: every node on its own (exact per node), then divided mode.
	for _, n := range []int{1, 3, 5} {
		ls := make([]pipeline.Limiter, n)
		for i := range ls {
			ls[i] = newLimiter(t, "local", engines.LimiterOptions{})
		}
		per := offer(t, ls, key("local"))
		ok := true
		for _, a := range per {
			ok = ok && a == accLimit
		}
		rows = append(rows, row{"local", "independent", n, "limit per node", sum(per), per, ok})
		closeAll(ls)
	}
	for _, n := range []int{3, 5} {
		ls := make([]pipeline.Limiter, n)
		for i := range ls {
			ls[i] = newLimiter(t, "local", engines.LimiterOptions{Nodes: n})
		}
		per := offer(t, ls, key("local-div"))
		rows = append(rows, row{"local", "divided", n, "n x floor(limit/n)", sum(per), per, sum(per) == int64(n*(accLimit/n))})
		closeAll(ls)
	}

	// crdt: replicated counters over memberlist.
	// One trial can spike on a loaded 2-core machine (a gossip round
	// delayed by the scheduler); the verdict is on the median of three.
	for _, n := range []int{3, 5} {
		ls := crdtCluster(t, n)
		var trials [][]int64
		for range 3 {
			trials = append(trials, offer(t, ls, key("crdt")))
		}
		sort.Slice(trials, func(i, j int) bool { return sum(trials[i]) < sum(trials[j]) })
		per := trials[1]
		a := sum(per)
		rows = append(rows, row{"crdt", "gossip 25ms", n, "limit .. +5 % (median/3)", a, per, a >= accLimit && a <= accLimit*105/100})
		closeAll(ls)
	}

	// redis: every node shares one real Redis: never above the limit.
	// (Last, because Start skips the test when no Redis can be had.)
	r := redistest.Start(t)
	for _, n := range []int{1, 3, 5} {
		ls := make([]pipeline.Limiter, n)
		for i := range ls {
			ls[i] = newLimiter(t, "redis", engines.LimiterOptions{Settings: section(t, redislimiter.Settings{URL: r.URL()})})
		}
		per := offer(t, ls, key("redis"))
		rows = append(rows, row{"redis", "shared", n, "exactly limit", sum(per), per, sum(per) == accLimit})
		closeAll(ls)
	}
}

// crdtCluster starts n crdt nodes in this process, joined through the
// first, and waits until every node sees all n members.
func crdtCluster(t *testing.T, n int) []pipeline.Limiter {
	t.Helper()
	ls := make([]pipeline.Limiter, n)
	var seed string
	for i := range ls {
		o := crdt.Settings{Node: fmt.Sprintf("acc-%d", i), Bind: "127.0.0.1:0", ExpectedNodes: n}
		if seed != "" {
			o.Peers = []string{seed}
		}
		ls[i] = newLimiter(t, "crdt", engines.LimiterOptions{Settings: section(t, o)})
		if i == 0 {
			seed = ls[0].(*crdt.Limiter).Addr()
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, l := range ls {
		for {
			if visible, _ := l.(*crdt.Limiter).Members(); visible == n {
				break
			}
			if time.Now().After(deadline) {
				closeAll(ls)
				t.Fatalf("crdt cluster of %d did not form", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return ls
}

// section is an engine's settings as its config section.
func section(t *testing.T, settings any) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := n.Encode(settings); err != nil {
		t.Fatal(err)
	}
	return &n
}

func newLimiter(t *testing.T, name string, opts engines.LimiterOptions) pipeline.Limiter {
	t.Helper()
	l, err := engines.NewLimiter(name, opts)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return l
}

func report(t *testing.T, rows []row) {
	var b strings.Builder
	fmt.Fprintf(&b, "\naccuracy: one key, limit %d per %s, %d requests offered across the nodes (10x)\n", accLimit, accWindow, accOffer)
	fmt.Fprintf(&b, "%-7s %-12s %5s %-24s %9s %14s  %s\n", "engine", "mode", "nodes", "target", "admitted", "admitted/limit", "per node")
	for _, r := range rows {
		v := "ok"
		if !r.verdict {
			v = "MISS"
		}
		fmt.Fprintf(&b, "%-7s %-12s %5d %-24s %9d %13.3f  %v %s\n", r.engine, r.mode, r.nodes, r.want, r.admitted, float64(r.admitted)/accLimit, r.perNode, v)
	}
	t.Log(b.String())
	for _, r := range rows {
		if !r.verdict {
			t.Errorf("%s %s with %d nodes admitted %d (limit %d): target %s", r.engine, r.mode, r.nodes, r.admitted, accLimit, r.want)
		}
	}
}
