package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

func cachedConfig(maxEntries int, skew *time.Duration) func(*config.JWT) {
	return func(c *config.JWT) {
		c.Cache = config.JWTCache{Enabled: true, MaxEntries: maxEntries}
		c.ClockSkew = skew
	}
}

func TestCacheHitDoesNotAllocate(t *testing.T) {
	clk := newClock()
	v := newFileVerifier(t, clk, cachedConfig(0, nil))
	header := "Bearer " + mint(t, clk, nil)
	first, err := v.Verify(header[len("Bearer "):])
	if err != nil {
		t.Fatal(err)
	}
	if n := v.Stats().CacheEntries; n != 1 {
		t.Fatalf("cache holds %d entries, want 1", n)
	}
	var got Identity
	allocs := testing.AllocsPerRun(1000, func() {
		tok, _ := BearerToken(header)
		got, err = v.Verify(tok)
	})
	if err != nil || got.Subject != first.Subject || got.ScopesHeader != first.ScopesHeader {
		t.Fatalf("cached Verify = %+v, %v", got, err)
	}
	if allocs != 0 {
		t.Errorf("cache hit allocates %v times per call, want 0", allocs)
	}
}

func TestCacheIsKeyedByTokenHash(t *testing.T) {
	clk := newClock()
	v := newFileVerifier(t, clk, cachedConfig(0, nil))
	tok := mint(t, clk, nil)
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(tok))
	if _, ok := v.cache.shard(&h).m[h]; !ok {
		t.Fatal("no entry under sha256(token)")
	}
}

func TestCacheNeverServesExpired(t *testing.T) {
	zero := time.Duration(0)
	t.Run("skew 0: expired at exp", func(t *testing.T) {
		clk := newClock()
		v := newFileVerifier(t, clk, cachedConfig(0, &zero))
		tok := mint(t, clk, func(o *MintOptions) { o.TTL = time.Minute })
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute - time.Second)
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("1s before exp: %v", err)
		}
		clk.Advance(time.Second) // now == exp
		_, err := v.Verify(tok)
		wantReason(t, err, ReasonExpired)
		if n := v.Stats().CacheEntries; n != 0 {
			t.Errorf("expired entry still held (%d entries)", n)
		}
	})
	t.Run("skew does not extend cache life", func(t *testing.T) {
		clk := newClock()
		v := newFileVerifier(t, clk, cachedConfig(0, nil))
		tok := mint(t, clk, func(o *MintOptions) { o.TTL = time.Minute })
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte(tok))
		gen := v.keys.Load().gen
		clk.Advance(time.Minute)
		if _, ok := v.cache.get(&h, clk.Now().UnixNano(), gen); ok {
			t.Fatal("cache served a token at its exp")
		}
		// Full verification still accepts it within the skew, but it is not
		// cached again.
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("within skew: %v", err)
		}
		if n := v.Stats().CacheEntries; n != 0 {
			t.Errorf("token past exp was cached (%d entries)", n)
		}
		clk.Advance(DefaultClockSkew)
		_, err := v.Verify(tok)
		wantReason(t, err, ReasonExpired)
	})
	t.Run("entries live at most CacheMaxTTL", func(t *testing.T) {
		clk := newClock()
		v := newFileVerifier(t, clk, cachedConfig(0, nil))
		tok := mint(t, clk, func(o *MintOptions) { o.TTL = time.Hour })
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte(tok))
		gen := v.keys.Load().gen
		if _, ok := v.cache.get(&h, clk.Now().Add(CacheMaxTTL-time.Nanosecond).UnixNano(), gen); !ok {
			t.Fatal("entry not served within CacheMaxTTL")
		}
		if _, ok := v.cache.get(&h, clk.Now().Add(CacheMaxTTL).UnixNano(), gen); ok {
			t.Fatal("entry served after CacheMaxTTL")
		}
	})
}

func TestCacheDoesNotCacheRejections(t *testing.T) {
	clk := newClock()
	v := newFileVerifier(t, clk, cachedConfig(0, nil))
	bad := mint(t, clk, func(o *MintOptions) { o.Issuer = "https://evil.test" })
	for range 2 {
		_, err := v.Verify(bad)
		wantReason(t, err, ReasonBadIssuer)
	}
	if n := v.Stats().CacheEntries; n != 0 {
		t.Errorf("rejected token cached (%d entries)", n)
	}
}

func TestCacheIsBounded(t *testing.T) {
	randHash := func() [32]byte {
		var h [32]byte
		rand.Read(h[:])
		return h
	}
	for _, max := range []int{1, 8, 100, 1000, 4096, DefaultCacheMaxEntries} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			c := newTokenCache(max)
			if got := len(c.shards) * c.perShard; got > max || got < max/2 {
				t.Fatalf("%d shards × %d = %d slots for max %d", len(c.shards), c.perShard, got, max)
			}
			now := t0.UnixNano()
			until := t0.Add(time.Minute).UnixNano()
			var last [32]byte
			for i := range 3 * max {
				last = randHash()
				c.put(&last, Identity{Subject: "s"}, until, 0, now)
				if i%64 == 0 || i == 3*max-1 {
					if n := c.len(); n > max {
						t.Fatalf("cache grew to %d entries, max %d", n, max)
					}
				}
			}
			if _, ok := c.get(&last, now, 0); !ok {
				t.Error("the newest entry was evicted to make room for itself")
			}
		})
	}
	t.Run("expired entries make room first", func(t *testing.T) {
		c := newTokenCache(evictSample)
		now := t0.UnixNano()
		old := randHash()
		c.put(&old, Identity{}, now-1, 0, now) // already expired
		live := make([][32]byte, evictSample-1)
		for i := range live {
			live[i] = randHash()
			c.put(&live[i], Identity{}, now+int64(time.Minute), 0, now)
		}
		fresh := randHash()
		c.put(&fresh, Identity{}, now+int64(time.Minute), 0, now)
		for i := range live {
			if _, ok := c.get(&live[i], now, 0); !ok {
				t.Fatalf("live entry %d evicted while an expired one was there", i)
			}
		}
	})
}

func TestCacheBoundedEndToEnd(t *testing.T) {
	clk := newClock()
	v := newFileVerifier(t, clk, cachedConfig(4, nil))
	for i := range 20 {
		tok := mint(t, clk, func(o *MintOptions) {
			o.KeyFile = fixture("ed25519.pem")
			o.Subject = fmt.Sprintf("user-%d", i)
		})
		id, err := v.Verify(tok)
		if err != nil || id.Subject != fmt.Sprintf("user-%d", i) {
			t.Fatalf("Verify #%d = %+v, %v", i, id, err)
		}
	}
	if n := v.Stats().CacheEntries; n > 4 || n == 0 {
		t.Errorf("cache holds %d entries, want 1..4", n)
	}
}
