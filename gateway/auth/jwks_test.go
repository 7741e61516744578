package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	ed := newEdKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	good := jwk(ed, "good")
	entries := []any{
		good,
		jose.JSONWebKey{Key: []byte("0123456789abcdef"), KeyID: "oct", Algorithm: "HS256"},
		jose.JSONWebKey{Key: p384.Public(), KeyID: "p384"},
		jose.JSONWebKey{Key: small.Public(), KeyID: "rsa1024"},
		jose.JSONWebKey{Key: ed.Public(), KeyID: "enc", Use: "enc"},
		jose.JSONWebKey{Key: ed.Public(), KeyID: "wrongalg", Algorithm: "RS256"},
		jose.JSONWebKey{Key: ed.Public()},                         // no kid
		jose.JSONWebKey{Key: ed, KeyID: "private"},                // private material
		jose.JSONWebKey{Key: newEdKey(t).Public(), KeyID: "good"}, // repeated kid
		map[string]string{"kty": "XYZ", "kid": "weird"},           // unknown key type
	}
	doc, err := json.Marshal(map[string]any{"keys": entries})
	if err != nil {
		t.Fatal(err)
	}
	keys, skipped, err := parseJWKS(doc)
	if err != nil {
		t.Fatalf("parseJWKS: %v", err)
	}
	if len(keys) != 1 || keys["good"] == nil || keys["good"].alg != AlgEdDSA {
		t.Fatalf("keys = %v, want only \"good\"", keys)
	}
	if !sameKey(keys["good"], &verifyKey{alg: AlgEdDSA, pub: ed.Public()}) {
		t.Error("repeated kid replaced the first key")
	}
	if len(skipped) != len(entries)-1 {
		t.Errorf("skipped %d entries, want %d: %q", len(skipped), len(entries)-1, skipped)
	}
	for _, want := range []string{"symmetric", "P-384", "2048", `use "enc"`, `alg "RS256"`, "no kid", "private", "repeated", "#9"} {
		if !strings.Contains(strings.Join(skipped, "\n"), want) {
			t.Errorf("no skip note mentions %q: %q", want, skipped)
		}
	}

	if _, _, err := parseJWKS([]byte("{")); err == nil {
		t.Error("truncated JSON accepted")
	}
}

func TestFixtureJWKS(t *testing.T) {
	v := newFileVerifier(t, newClock(), nil)
	ks := v.keys.Load()
	want := map[string]string{FixtureKidRSA: AlgRS256, FixtureKidEC: AlgES256, FixtureKidEd25519: AlgEdDSA}
	if len(ks.keys) != len(want) {
		t.Fatalf("fixture JWKS has %d keys, want %d", len(ks.keys), len(want))
	}
	for kid, alg := range want {
		if k := ks.keys[kid]; k == nil || k.alg != alg {
			t.Errorf("kid %s: %+v, want alg %s", kid, k, alg)
		}
	}
	if s := v.Stats(); s.Keys != 3 || s.Refreshes != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestJWKSURLRotation(t *testing.T) {
	clk := newClock()
	keyA, keyB := newEdKey(t), newEdKey(t)
	srv := newJWKSServer(t, jwk(keyA, "a"))
	v := newURLVerifier(t, clk, urlConfig(srv.URL))
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("construction fetched %d times, want 1", got)
	}
	tokA := mint(t, clk, func(o *MintOptions) { o.Key = keyA; o.Kid = "a" })
	if _, err := v.Verify(tokA); err != nil {
		t.Fatalf("token of key a: %v", err)
	}

	// The issuer rotates: key b appears on the server.
	srv.setKeys(t, jwk(keyA, "a"), jwk(keyB, "b"))
	tokB := mint(t, clk, func(o *MintOptions) { o.Key = keyB; o.Kid = "b" })

	// Within the cooldown of the construction fetch, no new fetch happens.
	_, err := v.Verify(tokB)
	wantReason(t, err, ReasonUnknownKid)
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("unknown kid within cooldown fetched: %d hits, want 1", got)
	}

	clk.Advance(RefreshCooldown)
	id, err := v.Verify(tokB)
	if err != nil {
		t.Fatalf("token of rotated-in key b: %v", err)
	}
	if id.Subject != "alice" {
		t.Errorf("subject = %q", id.Subject)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("hits = %d, want 2 (one unknown-kid refresh)", got)
	}
	// Known kids never cause a fetch.
	for range 10 {
		if _, err := v.Verify(tokA); err != nil {
			t.Fatalf("token of key a after rotation: %v", err)
		}
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("hits = %d after known-kid verifications, want 2", got)
	}
	if s := v.Stats(); s.Keys != 2 || s.Refreshes != 2 || s.RefreshFailures != 0 || !s.LastRefresh.Equal(clk.Now()) {
		t.Errorf("stats = %+v", s)
	}
}

func TestJWKSServerDownKeepsKeys(t *testing.T) {
	clk := newClock()
	keyA := newEdKey(t)
	srv := newJWKSServer(t, jwk(keyA, "a"))
	v := newURLVerifier(t, clk, urlConfig(srv.URL))
	tokA := mint(t, clk, func(o *MintOptions) { o.Key = keyA; o.Kid = "a" })

	// The server answers errors, then garbage, then an empty set, then goes away:
	// none of it may cost the keys held.
	failures := []func(){
		func() { srv.setBody(http.StatusInternalServerError, []byte("oops")) },
		func() { srv.setBody(http.StatusOK, []byte("not json")) },
		func() { srv.setBody(http.StatusOK, []byte(`{"keys":[]}`)) },
		func() { srv.setBody(http.StatusOK, []byte(`{"keys":[{"kty":"oct","kid":"a","k":"c2VjcmV0"}]}`)) },
		func() { srv.Close() },
	}
	for i, fail := range failures {
		fail()
		if err := v.refresh(true); err == nil {
			t.Fatalf("failure %d: refresh succeeded", i)
		}
		if _, err := v.Verify(tokA); err != nil {
			t.Fatalf("failure %d: known key no longer works: %v", i, err)
		}
	}
	s := v.Stats()
	if s.RefreshFailures != uint64(len(failures)) || s.Keys != 1 || s.LastRefreshError == "" {
		t.Errorf("stats = %+v", s)
	}

	// An unknown kid now tries a refresh, which fails: still "unknown kid",
	// never "unavailable", because keys are held.
	clk.Advance(RefreshCooldown)
	tokX := mint(t, clk, func(o *MintOptions) { o.Key = newEdKey(t); o.Kid = "x" })
	_, err := v.Verify(tokX)
	wantReason(t, err, ReasonUnknownKid)
}

func TestJWKSRefreshFloodIsRateLimited(t *testing.T) {
	clk := newClock()
	keyA := newEdKey(t)
	srv := newJWKSServer(t, jwk(keyA, "a"))
	v := newURLVerifier(t, clk, urlConfig(srv.URL))

	const n = 200
	bogus := make([]string, n)
	for i := range bogus {
		bogus[i] = mint(t, clk, func(o *MintOptions) { o.Key = keyA; o.Kid = fmt.Sprintf("bogus-%d", i) })
	}
	flood := func() {
		var wg sync.WaitGroup
		for _, tok := range bogus {
			wg.Go(func() {
				if _, err := v.Verify(tok); !errors.Is(err, ErrInvalidToken) {
					t.Errorf("bogus kid: %v", err)
				}
			})
		}
		wg.Wait()
	}

	flood() // within the construction fetch's cooldown: no fetch at all
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("hits after first flood = %d, want 1", got)
	}
	clk.Advance(RefreshCooldown)
	flood() // one fetch for the whole flood
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("hits after second flood = %d, want 2", got)
	}
	clk.Advance(RefreshCooldown - time.Millisecond)
	flood()
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("hits after third flood (still in cooldown) = %d, want 2", got)
	}
	clk.Advance(time.Millisecond)
	flood()
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("hits after fourth flood = %d, want 3", got)
	}
}

// A fetch in flight is shared: callers arriving meanwhile wait for it rather
// than starting their own.
func TestJWKSRefreshSingleFlight(t *testing.T) {
	clk := newClock()
	keyA, keyB := newEdKey(t), newEdKey(t)
	srv := newJWKSServer(t, jwk(keyA, "a"))
	v := newURLVerifier(t, clk, urlConfig(srv.URL))

	// Hold the next fetch until released.
	release := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	srv.mu.Lock()
	srv.gate = func() {
		once.Do(func() { close(entered) })
		<-release
	}
	srv.mu.Unlock()
	srv.setKeys(t, jwk(keyA, "a"), jwk(keyB, "b"))
	clk.Advance(RefreshCooldown)
	tokB := mint(t, clk, func(o *MintOptions) { o.Key = keyB; o.Kid = "b" })

	const n = 50
	errs := make(chan error, n)
	go func() { _, err := v.Verify(tokB); errs <- err }()
	<-entered // the first caller's fetch is in flight
	for range n - 1 {
		go func() { _, err := v.Verify(tokB); errs <- err }()
	}
	// Whatever order the others run in, each either finds the fetch in flight
	// and waits for it, or finds it done and kid b known: never a second
	// fetch, never a failure.
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("hits = %d, want 2", got)
	}
}

func TestKeyStoreEmptyIsUnavailable(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			clk := newClock()
			keyA := newEdKey(t)
			srv := newJWKSServer(t)
			srv.setBody(http.StatusServiceUnavailable, nil)
			cfg := urlConfig(srv.URL)
			cfg.Cache.Enabled = cached
			v := newURLVerifier(t, clk, cfg)
			tok := mint(t, clk, func(o *MintOptions) { o.Key = keyA; o.Kid = "a" })

			for _, tk := range []string{tok, "garbage", tok} {
				_, err := v.Verify(tk)
				if !errors.Is(err, ErrKeyStoreUnavailable) || errors.Is(err, ErrInvalidToken) {
					t.Fatalf("Verify(%.10q) with no keys = %v, want ErrKeyStoreUnavailable", tk, err)
				}
				if Code(err) != CodeAuthUnavailable || HTTPStatus(err) != 503 {
					t.Fatalf("code %q status %d", Code(err), HTTPStatus(err))
				}
			}
			if got := srv.hits.Load(); got != 1 {
				t.Fatalf("hits = %d within cooldown, want 1", got)
			}

			// The issuer comes back; after the cooldown a request loads keys.
			srv.setKeys(t, jwk(keyA, "a"))
			clk.Advance(RefreshCooldown)
			if _, err := v.Verify(tok); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
			if got := srv.hits.Load(); got != 2 {
				t.Errorf("hits = %d, want 2", got)
			}
		})
	}
}

func TestFileAndURLKeysTogether(t *testing.T) {
	clk := newClock()
	keyU := newEdKey(t)
	// The URL also offers a different key under a fixture kid: the file wins.
	srv := newJWKSServer(t, jwk(keyU, "url-key"), jwk(newEdKey(t), FixtureKidEd25519))
	cfg := fileConfig()
	cfg.JWKSURL = srv.URL
	v, err := NewJWTVerifier(cfg, fixtureDir, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, tok := range []string{
		mint(t, clk, nil),
		mint(t, clk, func(o *MintOptions) { o.KeyFile = fixture("ed25519.pem") }),
		mint(t, clk, func(o *MintOptions) { o.Key = keyU; o.Kid = "url-key" }),
	} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	// File keys survive the URL failing.
	srv.Close()
	if err := v.refresh(true); err == nil {
		t.Fatal("refresh against a closed server succeeded")
	}
	if _, err := v.Verify(mint(t, clk, nil)); err != nil {
		t.Errorf("file key after URL failure: %v", err)
	}
}

// A key removed or replaced on the server stops verifying, and tokens it
// signed are no longer served from the cache.
func TestJWKSKeyRemovalInvalidatesCache(t *testing.T) {
	clk := newClock()
	keyA, keyB := newEdKey(t), newEdKey(t)
	srv := newJWKSServer(t, jwk(keyA, "a"), jwk(keyB, "b"))
	cfg := urlConfig(srv.URL)
	cfg.Cache.Enabled = true
	v := newURLVerifier(t, clk, cfg)
	tokA := mint(t, clk, func(o *MintOptions) { o.Key = keyA; o.Kid = "a" })
	tokB := mint(t, clk, func(o *MintOptions) { o.Key = keyB; o.Kid = "b" })
	for _, tok := range []string{tokA, tokB} {
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	// Adding a key keeps the cache.
	srv.setKeys(t, jwk(keyA, "a"), jwk(keyB, "b"), jwk(newEdKey(t), "c"))
	if err := v.refresh(true); err != nil {
		t.Fatal(err)
	}
	if gen := v.keys.Load().gen; gen != 0 {
		t.Errorf("adding a key moved the generation to %d", gen)
	}
	// Removing a key retires every cached entry.
	srv.setKeys(t, jwk(keyB, "b"))
	if err := v.refresh(true); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(tokA)
	wantReason(t, err, ReasonUnknownKid)
	if _, err := v.Verify(tokB); err != nil {
		t.Errorf("token of the kept key: %v", err)
	}
	// Replacing a key under the same kid also retires it.
	srv.setKeys(t, jwk(newEdKey(t), "b"))
	if err := v.refresh(true); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(tokB)
	wantReason(t, err, ReasonBadSignature)
}

func TestBackgroundRefreshAndClose(t *testing.T) {
	keyA := newEdKey(t)
	srv := newJWKSServer(t, jwk(keyA, "a"))
	hits := make(chan struct{}, 16)
	srv.mu.Lock()
	srv.hitCh = hits
	srv.mu.Unlock()
	cfg := urlConfig(srv.URL)
	cfg.RefreshInterval = time.Millisecond
	v, err := NewJWTVerifier(cfg, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The construction fetch plus two background ones.
	for i := range 3 {
		select {
		case <-hits:
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d fetches seen", i)
		}
	}
	v.Close()
	v.Close() // idempotent
	select {
	case <-v.loopDone:
	default:
		t.Fatal("background loop still running after Close")
	}
	// Verify still works on the keys held.
	tok := mint(t, &fakeClock{t: time.Now()}, func(o *MintOptions) { o.Key = keyA; o.Kid = "a" })
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify after Close: %v", err)
	}
}

func TestJWKSURLConfigHonoured(t *testing.T) {
	clk := newClock()
	keyA := newEdKey(t)
	srv := newJWKSServer(t, jwk(keyA, "a"))
	cfg := urlConfig(srv.URL)
	cfg.Issuers = []string{"https://other.test"}
	v := newURLVerifier(t, clk, cfg)
	_, err := v.Verify(mint(t, clk, func(o *MintOptions) { o.Key = keyA; o.Kid = "a" }))
	wantReason(t, err, ReasonBadIssuer)
}
