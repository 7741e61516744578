package crdt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/limiter/limitertest"
	"github.com/gatelab/gatelab/engines/limiter/local"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// newSingle builds a one-node cluster on an ephemeral loopback port.
func newSingle(t testing.TB, now func() time.Time) *Limiter {
	t.Helper()
	l, err := newNode(engines.LimiterOptions{Now: now}, Settings{Bind: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// newTestCore builds the counter side only (no network) on a fake clock.
func newTestCore(name string) (*Limiter, *limitertest.Clock) {
	c := limitertest.NewClock(limitertest.Epoch)
	return newCore(name, engines.LimiterOptions{Now: c.Now}, Settings{}), c
}

func allow(t testing.TB, l pipeline.Limiter, key string, p pipeline.Policy) pipeline.LimitDecision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var (
	sliding = pipeline.Policy{Name: "s", Limit: 10, Window: 10 * time.Second, Algorithm: pipeline.SlidingWindow}
	gcra    = pipeline.Policy{Name: "g", Limit: 10, Window: 10 * time.Second, Algorithm: pipeline.GCRA}
)

// TestBehaviour: on one node the engine passes the shared suite as an exact
// engine deciding with the injected clock.
func TestBehaviour(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, now func() time.Time) pipeline.Limiter {
		return newSingle(t, now)
	}, limitertest.Options{UsesClock: true, Exact: true})
}

func TestRegistered(t *testing.T) {
	l, err := engines.NewLimiter("crdt", engines.LimiterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.(*Limiter).Close()
	if got := l.(*Limiter).Addr(); !strings.HasPrefix(got, "127.0.0.1:") || strings.HasSuffix(got, ":0") {
		t.Errorf("default bind: Addr() = %q, want 127.0.0.1:<ephemeral port>", got)
	}
	for _, opts := range []Settings{
		{PartitionMode: "sideways"},
		{ExpectedNodes: -1},
		{SyncInterval: -time.Second},
		{Bind: "localhost:0"},
		{Bind: "127.0.0.1"},
		{Bind: "127.0.0.1:99999"},
		{Node: strings.Repeat("n", 300)},
	} {
		if l, err := New(engines.LimiterOptions{}, opts); err == nil {
			l.(*Limiter).Close()
			t.Errorf("New accepted %+v", opts)
		}
	}
}

// TestEquivalentToLocal drives the engine (one node) and the local engine
// with the same random trace of requests, clock moves (forward, across
// windows, backward) and config reloads (limit, window, algorithm), and
// requires identical decisions.
func TestEquivalentToLocal(t *testing.T) {
	policies := []pipeline.Policy{
		{Limit: 7, Window: 10 * time.Second},
		{Limit: 3, Window: 10 * time.Second},
		{Limit: 12, Window: 10 * time.Second},
		{Limit: 7, Window: time.Minute},
		{Limit: 5, Window: 3 * time.Second},
		{Limit: 7, Window: 10 * time.Second, Algorithm: pipeline.GCRA},
		{Limit: 3, Window: 10 * time.Second, Algorithm: pipeline.GCRA},
		{Limit: 20, Window: 10 * time.Second, Algorithm: pipeline.GCRA},
		{Limit: 7, Window: 7 * time.Second, Algorithm: pipeline.GCRA},
		{Limit: 3, Window: 10*time.Second + 1, Algorithm: pipeline.GCRA},
	}
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 99))
		clock := limitertest.NewClock(limitertest.Epoch.Add(time.Duration(rng.Int64N(int64(time.Hour)))))
		loc, err := local.New(engines.LimiterOptions{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		rep := newCore("solo", engines.LimiterOptions{Now: clock.Now}, Settings{})
		keyPolicy := map[string]int{}
		for step := range 6000 {
			switch r := rng.IntN(100); {
			case r < 25:
				clock.Advance(time.Duration(rng.Int64N(int64(2 * time.Second))))
			case r < 28:
				clock.Advance(time.Duration(rng.Int64N(int64(30 * time.Second))))
			case r < 29:
				clock.Advance(-time.Duration(rng.Int64N(int64(15 * time.Second))))
			}
			key := fmt.Sprint("k", rng.IntN(6))
			pi, ok := keyPolicy[key]
			if !ok || rng.IntN(40) == 0 { // a reload
				pi = rng.IntN(len(policies))
				keyPolicy[key] = pi
			}
			p := policies[pi]
			want := allow(t, loc, key, p)
			got := allow(t, rep, key, p)
			if got != want {
				t.Fatalf("seed %d step %d key %s policy %+v at %v:\n crdt  %+v\n local %+v",
					seed, step, key, p, clock.Now().Sub(limitertest.Epoch), got, want)
			}
		}
	}
}

// TestInvalidPolicy: invalid policies are no decision and store nothing.
func TestInvalidPolicy(t *testing.T) {
	l, _ := newTestCore("n")
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

// TestAllocs: a decision on a key the limiter holds allocates nothing, with
// the gossip loop running (one node) and windows rolling over.
func TestAllocs(t *testing.T) {
	for _, p := range []pipeline.Policy{sliding, gcra} {
		c := limitertest.NewClock(limitertest.Epoch)
		l := newSingle(t, c.Now)
		p.Limit = 1 << 40
		ctx := context.Background()
		keys := make([]string, 1000)
		for i := range keys {
			keys[i] = fmt.Sprintf("tier:user:%d", i)
			allow(t, l, keys[i], p)
		}
		i := 0
		got := testing.AllocsPerRun(20000, func() {
			c.Advance(time.Millisecond) // crosses windows too
			l.Allow(ctx, keys[i%len(keys)], p)
			i++
		})
		if got != 0 {
			t.Errorf("algorithm %d: %v allocs per decision on an existing key, want 0", p.Algorithm, got)
		}
	}
}

// TestKeyCopied: the limiter keeps a copy of the key, not the caller's memory.
func TestKeyCopied(t *testing.T) {
	l, _ := newTestCore("n")
	buf := []byte("tier:user:alice")
	key := unsafe.String(&buf[0], len(buf))
	p := sliding
	p.Limit = 2
	allow(t, l, key, p)
	copy(buf, "tier:user:bobby")
	if d := allow(t, l, "tier:user:alice", p); !d.Allowed || d.Remaining != 0 {
		t.Errorf("alice's second request: %+v, want admitted with Remaining 0", d)
	}
	if d := allow(t, l, "tier:user:bobby", p); !d.Allowed || d.Remaining != 1 {
		t.Errorf("bobby's first request: %+v, want a fresh key", d)
	}
}

// TestIdleKeysCollected: records idle for more than two windows are dropped
// (by a full sweep and by the sync rounds' incremental sweep); live keys and
// their counts stay.
func TestIdleKeysCollected(t *testing.T) {
	for _, p := range []pipeline.Policy{sliding, gcra} {
		l, c := newTestCore("n")
		const old = 20000
		for i := range old {
			allow(t, l, fmt.Sprint("old", i), p)
		}
		c.Advance(2 * p.Window)
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
		if d := allow(t, l, "live", p); !d.Allowed || d.Remaining != 8 {
			t.Errorf("live key lost its count: %+v", d)
		}

		// Incremental: the sync rounds' sweep alone reclaims idle keys.
		l2, c2 := newTestCore("n")
		for i := range 5000 {
			allow(t, l2, fmt.Sprint("r", i), p)
		}
		c2.Advance(2*p.Window + 1)
		for range 5000/syncSweep + 200 { // enough rounds for a full pass over every shard
			l2.buildDeltas(c2.Now().UnixNano(), true, true)
		}
		if n := l2.keys(); n != 0 {
			t.Errorf("incremental sweep left %d idle keys", n)
		}
	}
}

// TestMetrics: the metrics register, pass promlint, count what they say, and
// are unregistered by Close.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := limitertest.NewClock(limitertest.Epoch)
	l, err := newNode(engines.LimiterOptions{Now: c.Now, Registerer: reg}, Settings{Bind: "127.0.0.1:0", ExpectedNodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	allow(t, l, "k", sliding) // alone with ExpectedNodes 2: partitioned, scaled
	cur := floorDiv(c.Now().UnixNano(), int64(sliding.Window))
	l.handleMsg(deltaMsg("peer", "k", sliding, cur-5, 3))

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
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, lp := range m.GetLabel() {
				name += "/" + lp.GetValue()
			}
			switch {
			case m.Gauge != nil:
				got[name] = m.GetGauge().GetValue()
			case m.Counter != nil:
				got[name] = m.GetCounter().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"gatelab_crdt_peers":                                 0,
		"gatelab_crdt_cluster_size":                          2,
		"gatelab_crdt_merges_rejected_total/out_of_window":   1,
		"gatelab_crdt_merges_rejected_total/config_mismatch": 0,
		"gatelab_crdt_partitioned_decisions_total/scale":     1,
		"gatelab_crdt_messages_malformed_total":              0,
		"gatelab_crdt_delta_bytes_total":                     0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if _, ok := got["gatelab_crdt_sync_lag_seconds"]; !ok {
		t.Error("gatelab_crdt_sync_lag_seconds missing")
	}
	l.Close()
	if mfs, _ := reg.Gather(); len(mfs) != 0 {
		t.Errorf("%d metric families left registered after Close", len(mfs))
	}
}

// TestPartitionModes: a node seeing fewer members than ExpectedNodes scales
// its limit (scale) or returns no decision (open, closed).
func TestPartitionModes(t *testing.T) {
	for _, mode := range []string{"", ModeScale, ModeOpen, ModeClosed} {
		l, err := newNode(engines.LimiterOptions{}, Settings{Bind: "127.0.0.1:0", ExpectedNodes: 4, PartitionMode: mode})
		if err != nil {
			t.Fatal(err)
		}
		p := sliding
		p.Limit = 100
		p.Window = time.Hour
		d, err := l.Allow(context.Background(), "k", p)
		switch mode {
		case "", ModeScale:
			if err != nil || d.Limit != 25 || d.Remaining != 24 {
				t.Errorf("scale, 1 of 4 visible: %+v, %v; want limit 25 (100 x 1/4)", d, err)
			}
		default:
			if !errors.Is(err, pipeline.ErrNoDecision) || d != (pipeline.LimitDecision{}) || !strings.Contains(err.Error(), mode) {
				t.Errorf("%s, 1 of 4 visible: %+v, %v; want no decision naming the mode", mode, d, err)
			}
		}
		if got := l.partitioned.Load(); got != 1 {
			t.Errorf("%s: partitioned decisions %d, want 1", mode, got)
		}
		l.Close()
	}
}
