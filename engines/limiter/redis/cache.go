package redis

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// OverLimitCacheSize bounds the over-limit cache (entries across all shards).
const OverLimitCacheSize = 1 << 16

const cacheShards = 64

// overLimitCache remembers keys Redis rejected until the instant Redis said
// they are admitted again.
type overLimitCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.Mutex
	m  map[string]cacheEntry
}

// cacheEntry is a rejection learned under one policy shape.
type cacheEntry struct {
	until  time.Time // local clock (monotonic) instant of the next admission
	limit  int64
	window time.Duration
	algo   pipeline.LimitAlgorithm
}

func newOverLimitCache() *overLimitCache {
	c := &overLimitCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]cacheEntry)
	}
	return c
}

func (c *overLimitCache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%cacheShards]
}

// get answers a rejection for key if Redis rejected it under the same policy
// shape and its retry time has not come yet.
func (c *overLimitCache) get(key string, p pipeline.Policy, now time.Time) (pipeline.LimitDecision, bool) {
	sh := c.shard(key)
	sh.mu.Lock()
	e, ok := sh.m[key]
	if ok && !now.Before(e.until) {
		delete(sh.m, key)
		ok = false
	}
	sh.mu.Unlock()
	if !ok || e.limit != p.Limit || e.window != p.Window || e.algo != p.Algorithm {
		return pipeline.LimitDecision{}, false
	}
	wait := e.until.Sub(now)
	return pipeline.LimitDecision{
		Limit:      p.Limit,
		Reset:      now.Add(wait).Round(0),
		RetryAfter: wait,
	}, true
}

// put records that key is rejected until until. key is copied.
func (c *overLimitCache) put(key string, p pipeline.Policy, until time.Time) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[key]; !ok && len(sh.m) >= OverLimitCacheSize/cacheShards {
		// Full: drop the expired entries met first, else an arbitrary one.
		now := time.Now()
		evicted := false
		n := 0
		for k, e := range sh.m {
			if !now.Before(e.until) {
				delete(sh.m, k)
				evicted = true
			}
			if n++; n == 8 {
				break
			}
		}
		if !evicted {
			for k := range sh.m {
				delete(sh.m, k)
				break
			}
		}
	}
	sh.m[strings.Clone(key)] = cacheEntry{until: until, limit: p.Limit, window: p.Window, algo: p.Algorithm}
}

// len returns the number of entries (tests).
func (c *overLimitCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
