package redis

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/limiter/limitertest"
	"github.com/gatelab/gatelab/engines/limiter/local"
	"github.com/gatelab/gatelab/gateway/auth"
	"github.com/gatelab/gatelab/gateway/pipeline"
	"github.com/gatelab/gatelab/internal/redistest"
)

// TestRedis runs everything that does not break the server against one
// real Redis.
func TestRedis(t *testing.T) {
	r := redistest.Start(t)
	t.Logf("Redis: %s at %s", r.Kind(), r.URL())
	// These tests check decisions, not timeouts: give the client room for a
	// loaded CI machine (the defaults are 100ms; the fault tests use them).
	url := r.URL() + "?dial_timeout=5s&read_timeout=5s&write_timeout=5s&pool_timeout=5s"

	// The shared behaviour suite with the production script: Redis TIME is
	// the clock, so only the real-clock cases run.
	t.Run("behaviour", func(t *testing.T) {
		limitertest.Run(t, func(t *testing.T, _ func() time.Time) pipeline.Limiter {
			return newTestLimiter(t, url, nil)
		}, limitertest.Options{Exact: true})
	})
	// The same suite, fake-clock cases included, on the production script
	// with its TIME call replaced by the fake clock: window weighting,
	// boundary bursts, refill, exact RetryAfter.
	t.Run("behaviour_fake_clock", func(t *testing.T) {
		limitertest.Run(t, func(t *testing.T, now func() time.Time) pipeline.Limiter {
			return fakeClockLimiter(t, url, now)
		}, limitertest.Options{UsesClock: true, Exact: true})
	})
	t.Run("lua_arithmetic", func(t *testing.T) { testLuaArithmetic(t, r) })
	t.Run("same_answers_as_local/trace", func(t *testing.T) { testSameAnswersTrace(t, r, url) })
	t.Run("same_answers_as_local/stream", func(t *testing.T) { testSameAnswersStream(t, r, url) })
	t.Run("nodes_never_admit_more", func(t *testing.T) { testNodes(t, r, url) })
	t.Run("key_shape", func(t *testing.T) { testKeyShape(t, r, url) })
	t.Run("over_limit_cache", func(t *testing.T) { testOverLimitCache(t, r, url) })
	t.Run("metrics_lint", func(t *testing.T) { testMetricsLint(t, r, url) })
}

// testLuaArithmetic checks the script's exact arithmetic against math/big on
// the server's Lua.
func testLuaArithmetic(t *testing.T, r *redistest.Redis) {
	c := rawClient(t, r)
	s := goredis.NewScript(helpersLua + `
local out = {}
for i = 1, #ARGV, 3 do
  local q, rem = muldiv(tonumber(ARGV[i]), tonumber(ARGV[i+1]), tonumber(ARGV[i+2]))
  out[#out+1] = num(q)
  out[#out+1] = num(rem)
end
return out`)
	const p52 = int64(1) << 52
	rng := rand.New(rand.NewPCG(3, 5))
	type tc struct{ a, b, c int64 }
	cases := []tc{
		{0, 0, 1}, {1, 1, 1}, {p52, p52, p52}, {p52, 1, 1}, {p52 - 1, p52 - 1, p52},
		{p52, 1000, p52}, {1, p52, 3}, {123456789, 1000, 7}, {p52 - 1, 2, p52 - 1},
		{1 << 40, 3_600_000_000_000, 1 << 40}, {1891000000000000, 1000, 3_600_000_000_000},
	}
	// Random cases whose quotient fits below 2^53.
	for len(cases) < 3000 {
		a := rng.Int64N(p52 + 1)
		b := rng.Int64N(p52 + 1)
		if rng.IntN(3) == 0 {
			b = rng.Int64N(1 << 20)
		}
		c := 1 + rng.Int64N(p52)
		if rng.IntN(4) == 0 {
			c = 1 + rng.Int64N(1<<30)
		}
		q := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
		q.Quo(q, big.NewInt(c))
		if q.Cmp(big.NewInt(1<<53)) >= 0 {
			continue
		}
		cases = append(cases, tc{a, b, c})
	}
	for start := 0; start < len(cases); start += 500 {
		batch := cases[start:min(start+500, len(cases))]
		args := make([]any, 0, 3*len(batch))
		for _, x := range batch {
			args = append(args, x.a, x.b, x.c)
		}
		got, err := s.Run(context.Background(), c, nil, args...).StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range batch {
			q, rem := new(big.Int).QuoRem(new(big.Int).Mul(big.NewInt(x.a), big.NewInt(x.b)), big.NewInt(x.c), new(big.Int))
			if got[2*i] != q.String() || got[2*i+1] != rem.String() {
				t.Errorf("muldiv(%d, %d, %d) = %s r %s, want %s r %s", x.a, x.b, x.c, got[2*i], got[2*i+1], q, rem)
			}
		}
	}
}

// testSameAnswersTrace drives the production decision code (clock
// stubbed) and the local engine with one fake clock through a random trace
// of bursts, pauses and reloads on a few keys, and wants identical
// decisions: Allowed, Remaining, Reset and RetryAfter to the nanosecond
// (a rejection's Reset rounded up to Redis's microsecond).
func testSameAnswersTrace(t *testing.T, r *redistest.Redis, url string) {
	clock := limitertest.NewClock(limitertest.Epoch.Add(123456789 * time.Microsecond))
	rl := fakeClockLimiter(t, url, clock.Now)
	ll, err := local.New(engines.LimiterOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	shapes := []pipeline.Policy{
		{Name: "a", Limit: 7, Window: time.Minute, Algorithm: pipeline.SlidingWindow},
		{Name: "a", Limit: 11, Window: time.Minute, Algorithm: pipeline.SlidingWindow},
		{Name: "a", Limit: 7, Window: 37 * time.Second, Algorithm: pipeline.SlidingWindow},
		{Name: "a", Limit: 3, Window: 10 * time.Minute, Algorithm: pipeline.SlidingWindow},
		{Name: "a", Limit: 7, Window: time.Minute, Algorithm: pipeline.GCRA},
		{Name: "a", Limit: 13, Window: time.Minute, Algorithm: pipeline.GCRA},
		{Name: "a", Limit: 5, Window: 37 * time.Second, Algorithm: pipeline.GCRA},
		{Name: "a", Limit: 1000, Window: 7 * time.Second, Algorithm: pipeline.GCRA},
		// Windows that are not whole microseconds.
		{Name: "a", Limit: 6, Window: 41*time.Second + 333, Algorithm: pipeline.SlidingWindow},
		{Name: "a", Limit: 9, Window: 41*time.Second + 333, Algorithm: pipeline.GCRA},
	}
	prefix := fmt.Sprintf("trace/%d/", time.Now().UnixNano())
	keys := []string{prefix + "x", prefix + "y", prefix + "z"}
	current := map[string]int{}
	rng := rand.New(rand.NewPCG(11, 13))
	decisions, admitted, reloads := 0, 0, 0
	for step := range 2500 {
		k := keys[rng.IntN(len(keys))]
		if rng.IntN(12) == 0 {
			current[k] = rng.IntN(len(shapes))
			reloads++
		}
		p := shapes[current[k]]
		// Pauses in whole microseconds (the resolution of Redis TIME).
		clock.Advance(time.Duration(rng.Int64N(int64(p.Window/3)/1000)) * time.Microsecond)
		for range 1 + rng.IntN(int(min(p.Limit, 9))+2) {
			dl, err := ll.Allow(context.Background(), k, p)
			if err != nil {
				t.Fatal(err)
			}
			dr := mustAllow(t, rl, k, p)
			decisions++
			if dl.Allowed {
				admitted++
			}
			if !dl.Allowed {
				// Redis's clock ticks in microseconds: the earliest instant
				// it admits is the local engine's rounded up to one.
				dl.Reset = ceilMicro(dl.Reset)
				dl.RetryAfter = dl.Reset.Sub(clock.Now())
			}
			if dl.Allowed != dr.Allowed || dl.Limit != dr.Limit || dl.Remaining != dr.Remaining ||
				!dl.Reset.Equal(dr.Reset) || dl.RetryAfter != dr.RetryAfter {
				t.Fatalf("step %d, key %s, policy %+v at %v:\nlocal %+v\nredis %+v", step, k, p,
					clock.Now().Sub(limitertest.Epoch), dl, dr)
			}
		}
	}
	t.Logf("%d identical decisions (%d admitted), %d reloads", decisions, admitted, reloads)
	if admitted < decisions/5 || admitted == decisions {
		t.Errorf("trace admitted %d of %d: it exercises too little", admitted, decisions)
	}
}

func ceilMicro(t time.Time) time.Time {
	if r := t.Truncate(time.Microsecond); !r.Equal(t) {
		return r.Add(time.Microsecond)
	}
	return t
}

// testSameAnswersStream: the production script (Redis TIME) and the local
// engine (its own clock) answer a sequential stream of requests within one
// window identically, Remaining included.
func testSameAnswersStream(t *testing.T, r *redistest.Redis, url string) {
	rl := newTestLimiter(t, url, nil)
	ll, err := local.New(engines.LimiterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, algo := range []pipeline.LimitAlgorithm{pipeline.SlidingWindow, pipeline.GCRA} {
		p := pipeline.Policy{Name: "stream", Limit: 50, Window: stableWindow(time.Hour), Algorithm: algo}
		key := fmt.Sprintf("stream/%d/%d", time.Now().UnixNano(), algo)
		for i := range 60 {
			dl, err := ll.Allow(context.Background(), key, p)
			if err != nil {
				t.Fatal(err)
			}
			dr := mustAllow(t, rl, key, p)
			same := dl.Allowed == dr.Allowed && dl.Remaining == dr.Remaining && dl.Limit == dr.Limit
			if algo == pipeline.SlidingWindow {
				// The window's end (admitted) or one tick after it (full:
				// 1ns for the local engine, 1µs for Redis's clock): the same
				// instant for both, whatever the clocks read.
				want := dl.Reset
				if !dl.Allowed {
					want = ceilMicro(want)
				}
				same = same && want.Equal(dr.Reset)
			}
			if !same {
				t.Fatalf("algorithm %d, request %d:\nlocal %+v\nredis %+v", algo, i, dl, dr)
			}
			if want := i < 50; dr.Allowed != want {
				t.Fatalf("request %d admitted=%v, want %v", i, dr.Allowed, want)
			}
		}
	}
}

// stableWindow returns w, or a slightly longer window if the current
// instant is within a few seconds of one of w's boundaries (windows are
// aligned to multiples of their length since the epoch).
func stableWindow(w time.Duration) time.Duration {
	for {
		el := time.Duration(time.Now().UnixNano() % int64(w))
		if el > 10*time.Second && w-el > 10*time.Second {
			return w
		}
		w += 7 * time.Second
	}
}

// testNodes: several limiters (gateway nodes with their own connection
// pools) sharing one Redis admit exactly the limit between them.
func testNodes(t *testing.T, r *redistest.Redis, url string) {
	const (
		nodes   = 4
		workers = 16
		calls   = 200
		limit   = 1000
	)
	ls := make([]*Limiter, nodes)
	for i := range ls {
		ls[i] = newTestLimiter(t, url, nil)
	}
	for _, algo := range []pipeline.LimitAlgorithm{pipeline.SlidingWindow, pipeline.GCRA} {
		p := pipeline.Policy{Name: "nodes", Limit: limit, Window: stableWindow(24 * time.Hour), Algorithm: algo}
		key := fmt.Sprintf("nodes/%d/%d", time.Now().UnixNano(), algo)
		var admitted, rejected, bad atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		start := make(chan struct{})
		for n := range nodes {
			for range workers {
				wg.Go(func() {
					<-start
					for range calls {
						d, err := ls[n].Allow(context.Background(), key, p)
						switch {
						case err != nil:
							firstErr.CompareAndSwap(nil, err)
							return
						case d.Allowed:
							admitted.Add(1)
						default:
							rejected.Add(1)
							if d.RetryAfter <= 0 || d.Remaining != 0 {
								bad.Add(1)
							}
						}
					}
				})
			}
		}
		began := time.Now()
		close(start)
		wg.Wait()
		el := time.Since(began)
		if err := firstErr.Load(); err != nil {
			t.Fatalf("Allow: %v", err)
		}
		total := admitted.Load() + rejected.Load()
		t.Logf("algorithm %d: %d nodes x %d goroutines x %d calls: %d admitted, %d rejected in %v (%.0f decisions/s)",
			algo, nodes, workers, calls, admitted.Load(), rejected.Load(), el.Round(time.Millisecond), float64(total)/el.Seconds())
		if admitted.Load() != limit {
			t.Errorf("admitted %d, want exactly %d", admitted.Load(), limit)
		}
		if bad.Load() != 0 {
			t.Errorf("%d rejections without RetryAfter > 0 and Remaining 0", bad.Load())
		}
	}
}

// testKeyShape: what the engine stores is the pipeline key in a hash tag and
// nothing else; secrets never reach Redis; long keys are hashed; TTLs.
func testKeyShape(t *testing.T, r *redistest.Redis, url string) {
	c := rawClient(t, r)
	l := newTestLimiter(t, url, nil)
	ctx := context.Background()
	tier := fmt.Sprintf("shape%d", time.Now().UnixNano())
	const secret = "sk_live_DO-NOT-STORE-ME-0123456789"
	w := stableWindow(time.Hour)
	sliding := pipeline.Policy{Name: tier, Limit: 10, Window: w}
	gcra := pipeline.Policy{Name: tier, Limit: 10, Window: w, Algorithm: pipeline.GCRA}

	apiKey := tier + ":api_key:" + auth.HashAPIKey(secret)
	user := tier + ":user_id:alice"
	long := tier + ":user_id:" + strings.Repeat("x", 300)
	mustAllow(t, l, apiKey, sliding)
	mustAllow(t, l, user, gcra)
	mustAllow(t, l, long, sliding)

	want := map[string]string{
		"gl:{" + apiKey + "}": "sliding",
		"gl:{" + user + "}":   "gcra",
	}
	keys, err := c.Keys(ctx, "*"+tier+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("Redis keys for this test: %q, want 3", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, secret) {
			t.Errorf("key %q holds the raw API key", k)
		}
		fields, err := c.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for f, v := range fields {
			if strings.Contains(f, secret) || strings.Contains(v, secret) {
				t.Errorf("key %q field %q=%q holds the raw API key", k, f, v)
			}
		}
		// Everything of the decision is in one slot: the hash tag is the
		// pipeline key (or its hashed form).
		open, close := strings.IndexByte(k, '{'), strings.LastIndexByte(k, '}')
		if open < 0 || close != len(k)-1 {
			t.Errorf("key %q has no hash tag around the pipeline key", k)
		}
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		kind, known := want[k]
		switch {
		case known && kind == "sliding":
			// Until the end of the next window: at most two windows.
			if ttl <= 0 || ttl > 2*w+time.Millisecond {
				t.Errorf("sliding-window key %q TTL %v, want in (0, %v]", k, ttl, 2*w)
			}
			delete(want, k)
		case known && kind == "gcra":
			// Until TAT + window: TAT is T = w/10 ahead after one request.
			if ttl <= w || ttl > w+w/10+time.Second {
				t.Errorf("GCRA key %q TTL %v, want about TAT+window = %v", k, ttl, w+w/10)
			}
			delete(want, k)
		default:
			if !strings.HasPrefix(k, "gl:h:{"+tier+":user_id:") || len(k) != len("gl:h:{"+tier+":user_id:")+64+1 {
				t.Errorf("unexpected key %q (the %d-byte key should be stored as gl:h:{<tier>:<kind>:<sha256>})", k, len(long))
			}
			if strings.Contains(k, "xxxxxxxx") {
				t.Errorf("long key stored verbatim: %q", k)
			}
		}
	}
	if len(want) != 0 {
		t.Errorf("keys not found: %v (found %q)", want, keys)
	}
	// The hashed key is still one counter.
	for range 9 {
		mustAllow(t, l, long, sliding)
	}
	if d := mustAllow(t, l, long, sliding); d.Allowed {
		t.Errorf("11th request on a hashed long key admitted")
	}
}

// commandCalls is how many EVAL and EVALSHA calls the server has run.
func commandCalls(t *testing.T, c *goredis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") {
			continue
		}
		_, rest, _ := strings.Cut(line, "calls=")
		v, _, _ := strings.Cut(rest, ",")
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("commandstats line %q: %v", line, err)
		}
		n += x
	}
	return n
}

// testOverLimitCache: once Redis rejects a key, the engine answers the key's
// requests itself until the retry time, without a round trip.
func testOverLimitCache(t *testing.T, r *redistest.Redis, url string) {
	c := rawClient(t, r)
	reg := prometheus.NewPedanticRegistry()
	l := newTestLimiterSettings(t, Settings{URL: url, OverLimitCache: true}, func(o *engines.LimiterOptions) {
		o.Registerer = reg
	})
	key := fmt.Sprintf("cache/%d", time.Now().UnixNano())
	p := pipeline.Policy{Name: "cache", Limit: 5, Window: stableWindow(time.Hour)}
	for range 5 {
		if d := mustAllow(t, l, key, p); !d.Allowed {
			t.Fatal("rejected within the limit")
		}
	}
	first := mustAllow(t, l, key, p) // Redis rejects; the cache learns it
	if first.Allowed {
		t.Fatal("admitted over the limit")
	}
	before := commandCalls(t, c)
	const n = 200
	prev := first
	for range n {
		d := mustAllow(t, l, key, p)
		if d.Allowed || d.Remaining != 0 || d.Limit != p.Limit {
			t.Fatalf("cached answer %+v, want a rejection", d)
		}
		if d.RetryAfter <= 0 || d.RetryAfter > prev.RetryAfter {
			t.Fatalf("cached RetryAfter %v after %v: want positive and not growing", d.RetryAfter, prev.RetryAfter)
		}
		if diff := d.Reset.Sub(first.Reset); diff < -10*time.Millisecond || diff > 10*time.Millisecond {
			t.Fatalf("cached Reset %v, Redis said %v", d.Reset, first.Reset)
		}
		prev = d
	}
	if got := commandCalls(t, c) - before; got != 0 {
		t.Errorf("%d cached rejections made %d script calls, want 0", n, got)
	}
	if got := counterValue(t, l.m.cacheHits); got != n {
		t.Errorf("gatelab_ratelimit_overlimit_cache_hits_total = %v, want %d", got, n)
	}
	// A reload that changes the policy bypasses what was learned under the
	// old one.
	raised := p
	raised.Limit = 6
	if d := mustAllow(t, l, key, raised); !d.Allowed {
		t.Errorf("raised limit: rejected from the cache, want Redis to admit the 6th request")
	}
	if got := commandCalls(t, c) - before; got != 1 {
		t.Errorf("after the reload: %d script calls, want 1", got)
	}

	// A short GCRA: once the cached retry time has passed, Redis is asked
	// again and admits.
	gkey := key + "/gcra"
	g := pipeline.Policy{Name: "cache", Limit: 2, Window: 2 * time.Second, Algorithm: pipeline.GCRA}
	mustAllow(t, l, gkey, g)
	mustAllow(t, l, gkey, g)
	rej := mustAllow(t, l, gkey, g)
	if rej.Allowed {
		t.Fatal("GCRA: third request admitted")
	}
	if d := mustAllow(t, l, gkey, g); d.Allowed {
		t.Fatal("GCRA: cached rejection admitted")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := mustAllow(t, l, gkey, g)
		if d.Allowed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("GCRA key never admitted again after its retry time")
		}
		time.Sleep(d.RetryAfter)
	}
	if n := l.cache.len(); n > 2 {
		t.Errorf("cache holds %d entries, want at most 2", n)
	}
}

// testMetricsLint: the engine's series pass promlint and exist with the
// documented names.
func testMetricsLint(t *testing.T, r *redistest.Redis, url string) {
	reg := prometheus.NewPedanticRegistry()
	l := newTestLimiterSettings(t, Settings{URL: url, OverLimitCache: true}, func(o *engines.LimiterOptions) {
		o.Registerer = reg
	})
	// A second limiter on the same registry reuses the series.
	newTestLimiter(t, url, func(o *engines.LimiterOptions) { o.Registerer = reg })
	p := pipeline.Policy{Name: "lint", Limit: 1, Window: time.Hour}
	key := fmt.Sprintf("lint/%d", time.Now().UnixNano())
	mustAllow(t, l, key, p)
	mustAllow(t, l, key, p)
	mustAllow(t, l, key, p)
	if _, err := l.Allow(context.Background(), key, pipeline.Policy{Name: "bad"}); !errors.Is(err, pipeline.ErrNoDecision) {
		t.Errorf("invalid policy: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{
		"gatelab_ratelimit_redis_errors_total",
		"gatelab_ratelimit_redis_roundtrip_seconds",
		"gatelab_ratelimit_overlimit_cache_hits_total",
	} {
		if !names[n] {
			t.Errorf("series %s not registered (have %v)", n, names)
		}
	}
	if got := counterValue(t, l.m.cacheHits); got != 1 {
		t.Errorf("cache hits %v, want 1", got)
	}
}

// TestNew covers option handling that needs no server.
func TestNew(t *testing.T) {
	for _, tc := range []struct {
		url   string
		shape string
		ok    bool
	}{
		{"redis://127.0.0.1:6379/0", "single", true},
		{"rediss://user:pw@127.0.0.1:6380/2", "single", true},
		{"unix:///tmp/redis.sock", "single", true},
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", "cluster", true},
		{"redis://127.0.0.1:26379?master_name=mymaster&addr=127.0.0.1:26380", "sentinel", true},
		{"redis://127.0.0.1:6379/0?dial_timeout=1s&pool_size=3", "single", true},
		{"", "", false},
		{"http://127.0.0.1:6379", "", false},
		{"redis://127.0.0.1:6379/0?no_such_option=1", "", false},
	} {
		l, err := newLimiter(engines.LimiterOptions{}, Settings{URL: tc.url})
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v, want ok=%v", tc.url, err, tc.ok)
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("%q: error leaks the password: %v", tc.url, err)
			}
			continue
		}
		if l.shape != tc.shape {
			t.Errorf("%q: shape %s, want %s", tc.url, l.shape, tc.shape)
		}
		l.Close()
	}
	if _, err := newLimiter(engines.LimiterOptions{}, Settings{URL: "redis://x", PoolSize: -1}); err == nil {
		t.Error("negative PoolSize accepted")
	}
	// Registered under its name.
	if _, err := engines.NewLimiter("redis", engines.LimiterOptions{Settings: section(t, Settings{URL: "redis://127.0.0.1:1/0"})}); err != nil {
		t.Errorf("engines.NewLimiter(\"redis\"): %v", err)
	}
}

// TestInvalidPolicy needs no server: invalid policies never reach Redis.
func TestInvalidPolicy(t *testing.T) {
	l := newTestLimiter(t, "redis://127.0.0.1:1/0", nil)
	for _, p := range []pipeline.Policy{
		{Limit: 0, Window: time.Second},
		{Limit: 1, Window: 0},
		{Limit: 1, Window: time.Nanosecond * 999},
		{Limit: 1, Window: MaxWindow + 1},
		{Limit: MaxLimit + 1, Window: time.Second},
		{Limit: 1, Window: time.Second, Algorithm: 7},
	} {
		d, err := l.Allow(context.Background(), "k", p)
		if !errors.Is(err, pipeline.ErrNoDecision) || d != (pipeline.LimitDecision{}) {
			t.Errorf("%+v: %+v, %v; want a zero decision and ErrNoDecision", p, d, err)
		}
	}
}

func TestRedisKey(t *testing.T) {
	if got := redisKey("gold:user_id:bob"); got != "gl:{gold:user_id:bob}" {
		t.Errorf("short key: %q", got)
	}
	k := "gold:user_id:" + strings.Repeat("é", 100)
	got := redisKey(k)
	if !strings.HasPrefix(got, "gl:h:{gold:user_id:") || len(got) != len("gl:h:{gold:user_id:")+65 {
		t.Errorf("long key: %q", got)
	}
	if redisKey(k+"x") == got {
		t.Error("two long keys share a Redis key")
	}
	noPrefix := strings.Repeat("z", 200)
	if got := redisKey(noPrefix); got != "gl:h:{"+got[6:70]+"}" || len(got) != 6+64+1 {
		t.Errorf("long key without tier prefix: %q", got)
	}
	// Exactly MaxKeyLen stays verbatim.
	exact := strings.Repeat("k", MaxKeyLen)
	if got := redisKey(exact); got != "gl:{"+exact+"}" {
		t.Errorf("key of MaxKeyLen bytes: %q", got)
	}
}

// counterValue reads a counter (prometheus/testutil would need a module
// this repository does not require).
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
