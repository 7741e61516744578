package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/pipeline"
	"github.com/gatelab/gatelab/internal/redistest"
)

// generous are connection timeouts for tests that check decisions rather
// than timeouts (as in TestRedis): a loaded machine must not turn them into
// "no decision".
const generous = "dial_timeout=5s&read_timeout=5s&write_timeout=5s&pool_timeout=5s"

// gatewayLimiter builds the limiter the way a gateway node does: through the
// engines registry, with its own metrics registry. It is closed when the
// test ends.
func gatewayLimiter(t *testing.T, url, shape string) *Limiter {
	t.Helper()
	el, err := engines.NewLimiter("redis", engines.LimiterOptions{
		Registerer: prometheus.NewRegistry(),
		Settings:   section(t, Settings{URL: url}),
	})
	if err != nil {
		t.Fatalf("engines.NewLimiter(\"redis\", %s): %v", url, err)
	}
	l := el.(*Limiter)
	t.Cleanup(func() { l.Close() })
	if l.shape != shape {
		t.Fatalf("URL %s gave a %s client, want %s", url, l.shape, shape)
	}
	return l
}

// nodeClients are plain (non-cluster) clients on each address.
func nodeClients(t *testing.T, addrs []string) []*goredis.Client {
	t.Helper()
	cs := make([]*goredis.Client, len(addrs))
	for i, a := range addrs {
		cs[i] = goredis.NewClient(&goredis.Options{Addr: a, MaxRetries: -1})
		t.Cleanup(func() { cs[i].Close() })
	}
	return cs
}

// burst sends rounds*limit decisions per key, shuffled, from workers
// goroutines per limiter, and returns how many each key admitted. Every
// decision must be made; a rejection must say Remaining 0 and RetryAfter > 0.
func burst(t *testing.T, ls []*Limiter, workers, rounds int, keys []string, policy func(i int) pipeline.Policy) []int64 {
	t.Helper()
	var jobs []int
	for i := range keys {
		for range rounds * int(policy(i).Limit) {
			jobs = append(jobs, i)
		}
	}
	rand.Shuffle(len(jobs), func(a, b int) { jobs[a], jobs[b] = jobs[b], jobs[a] })
	admitted := make([]atomic.Int64, len(keys))
	var next, bad atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, l := range ls {
		for range workers {
			wg.Go(func() {
				<-start
				for {
					j := int(next.Add(1)) - 1
					if j >= len(jobs) {
						return
					}
					i := jobs[j]
					d, err := l.Allow(context.Background(), keys[i], policy(i))
					switch {
					case err != nil:
						firstErr.CompareAndSwap(nil, err)
						return
					case d.Allowed:
						admitted[i].Add(1)
					case d.Remaining != 0 || d.RetryAfter <= 0:
						bad.Add(1)
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		t.Fatalf("Allow: %v", err)
	}
	if bad.Load() != 0 {
		t.Errorf("%d rejections without Remaining 0 and RetryAfter > 0", bad.Load())
	}
	out := make([]int64, len(keys))
	for i := range admitted {
		out[i] = admitted[i].Load()
	}
	return out
}

// TestCluster runs the engine against a real 3-master Redis Cluster through
// the cluster URL: keys spread over the masters by their hash tags, every
// key's decisions are exact across gateway nodes, and the script runs on
// every master, NOSCRIPT included.
func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	url := c.URL() + "&" + generous
	t.Logf("cluster URL %s", c.URL())
	nodes := nodeClients(t, c.Addrs())
	ls := []*Limiter{gatewayLimiter(t, url, "cluster"), gatewayLimiter(t, url, "cluster"), gatewayLimiter(t, url, "cluster")}
	ctx := context.Background()
	sha := goredis.NewScript(scriptSource).Hash()

	t.Run("script_loaded_on_every_master", func(t *testing.T) {
		// New's warm-up SCRIPT LOAD went to every master, not one.
		for i, n := range nodes {
			ok, err := n.ScriptExists(ctx, sha).Result()
			if err != nil || !ok[0] {
				t.Errorf("node %s: SCRIPT EXISTS = %v, %v after New", c.Addrs()[i], ok, err)
			}
		}
	})

	t.Run("keys_spread_exact", func(t *testing.T) {
		const (
			nkeys   = 48
			limit   = 20
			workers = 8
		)
		w := stableWindow(24 * time.Hour)
		tier := fmt.Sprintf("spread%d", time.Now().UnixNano())
		keys := make([]string, nkeys)
		for i := range keys {
			keys[i] = tier + ":user_id:u" + strconv.Itoa(i)
			if i%8 == 7 { // longer than MaxKeyLen: stored hashed
				keys[i] = tier + ":user_id:" + strconv.Itoa(i) + strings.Repeat("x", 200)
			}
		}
		policy := func(i int) pipeline.Policy {
			p := pipeline.Policy{Name: tier, Limit: limit, Window: w}
			if i%2 == 1 {
				p.Algorithm = pipeline.GCRA
			}
			return p
		}
		began := time.Now()
		admitted := burst(t, ls, workers, 3, keys, policy)
		t.Logf("%d keys x %d decisions from %d limiters x %d goroutines in %v",
			nkeys, 3*limit, len(ls), workers, time.Since(began).Round(time.Millisecond))
		for i, n := range admitted {
			if n != limit {
				t.Errorf("key %q: admitted %d of %d, want exactly %d", keys[i], n, 3*limit, limit)
			}
		}

		// Where the state is: each Redis key on exactly one master, the
		// one owning its slot, which is its pipeline key's slot (the hash
		// tag), and the masters share the keys.
		owner := slotOwners(t, nodes[0])
		perNode := make([]int, len(nodes))
		for i, k := range keys {
			rk := redisKey(k)
			slot, err := nodes[0].ClusterKeySlot(ctx, rk).Result()
			if err != nil {
				t.Fatal(err)
			}
			tag := rk[strings.IndexByte(rk, '{')+1 : len(rk)-1]
			if tagSlot, err := nodes[0].ClusterKeySlot(ctx, tag).Result(); err != nil || tagSlot != slot {
				t.Errorf("key %q: slot %d, its hash tag's %d (%v)", rk, slot, tagSlot, err)
			}
			if len(k) <= MaxKeyLen && tag != k {
				t.Errorf("key %q: hash tag %q is not the pipeline key", rk, tag)
			}
			holders := 0
			for j, n := range nodes {
				cnt, err := n.ClusterCountKeysInSlot(ctx, int(slot)).Result()
				if err != nil {
					t.Fatal(err)
				}
				if cnt == 0 {
					continue
				}
				holders++
				perNode[j]++
				if c.Addrs()[j] != owner[slot] {
					t.Errorf("key %q (slot %d) on %s, but %s owns the slot", rk, slot, c.Addrs()[j], owner[slot])
				}
				if policy(i).Algorithm == pipeline.SlidingWindow {
					// The count in the current window is the limit.
					if got, err := n.HGet(ctx, rk, "c").Int64(); err != nil || got != limit {
						t.Errorf("key %q on %s: c = %d, %v; want %d", rk, c.Addrs()[j], got, err, limit)
					}
				}
			}
			if holders != 1 {
				t.Errorf("key %q (slot %d) found on %d masters, want 1", rk, slot, holders)
			}
		}
		t.Logf("keys per master: %v", perNode)
		for j, n := range perNode {
			if n == 0 {
				t.Errorf("master %s holds none of the %d keys: they are not spread", c.Addrs()[j], nkeys)
			}
		}
		var total int64
		for _, n := range nodes {
			total += n.DBSize(ctx).Val()
		}
		if total != nkeys {
			t.Errorf("DBSIZE over the masters is %d, want %d (one Redis key per pipeline key)", total, nkeys)
		}
	})

	t.Run("noscript_on_every_master", func(t *testing.T) {
		// Every master forgets the script; the next decision on each
		// master's keys gets NOSCRIPT and sends the script with EVAL, once.
		for _, n := range nodes {
			if err := n.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if err := n.ConfigResetStat(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		const limit = 5
		tier := fmt.Sprintf("noscript%d", time.Now().UnixNano())
		keys := make([]string, 30)
		for i := range keys {
			keys[i] = tier + ":ip:10.0.0." + strconv.Itoa(i)
		}
		p := pipeline.Policy{Name: tier, Limit: limit, Window: stableWindow(time.Hour)}
		for i, k := range keys {
			d := mustAllow(t, ls[i%len(ls)], k, p)
			if !d.Allowed || d.Remaining != limit-1 {
				t.Fatalf("first decision on %q: %+v, want admitted with Remaining %d", k, d, limit-1)
			}
		}
		evals := make([]int64, len(nodes))
		for j, n := range nodes {
			evals[j] = cmdCalls(t, n, "eval")
			if evals[j] == 0 {
				t.Errorf("master %s ran no EVAL after SCRIPT FLUSH: the NOSCRIPT path did not run there", c.Addrs()[j])
			}
			if nos := cmdCalls(t, n, "evalsha"); nos == 0 {
				t.Errorf("master %s got no EVALSHA", c.Addrs()[j])
			}
			if ok, err := n.ScriptExists(ctx, sha).Result(); err != nil || !ok[0] {
				t.Errorf("master %s: script not cached after EVAL: %v, %v", c.Addrs()[j], ok, err)
			}
		}
		t.Logf("EVAL calls per master after SCRIPT FLUSH: %v", evals)
		// Cached again: the rest are single EVALSHAs and count on.
		for range limit - 1 {
			for i, k := range keys {
				if d := mustAllow(t, ls[(i+1)%len(ls)], k, p); !d.Allowed {
					t.Fatalf("%q rejected below its limit: %+v", k, d)
				}
			}
		}
		for i, k := range keys {
			if d := mustAllow(t, ls[i%len(ls)], k, p); d.Allowed {
				t.Fatalf("%q admitted past its limit %d", k, limit)
			}
		}
		for j, n := range nodes {
			if got := cmdCalls(t, n, "eval"); got != evals[j] {
				t.Errorf("master %s: %d more EVALs once the script was cached", c.Addrs()[j], got-evals[j])
			}
		}
	})
}

// slotOwners maps every slot to its master's address, as n reports it.
func slotOwners(t *testing.T, n *goredis.Client) map[int64]string {
	t.Helper()
	//lint:ignore SA1019 CLUSTER SLOTS is the map go-redis routes by; the test checks that same view.
	ranges, err := n.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	owner := make(map[int64]string, 16384)
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			owner[int64(s)] = r.Nodes[0].Addr
		}
	}
	return owner
}

// cmdCalls is how many times c's server has run command name (lower case)
// since its statistics were reset, failed calls included.
func cmdCalls(t *testing.T, c *goredis.Client, name string) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+name+":")
		if !ok {
			continue
		}
		var n int64
		for _, f := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(f, "=")
			if k == "calls" || k == "failed_calls" || k == "rejected_calls" {
				x, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("commandstats line %q: %v", line, err)
				}
				n += x
			}
		}
		return n
	}
	return 0
}

// TestSentinel runs the engine through the Sentinel URL: decisions are exact
// across two gateway nodes; after the master is killed, the same limiters
// make decisions again on the promoted replica (which kept the replicated
// counts) within a bounded wait. A killed master refuses connections at
// once, so the generous timeouts do not slow the recovery down; they keep a
// loaded machine from turning a decision into a timeout that Redis still
// counts.
func TestSentinel(t *testing.T) {
	s := redistest.StartSentinel(t)
	t.Logf("sentinel URL %s", s.URL())
	url := s.URL() + "&" + generous
	data := s.DataAddrs()
	nodes := nodeClients(t, data)
	ls := []*Limiter{gatewayLimiter(t, url, "sentinel"), gatewayLimiter(t, url, "sentinel")}
	ctx := context.Background()
	const limit = 25
	tier := fmt.Sprintf("sentinel%d", time.Now().UnixNano())
	p := pipeline.Policy{Name: tier, Limit: limit, Window: stableWindow(time.Hour)}
	policy := func(int) pipeline.Policy { return p }

	before := tier + ":user_id:before"
	if got := burst(t, ls, 4, 3, []string{before}, policy)[0]; got != limit {
		t.Fatalf("before failover: admitted %d of %d, want exactly %d", got, 3*limit, limit)
	}
	// The state is on the master, and once replicated on the replica (WAIT
	// would have to run on the limiters' own connections).
	if got, err := nodes[0].HGet(ctx, redisKey(before), "c").Int64(); err != nil || got != limit {
		t.Fatalf("master %s: c = %d, %v; want %d", data[0], got, err, limit)
	}
	for began := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		got, err := nodes[1].HGet(ctx, redisKey(before), "c").Int64()
		if err == nil && got == limit {
			break
		}
		if time.Since(began) > 5*time.Second {
			t.Fatalf("replica %s: c = %d, %v 5s after the burst; want %d", data[1], got, err, limit)
		}
	}

	killed := time.Now()
	if old := s.KillMaster(); old != data[0] {
		t.Fatalf("killed %s, want %s", old, data[0])
	}
	// The same limiters, not new ones, decide again within a bounded wait;
	// each is polled from the kill on, at once.
	after := tier + ":user_id:after"
	errs := make([]error, len(ls))
	var wg sync.WaitGroup
	for i, l := range ls {
		wg.Go(func() {
			fails := 0
			for {
				d, err := l.Allow(ctx, after, p)
				switch {
				case err == nil && !d.Allowed:
					errs[i] = fmt.Errorf("first decision after the failover rejected: %+v", d)
				case err == nil:
					t.Logf("limiter %d: decisions again %v after the kill (%d no-decisions before)",
						i, time.Since(killed).Round(time.Millisecond), fails)
				case !errors.Is(err, pipeline.ErrNoDecision):
					errs[i] = fmt.Errorf("error not wrapping ErrNoDecision: %w", err)
				case time.Since(killed) > 15*time.Second:
					errs[i] = fmt.Errorf("no decision 15s after the master was killed (%d failures): %w", fails, err)
				default:
					fails++
					time.Sleep(20 * time.Millisecond)
					continue
				}
				return
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("limiter %d: %v", i, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if m := s.MasterAddr(); m != data[1] {
		t.Fatalf("sentinel's master is %s, want the promoted replica %s", m, data[1])
	}
	// The decisions went to the promoted replica, which kept the count of
	// the key filled before the failover.
	if got, err := nodes[1].HGet(ctx, redisKey(after), "c").Int64(); err != nil || got != 2 {
		t.Errorf("new master %s: %q c = %d, %v; want 2", data[1], after, got, err)
	}
	for i, l := range ls {
		if d := mustAllow(t, l, before, p); d.Allowed {
			t.Errorf("limiter %d: key filled before the failover admitted after it: %+v", i, d)
		}
	}
	// And they are exact again across both gateway nodes.
	fresh := tier + ":user_id:fresh"
	if got := burst(t, ls, 4, 3, []string{fresh}, policy)[0]; got != limit {
		t.Errorf("after failover: admitted %d of %d, want exactly %d", got, 3*limit, limit)
	}
}
