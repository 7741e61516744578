package auth

import (
	"encoding/binary"
	"sync"
)

// tokenCache remembers verified tokens by the SHA-256 of the token. It is a
// fixed number of shards, each a map under a read-write lock holding at most
// perShard entries; when a shard is full an expired entry, or failing that a
// random one (Go randomises where map iteration starts), makes room. The
// total never exceeds the configured maximum.
type tokenCache struct {
	shards   []cacheShard
	mask     uint32
	perShard int
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]cacheEntry
	_  [32]byte // keep hot shards on separate cache lines
}

type cacheEntry struct {
	id    Identity
	until int64  // unix nanos; served only while now < until
	gen   uint64 // key-set generation the token was verified under
}

// evictSample is how many entries a full shard looks at for an expired one
// before evicting an arbitrary one.
const evictSample = 8

func newTokenCache(maxEntries int) *tokenCache {
	if maxEntries < 1 {
		maxEntries = 1
	}
	// Up to 16 shards, keeping at least 64 entries per shard so that small
	// caches are not split into uselessly small pieces.
	n := 1
	for n < 16 && maxEntries/(n*2) >= 64 {
		n *= 2
	}
	c := &tokenCache{
		shards:   make([]cacheShard, n),
		mask:     uint32(n - 1),
		perShard: maxEntries / n,
	}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(h *[32]byte) *cacheShard {
	return &c.shards[binary.LittleEndian.Uint32(h[:4])&c.mask]
}

// get returns the identity cached under h if the entry is still valid at now
// and was verified under key-set generation gen. It does not allocate.
func (c *tokenCache) get(h *[32]byte, now int64, gen uint64) (Identity, bool) {
	s := c.shard(h)
	s.mu.RLock()
	e, ok := s.m[*h]
	s.mu.RUnlock()
	if !ok {
		return Identity{}, false
	}
	if now < e.until && e.gen == gen {
		return e.id, true
	}
	s.mu.Lock()
	if cur, ok := s.m[*h]; ok && cur.until == e.until && cur.gen == e.gen {
		delete(s.m, *h)
	}
	s.mu.Unlock()
	return Identity{}, false
}

// put stores id under h until the given time.
func (c *tokenCache) put(h *[32]byte, id Identity, until int64, gen uint64, now int64) {
	s := c.shard(h)
	s.mu.Lock()
	if _, exists := s.m[*h]; !exists && len(s.m) >= c.perShard {
		s.evictOne(now)
	}
	s.m[*h] = cacheEntry{id: id, until: until, gen: gen}
	s.mu.Unlock()
}

// evictOne removes one entry; s.mu must be held for writing.
func (s *cacheShard) evictOne(now int64) {
	var victim [32]byte
	n := 0
	for k, e := range s.m {
		if e.until <= now {
			delete(s.m, k)
			return
		}
		if n == 0 {
			victim = k
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(s.m, victim)
}

// len counts the entries (for stats and tests).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
