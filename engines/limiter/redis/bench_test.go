package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/pipeline"
	"github.com/gatelab/gatelab/internal/redistest"
)

// The benchmarks decide against a real Redis on loopback with a limit high
// enough that every decision is an admission (the steady state). Each
// decision is one EVALSHA round trip; decisions/s is the throughput seen by
// the benchmark's goroutines.

var benchPolicies = []pipeline.Policy{
	{Name: "standard", Limit: 1 << 40, Window: time.Minute, Algorithm: pipeline.SlidingWindow},
	{Name: "standard", Limit: 1 << 40, Window: time.Minute, Algorithm: pipeline.GCRA},
}

func benchName(p pipeline.Policy) string {
	if p.Algorithm == pipeline.GCRA {
		return "gcra"
	}
	return "sliding_window"
}

// report adds decisions/s and errors/op. A decision that fails (a timeout on
// a loaded machine) is counted, not fatal, unless more than 1% fail.
func report(b *testing.B, errs int64, first *atomic.Value) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	b.ReportMetric(float64(errs)/float64(b.N), "errors/op")
	if errs*100 > int64(b.N) {
		b.Fatalf("%d of %d decisions failed, first: %v", errs, b.N, first.Load())
	}
}

// BenchmarkAllow: one goroutine, one key: the latency of a round trip.
func BenchmarkAllow(b *testing.B) {
	r := redistest.Start(b)
	for _, p := range benchPolicies {
		b.Run(benchName(p), func(b *testing.B) {
			l := newTestLimiter(b, r.URL(), nil)
			ctx := context.Background()
			key := fmt.Sprintf("standard:user_id:bench-%d", time.Now().UnixNano())
			mustAllow(b, l, key, p)
			var errs int64
			var first atomic.Value
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Allow(ctx, key, p); err != nil {
					errs++
					first.CompareAndSwap(nil, err)
				}
			}
			report(b, errs, &first)
		})
	}
}

// BenchmarkAllowParallel: many goroutines (8 per GOMAXPROCS) over 10,000
// keys, sharing the engine's default connection pool.
func BenchmarkAllowParallel(b *testing.B) {
	r := redistest.Start(b)
	const n = 10_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("standard:user_id:%08d", i)
	}
	for _, p := range benchPolicies {
		b.Run(benchName(p), func(b *testing.B) {
			l := newTestLimiter(b, r.URL(), nil)
			ctx := context.Background()
			var offset, errs atomic.Int64
			var first atomic.Value
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(offset.Add(7919)) % n
				for pb.Next() {
					if _, err := l.Allow(ctx, keys[i], p); err != nil {
						errs.Add(1)
						first.CompareAndSwap(nil, err)
					}
					if i++; i == n {
						i = 0
					}
				}
			})
			b.StopTimer()
			report(b, errs.Load(), &first)
		})
	}
}
