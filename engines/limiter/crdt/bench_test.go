package crdt

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// The benchmarks use a limit high enough that every decision is an admission
// (every decision changes a counter, so every key is gossiped) and the real
// clock (time.Now is part of what a gateway pays).
var benchPolicies = []pipeline.Policy{
	{Name: "standard", Limit: 1 << 40, Window: time.Minute, Algorithm: pipeline.SlidingWindow},
	{Name: "standard", Limit: 1 << 40, Window: time.Minute, Algorithm: pipeline.GCRA},
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

// Key sets: with 1k keys most decisions hit a key already changed since the
// last round (the delta stays 1k entries per round); with 10k keys nearly
// every decision is a new entry to replicate, so the two other nodes'
// merges and the transport, which share this host's cores, weigh on every
// decision.
var keySets = []struct {
	name string
	keys []string
}{
	{"keys_1k", benchKeys(1_000)},
	{"keys_10k", benchKeys(10_000)},
}

// benchNodes starts n nodes; the benchmark drives the first.
func benchNodes(b *testing.B, n int) []*Limiter {
	b.Helper()
	return newCluster(b, n, nil, Settings{})
}

func runSerial(b *testing.B, l *Limiter, p pipeline.Policy, keys []string) {
	ctx := context.Background()
	for _, k := range keys {
		l.Allow(ctx, k, p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		l.Allow(ctx, keys[i], p)
		if i++; i == len(keys) {
			i = 0
		}
	}
}

func runParallel(b *testing.B, l *Limiter, p pipeline.Policy, keys []string) {
	ctx := context.Background()
	for _, k := range keys {
		l.Allow(ctx, k, p)
	}
	var offset atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(offset.Add(7919)) % len(keys)
		for pb.Next() {
			l.Allow(ctx, keys[i], p)
			if i++; i == len(keys) {
				i = 0
			}
		}
	})
}

// BenchmarkAllowLocal: one node, no peers (the sync loop runs but has nobody
// to send to).
func BenchmarkAllowLocal(b *testing.B) {
	for _, p := range benchPolicies {
		for _, ks := range keySets {
			b.Run(algoName(p)+"/"+ks.name, func(b *testing.B) {
				runSerial(b, benchNodes(b, 1)[0], p, ks.keys)
			})
		}
	}
}

// BenchmarkAllowWithGossip: three nodes in this process; the benchmark drives
// one of them while its deltas (every key changed since the last round) go
// to the two others every 25 ms and they merge them. B/op counts the whole
// process (the transport's receive buffers), allocs/op rounds that down: the
// decision itself allocates nothing (TestAllocs).
func BenchmarkAllowWithGossip(b *testing.B) {
	for _, p := range benchPolicies {
		for _, ks := range keySets {
			b.Run(algoName(p)+"/"+ks.name, func(b *testing.B) {
				runSerial(b, benchNodes(b, 3)[0], p, ks.keys)
			})
		}
	}
}

// BenchmarkAllowWithGossipParallel: as above with GOMAXPROCS goroutines
// deciding on the same node, plus every goroutine on one key (one shard
// mutex).
func BenchmarkAllowWithGossipParallel(b *testing.B) {
	for _, p := range benchPolicies {
		for _, ks := range append(keySets[:len(keySets):len(keySets)], struct {
			name string
			keys []string
		}{"same_key", []string{"global:all"}}) {
			b.Run(algoName(p)+"/"+ks.name, func(b *testing.B) {
				runParallel(b, benchNodes(b, 3)[0], p, ks.keys)
			})
		}
	}
}
