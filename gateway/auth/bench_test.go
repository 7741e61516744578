package auth

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

// benchVerifier verifies against the fixture JWKS on the real clock.
func benchVerifier(b *testing.B, cache bool) *JWTVerifier {
	b.Helper()
	cfg := fileConfig()
	cfg.Cache.Enabled = cache
	v, err := NewJWTVerifier(cfg, fixtureDir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	return v
}

func benchToken(b *testing.B, keyFile string) string {
	b.Helper()
	return mint(b, &fakeClock{t: time.Now()}, func(o *MintOptions) {
		o.KeyFile = fixture(keyFile)
		o.TTL = time.Hour
	})
}

func benchVerify(b *testing.B, keyFile string, cache bool) {
	v := benchVerifier(b, cache)
	tok := benchToken(b, keyFile)
	if _, err := v.Verify(tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B)       { benchVerify(b, "rsa.pem", false) }
func BenchmarkVerifyRS256Cached(b *testing.B) { benchVerify(b, "rsa.pem", true) }
func BenchmarkVerifyES256(b *testing.B)       { benchVerify(b, "ec.pem", false) }
func BenchmarkVerifyEdDSA(b *testing.B)       { benchVerify(b, "ed25519.pem", false) }

// BenchmarkVerifyRS256CachedParallel shows the cache's lock sharding under
// concurrent hits on many distinct tokens.
func BenchmarkVerifyRS256CachedParallel(b *testing.B) {
	v := benchVerifier(b, true)
	toks := make([]string, 64)
	for i := range toks {
		toks[i] = mint(b, &fakeClock{t: time.Now()}, func(o *MintOptions) {
			o.TTL = time.Hour
			o.Subject = fmt.Sprintf("user-%d", i)
		})
		if _, err := v.Verify(toks[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := v.Verify(toks[i%len(toks)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkAPIKeyLookup(b *testing.B) {
	keys := make([]config.APIKey, 1000)
	raws := make([]string, len(keys))
	for i := range keys {
		raws[i] = fmt.Sprintf("gl_test_%040d", i) // a 48-byte key
		keys[i] = config.APIKey{ID: fmt.Sprintf("key-%d", i), SHA256: HashAPIKey(raws[i]), PartnerID: "p", Scopes: []string{"a", "b"}}
	}
	s, err := NewKeyStore(keys, nil)
	if err != nil {
		b.Fatal(err)
	}
	raw := raws[500]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Lookup(raw); err != nil {
			b.Fatal(err)
		}
	}
}
