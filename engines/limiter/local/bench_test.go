package local

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// The benchmarks use a limit high enough that every decision is an admission:
// the steady state of a gateway that is not under attack. Each runs with two
// clocks: time_now (the default, what a gateway pays) and fixed_clock (a clock
// costing nothing, which isolates the engine's own work: on virtual machines
// with kvm-clock, time.Now alone can cost more than the rest of a decision).
var benchPolicies = []pipeline.Policy{
	{Name: "standard", Limit: 1 << 40, Window: time.Minute, Algorithm: pipeline.SlidingWindow},
	{Name: "standard", Limit: 1 << 40, Window: time.Minute, Algorithm: pipeline.GCRA},
}

var benchClocks = []struct {
	name string
	now  func() time.Time
}{
	{"time_now", nil},
	{"fixed_clock", func() time.Time { return benchEpoch }},
}

var benchEpoch = time.Now()

// forEach runs body for every policy and clock.
func forEach(b *testing.B, body func(b *testing.B, p pipeline.Policy, opts engines.LimiterOptions)) {
	for _, p := range benchPolicies {
		for _, c := range benchClocks {
			b.Run(algoName(p)+"/"+c.name, func(b *testing.B) {
				body(b, p, engines.LimiterOptions{Now: c.now})
			})
		}
	}
}

func algoName(p pipeline.Policy) string {
	if p.Algorithm == pipeline.GCRA {
		return "gcra"
	}
	return "sliding_window"
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("standard:user:%08d", i)
	}
	return keys
}

func BenchmarkAllowSameKey(b *testing.B) {
	forEach(b, func(b *testing.B, p pipeline.Policy, opts engines.LimiterOptions) {
		l := newLimiter(opts)
		ctx := context.Background()
		key := "standard:user:00000042"
		l.Allow(ctx, key, p)
		b.ReportAllocs()
		for b.Loop() {
			l.Allow(ctx, key, p)
		}
	})
}

func BenchmarkAllowManyKeys(b *testing.B) {
	const n = 100_000
	keys := benchKeys(n)
	forEach(b, func(b *testing.B, p pipeline.Policy, opts engines.LimiterOptions) {
		l := newLimiter(opts)
		ctx := context.Background()
		for _, k := range keys {
			l.Allow(ctx, k, p)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.Allow(ctx, keys[i], p)
			if i++; i == n {
				i = 0
			}
		}
	})
}

func BenchmarkAllowParallel(b *testing.B) {
	const n = 100_000
	keys := benchKeys(n)
	forEach(b, func(b *testing.B, p pipeline.Policy, opts engines.LimiterOptions) {
		// Many keys: every goroutine walks the key set from its own offset.
		b.Run("many_keys", func(b *testing.B) {
			l := newLimiter(opts)
			ctx := context.Background()
			for _, k := range keys {
				l.Allow(ctx, k, p)
			}
			var offset atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(offset.Add(7919)) % n
				for pb.Next() {
					l.Allow(ctx, keys[i], p)
					if i++; i == n {
						i = 0
					}
				}
			})
		})
		// One key: worst-case contention on a single shard mutex.
		b.Run("same_key", func(b *testing.B) {
			l := newLimiter(opts)
			ctx := context.Background()
			key := "global:all"
			l.Allow(ctx, key, p)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l.Allow(ctx, key, p)
				}
			})
		})
	})
}

// BenchmarkAllowNewKeys measures inserting keys (one key copy each) with the
// amortised sweep reclaiming the keys that went idle: the clock moves 1ms per
// decision, so about 120k keys (two one-minute windows) are live at a time
// and every key comes back long after it was dropped.
func BenchmarkAllowNewKeys(b *testing.B) {
	keys := benchKeys(1 << 20)
	for _, p := range benchPolicies {
		b.Run(algoName(p), func(b *testing.B) {
			var now atomic.Int64
			now.Store(time.Now().UnixNano())
			clock := func() time.Time { return time.Unix(0, now.Add(int64(time.Millisecond))) }
			l := newLimiter(engines.LimiterOptions{Now: clock})
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				l.Allow(ctx, keys[i&(len(keys)-1)], p)
				i++
			}
		})
	}
}
