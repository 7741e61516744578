package local

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/limiter/limitertest"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func TestBehaviour(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, now func() time.Time) pipeline.Limiter {
		l, err := New(engines.LimiterOptions{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}, limitertest.Options{UsesClock: true, Exact: true})
}

func TestRegistered(t *testing.T) {
	l, err := engines.NewLimiter("local", engines.LimiterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.(*Limiter); !ok {
		t.Fatalf("engines.NewLimiter(\"local\") built %T", l)
	}
	if _, err := New(engines.LimiterOptions{Nodes: -1}); err == nil {
		t.Error("New accepted Nodes = -1")
	}
}

var (
	sliding = pipeline.Policy{Name: "s", Limit: 10, Window: 10 * time.Second, Algorithm: pipeline.SlidingWindow}
	gcra    = pipeline.Policy{Name: "g", Limit: 10, Window: 10 * time.Second, Algorithm: pipeline.GCRA}
)

func newTest(t *testing.T, nodes int) (*Limiter, *limitertest.Clock) {
	t.Helper()
	c := limitertest.NewClock(limitertest.Epoch)
	return newLimiter(engines.LimiterOptions{Now: c.Now, Nodes: nodes}), c
}

func allow(t *testing.T, l *Limiter, key string, p pipeline.Policy) pipeline.LimitDecision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestExactTimes pins the engine's nanosecond results, which the shared suite
// checks only to a millisecond.
func TestExactTimes(t *testing.T) {
	l, c := newTest(t, 0)
	c.Advance(2 * time.Second)
	for range 10 {
		allow(t, l, "s", sliding)
	}
	// Full window, no previous: admitted again 1ns after the window ends.
	if d := allow(t, l, "s", sliding); d.RetryAfter != 8*time.Second+1 || !d.Reset.Equal(limitertest.Epoch.Add(10*time.Second+1)) {
		t.Errorf("full window: RetryAfter %v Reset %v, want 8s+1ns at Epoch+10s+1ns", d.RetryAfter, d.Reset)
	}
	c.Set(limitertest.Epoch.Add(10*time.Second + 1))
	if d := allow(t, l, "s", sliding); !d.Allowed || d.Remaining != 0 {
		t.Errorf("1ns after the window end: %+v, want admitted with Remaining 0", d)
	}
	// prev 10, cur 1, limit 10: 10*(1-e/W)+1 < 10 once e > 1s.
	if d := allow(t, l, "s", sliding); d.RetryAfter != time.Second || d.Allowed {
		t.Errorf("RetryAfter %v, want exactly 1s (admitted at 1s+1ns into the window)", d.RetryAfter)
	}
	c.Advance(time.Second - 1)
	if d := allow(t, l, "s", sliding); d.Allowed || d.RetryAfter != 1 {
		t.Errorf("at 1s: %+v, want rejected with RetryAfter 1ns", d)
	}
	c.Advance(1)
	if d := allow(t, l, "s", sliding); !d.Allowed {
		t.Errorf("at 1s+1ns: %+v, want admitted", d)
	}

	// GCRA with a Window Limit does not divide: T = 3333333333ns, and the
	// burst is still exactly Limit.
	g := pipeline.Policy{Limit: 3, Window: 10 * time.Second, Algorithm: pipeline.GCRA}
	for i := range 3 {
		if d := allow(t, l, "g", g); !d.Allowed || d.Remaining != int64(2-i) {
			t.Fatalf("GCRA burst %d: %+v", i, d)
		}
	}
	if d := allow(t, l, "g", g); d.Allowed || d.RetryAfter != 3333333333 {
		t.Errorf("GCRA after burst: %+v, want RetryAfter = T = 3333333333ns", d)
	}
}

func TestDivided(t *testing.T) {
	for _, tc := range []struct {
		nodes int
		limit int64
		want  int64
	}{{0, 10, 10}, {1, 10, 10}, {3, 10, 3}, {4, 10, 2}, {10, 10, 1}, {20, 10, 1}} {
		for _, p := range []pipeline.Policy{sliding, gcra} {
			l, _ := newTest(t, tc.nodes)
			p.Limit = tc.limit
			key := fmt.Sprint(tc.nodes)
			var admitted int64
			for range tc.limit + 5 {
				d := allow(t, l, key, p)
				if d.Limit != tc.want {
					t.Fatalf("nodes %d limit %d: decision Limit %d, want %d", tc.nodes, tc.limit, d.Limit, tc.want)
				}
				if d.Allowed {
					admitted++
				}
			}
			if admitted != tc.want {
				t.Errorf("nodes %d limit %d alg %d: admitted %d, want %d", tc.nodes, tc.limit, p.Algorithm, admitted, tc.want)
			}
		}
	}
}

func TestInvalidPolicy(t *testing.T) {
	l, _ := newTest(t, 0)
	for _, p := range []pipeline.Policy{
		{Limit: 1, Window: time.Second, Algorithm: 7},
		{Limit: 1, Window: maxWindow + 1},
		{Limit: 0, Window: time.Second},
		{Limit: 1, Window: 0},
	} {
		d, err := l.Allow(context.Background(), "k", p)
		if !errors.Is(err, pipeline.ErrNoDecision) || d != (pipeline.LimitDecision{}) {
			t.Errorf("%+v: %+v, %v", p, d, err)
		}
	}
	if n := l.keys(); n != 0 {
		t.Errorf("invalid policies stored %d keys", n)
	}
}

// TestAllocs: a decision on a key the limiter holds allocates nothing.
func TestAllocs(t *testing.T) {
	for _, clock := range []string{"fake", "real"} {
		for _, p := range []pipeline.Policy{sliding, gcra} {
			l, c := newTest(t, 0)
			if clock == "real" {
				l = newLimiter(engines.LimiterOptions{})
			}
			p.Limit = 1 << 40
			ctx := context.Background()
			keys := make([]string, 1000)
			for i := range keys {
				keys[i] = fmt.Sprintf("tier:user:%d", i)
				allow(t, l, keys[i], p)
			}
			i := 0
			got := testing.AllocsPerRun(10000, func() {
				c.Advance(time.Millisecond) // crosses windows too
				l.Allow(ctx, keys[i%len(keys)], p)
				i++
			})
			if got != 0 {
				t.Errorf("%s clock, algorithm %d: %v allocs per decision on an existing key, want 0", clock, p.Algorithm, got)
			}
		}
	}
}

// TestKeyCopied: the limiter keeps a copy of the key, not the caller's memory.
func TestKeyCopied(t *testing.T) {
	l, _ := newTest(t, 0)
	buf := []byte("tier:user:alice")
	key := unsafe.String(&buf[0], len(buf)) // as a server might pass a view of its read buffer
	p := sliding
	p.Limit = 2
	allow(t, l, key, p)
	copy(buf, "tier:user:bobby") // the caller reuses its buffer
	if d := allow(t, l, "tier:user:alice", p); !d.Allowed || d.Remaining != 0 {
		t.Errorf("alice's second request: %+v, want admitted with Remaining 0 (count kept under the copied key)", d)
	}
	if d := allow(t, l, "tier:user:bobby", p); !d.Allowed || d.Remaining != 1 {
		t.Errorf("bobby's first request: %+v, want a fresh key", d)
	}
}

// TestIdleKeysCollected: keys idle for more than two windows are dropped, by
// a full sweep and by the amortised sweep Allow drives; live keys stay.
func TestIdleKeysCollected(t *testing.T) {
	for _, p := range []pipeline.Policy{sliding, gcra} {
		l, c := newTest(t, 0)
		const old = 50000 // about 195 per shard: enough for shards to compact
		for i := range old {
			allow(t, l, fmt.Sprint("old", i), p)
		}
		c.Advance(2 * p.Window) // exactly two windows: not yet idle "for more than" two
		allow(t, l, "live", p)
		l.sweep(c.Now())
		if n := l.keys(); n != old+1 {
			t.Fatalf("after 2 windows: %d keys, want %d", n, old+1)
		}
		c.Advance(1)
		l.sweep(c.Now())
		if n := l.keys(); n != 1 {
			t.Fatalf("after 2 windows + 1ns: %d keys, want 1 (live)", n)
		}
		if n := l.slots(); n > numShards {
			t.Errorf("slabs hold %d slots after the sweep, want them compacted", n)
		}
		if d := allow(t, l, "live", p); !d.Allowed || d.Remaining != 8 {
			t.Errorf("live key lost its count: %+v", d)
		}

		// Amortised: new keys arriving in later windows reclaim the idle ones
		// and reuse their slots, so the table does not grow with the key churn.
		l2, c2 := newTest(t, 0)
		peak := 0
		for round := range 20 {
			for i := range 5000 {
				allow(t, l2, fmt.Sprint("r", round, "-", i), p)
			}
			peak = max(peak, l2.slots())
			c2.Advance(2*p.Window + 1)
		}
		if n := l2.keys(); n > 3*5000 {
			t.Errorf("amortised sweep: %d keys held after 20 rounds of 5000 (100000 seen), want about the last rounds' only", n)
		}
		if peak > 4*5000 {
			t.Errorf("amortised sweep: slabs peaked at %d slots for 5000 keys per round", peak)
		}
	}
}

// TestReloadWindowAndAlgorithm: changing a tier's Window or Algorithm carries
// the count instead of resetting it.
func TestReloadWindowAndAlgorithm(t *testing.T) {
	l, c := newTest(t, 0)
	c.Advance(time.Second)
	for range 6 {
		allow(t, l, "k", sliding) // count 6 of 10
	}
	p := sliding
	p.Window = time.Minute
	if d := allow(t, l, "k", p); !d.Allowed || d.Remaining != 3 {
		t.Errorf("window 10s -> 1m: %+v, want count 7 of 10 (Remaining 3)", d)
	}
	p.Algorithm = pipeline.GCRA
	if d := allow(t, l, "k", p); !d.Allowed || d.Remaining != 2 {
		t.Errorf("sliding -> GCRA: %+v, want count 8 of 10 (Remaining 2)", d)
	}
	p.Window = 20 * time.Second // T 6s -> 2s
	if d := allow(t, l, "k", p); !d.Allowed || d.Remaining != 1 {
		t.Errorf("GCRA window 1m -> 20s: %+v, want count 9 of 10 (Remaining 1)", d)
	}
	p.Algorithm = pipeline.SlidingWindow
	if d := allow(t, l, "k", p); !d.Allowed || d.Remaining != 0 {
		t.Errorf("GCRA -> sliding: %+v, want count 10 of 10 (Remaining 0)", d)
	}
	if d := allow(t, l, "k", p); d.Allowed {
		t.Errorf("after 10 of 10: %+v, want rejected", d)
	}
}

// TestClockBackwards: a clock stepping back never makes a key more permissive.
func TestClockBackwards(t *testing.T) {
	for _, p := range []pipeline.Policy{sliding, gcra} {
		l, c := newTest(t, 0)
		c.Advance(25 * time.Second)
		for range 10 {
			allow(t, l, "k", p)
		}
		c.Advance(-20 * time.Second)
		if d := allow(t, l, "k", p); d.Allowed || d.RetryAfter <= 0 {
			t.Errorf("algorithm %d after the clock stepped back: %+v, want rejected", p.Algorithm, d)
		}
	}
}

// TestLargeValues: huge limits and windows neither overflow nor misbehave.
func TestLargeValues(t *testing.T) {
	l, c := newTest(t, 0)
	for _, p := range []pipeline.Policy{
		{Limit: 1 << 50, Window: 24 * time.Hour},
		{Limit: 1 << 50, Window: 24 * time.Hour, Algorithm: pipeline.GCRA},
		{Limit: 3, Window: maxWindow},
		{Limit: 3, Window: maxWindow, Algorithm: pipeline.GCRA},
		{Limit: 1 << 62, Window: time.Nanosecond, Algorithm: pipeline.GCRA},
	} {
		key := fmt.Sprint(p)
		d := allow(t, l, key, p)
		if !d.Allowed || d.Remaining != p.Limit-1 || !d.Reset.After(c.Now()) {
			t.Errorf("%+v: first decision %+v", p, d)
		}
	}
	p := pipeline.Policy{Limit: 3, Window: maxWindow}
	allow(t, l, "w", p)
	allow(t, l, "w", p)
	if d := allow(t, l, "w", p); !d.Allowed || d.Remaining != 0 {
		t.Errorf("huge window: %+v", d)
	}
	if d := allow(t, l, "w", p); d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > maxWindow+1 {
		t.Errorf("huge window, rejected: %+v", d)
	}
}

// TestConcurrentManyKeys: exactness holds per key with many goroutines on
// many keys, inserting and sweeping concurrently (run with -race).
func TestConcurrentManyKeys(t *testing.T) {
	l, _ := newTest(t, 0)
	p := sliding
	p.Limit = 50
	const keys, workers = 300, 8
	counts := make([][keys]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range 100 * keys {
				k := (i*7 + w) % keys
				if d, _ := l.Allow(context.Background(), fmt.Sprint("k", k), p); d.Allowed {
					counts[w][k]++
				}
			}
		})
	}
	wg.Wait()
	for k := range keys {
		total := 0
		for w := range workers {
			total += counts[w][k]
		}
		if total != 50 {
			t.Fatalf("key %d admitted %d, want 50", k, total)
		}
	}
}

func TestEntryIsOneCacheLine(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n != 64 {
		t.Errorf("entry is %d bytes, want 64 (one cache line)", n)
	}
}
